//! Trace and span ids. Trace ids are X-Ray compatible (the first 4 bytes are the epoch seconds,
//! big endian, as `AwsXRayIdGenerator` makes them): X-Ray and AgentCore Observability reject
//! others, and the remaining 12 random bytes keep them as unique as W3C asks.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{SpanId, TraceId};

/// A new trace id: epoch seconds, then 12 random bytes.
pub fn new_trace_id() -> TraceId {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&u32::try_from(secs).unwrap_or(u32::MAX).to_be_bytes());
    random(&mut id[4..]);
    TraceId(id)
}

/// A new span id: 8 random bytes, never all zero.
pub fn new_span_id() -> SpanId {
    let mut id = [0u8; 8];
    random(&mut id);
    if id == [0; 8] {
        id[7] = 1;
    }
    SpanId(id)
}

/// OS randomness drawn this many bytes at a time: one `getrandom` call serves about 20 ids
/// (an invocation makes five), where a call per id was a system call per span.
const POOL_BYTES: usize = 256;

struct Pool {
    bytes: [u8; POOL_BYTES],
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            bytes: [0; POOL_BYTES],
            used: POOL_BYTES,
        })
    };
}

/// Fills `buf` (at most [`POOL_BYTES`]) with OS randomness from this thread's pool, refilled
/// when it runs short; served bytes are never served again. Should the OS ever fail us, from a
/// counter mixed with the clock (SplitMix64), which is unique enough for ids though not
/// unpredictable.
fn random(buf: &mut [u8]) {
    let served = buf.len() <= POOL_BYTES
        && POOL
            .try_with(|pool| {
                let mut pool = pool.borrow_mut();
                if pool.used + buf.len() > POOL_BYTES {
                    if getrandom::fill(&mut pool.bytes).is_err() {
                        return false;
                    }
                    pool.used = 0;
                }
                let start = pool.used;
                buf.copy_from_slice(&pool.bytes[start..start + buf.len()]);
                pool.used += buf.len();
                true
            })
            .unwrap_or(false);
    if served {
        return;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    for chunk in buf.chunks_mut(8) {
        let mut z = nanos.wrapping_add(COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn trace_ids_start_with_the_epoch_seconds() {
        let before = crate::clock::unix_now();
        let id = new_trace_id();
        let after = crate::clock::unix_now();
        let secs = u64::from(u32::from_be_bytes([id.0[0], id.0[1], id.0[2], id.0[3]]));
        assert!(
            (before..=after).contains(&secs),
            "{secs} not in {before}..={after}"
        );
        assert_ne!(id.0[4..], [0u8; 12]);
    }

    #[test]
    fn ids_are_unique_and_valid() {
        let spans: HashSet<_> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(spans.len(), 10_000);
        assert!(!spans.contains(&SpanId([0; 8])));
        let traces: HashSet<_> = (0..10_000).map(|_| new_trace_id()).collect();
        assert_eq!(traces.len(), 10_000);
        let mut fallback = [0u8; 12];
        random(&mut fallback);
        assert_ne!(fallback, [0u8; 12]);
    }
}
