//! SigV4 request signing, following botocore's `SigV4Auth` / `S3SigV4Auth` (the reference):
//! non-S3 services re-encode the (already encoded) path after removing dot segments and empty
//! segments; S3 (`service == "s3"`) signs the path as sent. The query is read as
//! form-urlencoded (as aws-sigv4 and Python's `parse_qsl` read it) and each name and value is
//! RFC 3986-encoded, then sorted. Headers botocore leaves unsigned (user-agent, expect, ...) are
//! left unsigned here too.
//! NOT YET VERIFIED against botocore (the comparison test is still to be written).

use std::time::SystemTime;

use data_encoding::HEXLOWER;
use ring::{digest, hmac};

/// A request to sign, as it will be sent (`url` already percent-encoded).
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Full URL.
    pub url: &'a str,
    /// Headers the request will carry (repeated names allowed).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

const UNSIGNED: [&str; 14] = [
    "baggage",
    "connection",
    "expect",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "traceparent",
    "tracestate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
];

/// Headers to add to the request: authorization, x-amz-date, x-amz-content-sha256,
/// x-amz-security-token when a session token is present.
pub fn sign(
    req: &SignableRequest<'_>,
    creds: &super::Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let s3 = service == "s3";
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let amz_date = amz_date(secs);
    let day = &amz_date[..8];
    let payload = HEXLOWER.encode(digest::digest(&digest::SHA256, req.body).as_ref());
    let (host, path, query) = split_url(req.url);

    let mut headers: Vec<(String, String)> = Vec::new();
    let mut has_host = false;
    for (n, v) in req.headers {
        let n = n.to_ascii_lowercase();
        if UNSIGNED.contains(&n.as_str())
            || matches!(
                n.as_str(),
                "authorization" | "x-amz-date" | "x-amz-security-token" | "x-amz-content-sha256"
            )
        {
            continue;
        }
        has_host |= n == "host";
        headers.push((n, v.to_string()));
    }
    if !has_host {
        headers.push(("host".into(), host));
    }
    headers.push(("x-amz-date".into(), amz_date.clone()));
    headers.push(("x-amz-content-sha256".into(), payload.clone()));
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), t.clone()));
    }
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let vals: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| {
                v.split(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", vals.join(",")));
    }
    let signed = names.join(";");
    let uri = if s3 {
        if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        }
    } else {
        encode(&remove_dot_segments(path), true)
    };
    let canonical = format!(
        "{}\n{uri}\n{}\n{canonical_headers}\n{signed}\n{payload}",
        req.method.to_ascii_uppercase(),
        canonical_query(query)
    );
    let scope = format!("{day}/{region}/{service}/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        HEXLOWER.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mac = |k: &[u8], m: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, k), m.as_bytes());
    let k = mac(format!("AWS4{}", creds.secret_access_key()).as_bytes(), day);
    let k = mac(k.as_ref(), region);
    let k = mac(k.as_ref(), service);
    let k = mac(k.as_ref(), "aws4_request");
    let sig = HEXLOWER.encode(mac(k.as_ref(), &sts).as_ref());
    let mut out = vec![
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={sig}",
                creds.access_key_id
            ),
        ),
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", payload),
    ];
    if let Some(t) = &creds.session_token {
        out.push(("x-amz-security-token", t.clone()));
    }
    out
}

fn amz_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn split_url(url: &str) -> (String, &str, &str) {
    let url = url.split('#').next().unwrap_or("");
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let rest = &rest[end..];
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hostport = authority.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
    let default = if scheme.eq_ignore_ascii_case("http") {
        ":80"
    } else {
        ":443"
    };
    let host = hostport
        .strip_suffix(default)
        .map(str::to_string)
        .unwrap_or(hostport);
    (host, path, query)
}

fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let first = if path.starts_with('/') { "/" } else { "" };
    let last = if path.ends_with('/') && !out.is_empty() {
        "/"
    } else {
        ""
    };
    format!("{first}{}{last}", out.join("/"))
}

fn encode(s: &str, keep_slash: bool) -> String {
    encode_bytes(s.as_bytes(), keep_slash)
}

fn encode_bytes(b: &[u8], keep_slash: bool) -> String {
    let mut out = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) || (keep_slash && c == b'/') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    // Python's parse_qsl decodes with errors='replace'.
    String::from_utf8_lossy(&out).into_owned().into_bytes()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                encode_bytes(&form_decode(k), false),
                encode_bytes(&form_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS's published example (IAM ListUsers, "Create a signed AWS API request" docs).
    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
    }

    // Expected values printed by botocore 1.44.8 SigV4Auth at 2015-08-30T12:36:00Z (two cases
    // only, recorded by hand; the live botocore comparison over many cases is still to come).
    #[test]
    fn matches_botocore_two_cases() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let cases = [
            (
                "iam",
                "https://iam.amazonaws.com/a%20b/../c/",
                None,
                &b""[..],
                "d7ae47d52a8aad5849c7ac0f86bd161b313f4f35fa8723b64bd2a172018f38f4",
            ),
            (
                "bedrock",
                "https://bedrock-runtime.us-east-1.amazonaws.com/model/x:1/converse",
                Some("TOK".to_string()),
                &b"{\"a\":1}"[..],
                "e1ec04309ce42a70c7ec9e0fea706814a45ef647d3216ec8e87e489048bd05c4",
            ),
        ];
        for (svc, url, tok, body, sig) in cases {
            let c = crate::aws::Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                tok,
                None,
            );
            let req = SignableRequest {
                method: "POST",
                url,
                headers: &[("Content-Type", "application/json")],
                body,
            };
            let h = sign(&req, &c, "us-east-1", svc, t);
            assert!(h[0].1.ends_with(&format!("Signature={sig}")), "{svc}: {}", h[0].1);
        }
    }
}
