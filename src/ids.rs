//! Random identifiers: uuid4 strings for request ids and message tracking ids.

/// A random (version 4) UUID in its canonical lower-case form.
pub fn uuid4() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // The OS RNG failing is not a reason to fail a request; ids only need to be unique,
        // so fall back to time and a process-wide counter.
        fallback_bytes(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn fallback_bytes(b: &mut [u8; 16]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    b[..8].copy_from_slice(&nanos.to_le_bytes());
    b[8..].copy_from_slice(&(n ^ u64::from(std::process::id())).to_le_bytes());
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid4_shape() {
        let a = super::uuid4();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(a, super::uuid4());
    }
}
