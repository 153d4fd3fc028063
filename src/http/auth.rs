//! Bearer-token checks, in constant time.

/// The `Authorization` value a request must carry, when one is required.
pub(crate) struct BearerAuth {
    /// `Bearer <token>`, built once.
    expected: Option<Vec<u8>>,
}

impl BearerAuth {
    /// Requires `Authorization: Bearer <token>` when `token` is set; allows everything when not.
    pub(crate) fn new(token: Option<&str>) -> BearerAuth {
        BearerAuth {
            expected: token.map(|t| format!("Bearer {t}").into_bytes()),
        }
    }

    /// Whether a request with this `Authorization` value (if any) may pass.
    pub(crate) fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match (&self.expected, authorization) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(expected), Some(value)) => constant_time_eq(value, expected),
        }
    }
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_allows_everything() {
        let open = BearerAuth::new(None);
        assert!(open.allows(None));
        assert!(open.allows(Some(b"Bearer anything")));
    }

    #[test]
    fn a_token_is_required_exactly() {
        let auth = BearerAuth::new(Some("s3cret"));
        assert!(auth.allows(Some(b"Bearer s3cret")));
        assert!(!auth.allows(None));
        assert!(!auth.allows(Some(b"")));
        assert!(!auth.allows(Some(b"Bearer s3cre")), "a prefix");
        assert!(!auth.allows(Some(b"Bearer s3cret2")), "longer");
        assert!(!auth.allows(Some(b"Bearer S3cret")), "case matters in the token");
        assert!(
            !auth.allows(Some(b"bearer s3cret")),
            "and in the scheme, as the SDK compares"
        );
        assert!(!auth.allows(Some(b"s3cret")));
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
