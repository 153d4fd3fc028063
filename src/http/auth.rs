//! Bearer-token checks, in constant time.

/// The `Authorization` value a request must carry, when one is required.
pub(crate) struct BearerAuth {
    /// The token, when one is required.
    expected: Option<Vec<u8>>,
}

impl BearerAuth {
    /// Requires `Authorization: Bearer <token>` when `token` is set; allows everything when not.
    pub(crate) fn new(token: Option<&str>) -> BearerAuth {
        BearerAuth {
            expected: token.map(|t| t.as_bytes().to_vec()),
        }
    }

    /// Whether a request with this `Authorization` value (if any) may pass.
    pub(crate) fn allows(&self, authorization: Option<&[u8]>) -> bool {
        match (&self.expected, authorization) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(expected), Some(value)) => {
                bearer_credentials(value).is_some_and(|token| constant_time_eq(token, expected))
            }
        }
    }
}

/// The credentials of a `Bearer` value: the scheme is case-insensitive and separated from the
/// credentials by one or more spaces (RFC 7235 section 2.1); the credentials are compared as sent.
fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let (scheme, rest) = value.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || rest.first() != Some(&b' ') {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    Some(&rest[start..])
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
        assert!(!auth.allows(Some(b"s3cret")));
        assert!(!auth.allows(Some(b"Bearers3cret")), "no separator");
        assert!(!auth.allows(Some(b"Bearer ")), "no credentials");
        assert!(!auth.allows(Some(b"Basic s3cret")));
        assert!(!auth.allows(Some(b"Bearer s3cret ")), "credentials as sent");
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        // RFC 7235 section 2.1; `curl -H 'authorization: bearer ...'` and many clients send it so.
        let auth = BearerAuth::new(Some("s3cret"));
        for value in [
            &b"bearer s3cret"[..],
            b"BEARER s3cret",
            b"bEaReR s3cret",
            b"Bearer   s3cret",
        ] {
            assert!(auth.allows(Some(value)), "{}", String::from_utf8_lossy(value));
        }
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
