//! The S3 calls the store makes, SigV4-signed, over one pooled ureq agent: GET, PUT (with
//! `If-None-Match: *` or `If-Match`), HEAD, DELETE (with `If-Match`) and ListObjectsV2 (followed
//! past 1,000 keys).
//! Each call has a connect and a total timeout; throttling (`SlowDown`, 503, 429), server errors
//! and transport failures are retried with exponential backoff and full jitter, as the SDKs do.
//! A retried conditional write can meet its own first attempt (the answer was lost, the write
//! was not): callers learn it was retried ([`Put::attempts`]) to tell that from a real conflict.
//! A client made for a traced invocation ([`S3Client::traced`]) adds `X-Amzn-Trace-Id` to
//! every call, unsigned: the signer leaves it out of SigV4 as botocore does.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::config::S3Config;
use super::xml;
use crate::aws::{ProvideCredentials, SignableRequest, sign};
use crate::telemetry::TraceContext;
use crate::telemetry::propagation::X_AMZN_TRACE_ID;

/// An S3 answer that is not what the call wanted, or no answer at all.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct S3Error {
    /// `GET`, `PUT`, `HEAD`, `LIST`.
    pub(crate) op: &'static str,
    /// The HTTP status, when there was an answer.
    pub(crate) status: Option<u16>,
    /// S3's error code (`AccessDenied`, `SlowDown`, ...), or the transport failure in words.
    pub(crate) code: String,
    /// S3's message, when it sent one.
    pub(crate) message: Option<String>,
    /// How many attempts were made.
    pub(crate) attempts: u32,
    /// Whether trying later may succeed (throttling, 5xx, transport): the store is unavailable
    /// rather than refusing.
    pub(crate) transient: bool,
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: ", self.op)?;
        if let Some(status) = self.status {
            write!(f, "{status} ")?;
        }
        f.write_str(&self.code)?;
        if let Some(message) = &self.message {
            write!(f, " ({message})")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

/// What a GET found.
#[derive(Debug)]
pub(super) enum Get {
    Found {
        body: Vec<u8>,
        etag: Option<String>,
    },
    /// `If-None-Match` held: the object still has that ETag.
    NotModified,
    Missing,
}

/// An object with how long ago it was last written, by the server's own clock.
#[derive(Debug)]
pub(super) struct Dated {
    pub(super) body: Vec<u8>,
    pub(super) etag: Option<String>,
    /// The answer's `Date` less the object's `Last-Modified` (both whole seconds), when the
    /// server sent both: an age no client clock skews.
    pub(super) age: Option<Duration>,
}

/// What a conditional DELETE did.
#[derive(Debug, PartialEq)]
pub(super) enum Delete {
    Done,
    /// `If-Match` failed: the object was replaced since.
    Changed,
    Missing,
}

/// The precondition of a PUT.
#[derive(Debug, Clone, Copy)]
pub(super) enum Condition<'a> {
    /// Create only: `If-None-Match: *`.
    Absent,
    /// Replace only this version: `If-Match: <etag>`.
    Matches(&'a str),
}

/// What a conditional PUT did.
#[derive(Debug)]
pub(super) struct Put {
    /// `None` when the precondition failed (412, 409 `ConditionalRequestConflict`, or 404 for
    /// `If-Match` on an object deleted since).
    pub(super) etag: Option<Option<String>>,
    pub(super) attempts: u32,
}

/// Retries and timeouts of every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The first backoff's upper bound; doubled per attempt.
    pub base_delay: Duration,
    /// No backoff is longer.
    pub max_delay: Duration,
    /// Connecting (and resolving).
    pub connect_timeout: Duration,
    /// One attempt, from sending to the last byte of the answer.
    pub call_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(15),
        }
    }
}

/// Session objects are small JSON documents; an answer past this is not one of ours.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// Plain-text buffers per connection. ureq's defaults (128 KiB each way) are zeroed whenever a
/// connection opens, which was a third of the binary's CPU per turn against a server that
/// closes every connection (`scripts/bench.sh s3`); S3's answer heads are a few hundred bytes
/// and bodies pass through the buffer whatever their size. A head larger than the input buffer
/// is a clear error.
const INPUT_BUFFER_BYTES: usize = 16 * 1024;
const OUTPUT_BUFFER_BYTES: usize = 16 * 1024;

const USER_AGENT: &str = concat!("agentcore-rt/", env!("CARGO_PKG_VERSION"));

/// Signed calls on one bucket.
pub(super) struct S3Client {
    agent: ureq::Agent,
    credentials: Arc<dyn ProvideCredentials>,
    region: String,
    /// `scheme://host[:port]` and the path before the key: `/bucket` (path style) or empty.
    base: String,
    bucket_path: String,
    retry: RetryPolicy,
    /// `X-Amzn-Trace-Id` on every call: the span of the invocation the calls are made for.
    trace: Option<Arc<str>>,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("base", &self.base)
            .field("bucket_path", &self.bucket_path)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Encodes a key (or any text) for a URL path: RFC 3986 unreserved characters and `/` stay.
pub(super) fn encode_path(text: &str) -> String {
    encode(text, true)
}

fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl S3Client {
    pub(super) fn new(
        config: &S3Config,
        region: &str,
        credentials: Arc<dyn ProvideCredentials>,
        retry: RetryPolicy,
    ) -> Self {
        let (base, bucket_path) = config.base_url(region);
        let agent = ureq::Agent::config_builder()
            .input_buffer_size(INPUT_BUFFER_BYTES)
            .output_buffer_size(OUTPUT_BUFFER_BYTES)
            .max_response_header_size(INPUT_BUFFER_BYTES)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .timeout_resolve(Some(retry.connect_timeout))
            .timeout_connect(Some(retry.connect_timeout))
            .timeout_global(Some(retry.call_timeout))
            .build()
            .into();
        S3Client {
            agent,
            credentials,
            region: region.to_string(),
            base,
            bucket_path,
            retry,
            trace: None,
        }
    }

    /// This client for the calls of one invocation: each carries `trace`'s span as
    /// `X-Amzn-Trace-Id` (with `Sampled=0` for an unsampled span, as the Bedrock calls do).
    /// Without a span (tracing off), this very client.
    pub(super) fn traced(self: &Arc<Self>, trace: &TraceContext) -> Arc<S3Client> {
        match trace.xray_header() {
            None => Arc::clone(self),
            Some(header) => Arc::new(S3Client {
                agent: self.agent.clone(),
                credentials: Arc::clone(&self.credentials),
                region: self.region.clone(),
                base: self.base.clone(),
                bucket_path: self.bucket_path.clone(),
                retry: self.retry,
                trace: Some(Arc::from(header)),
            }),
        }
    }

    pub(super) fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Get, S3Error> {
        let headers: Vec<(&str, &str)> = if_none_match.map(|e| ("if-none-match", e)).into_iter().collect();
        let (answer, attempts) = self.call("GET", &self.object_url(key), &headers, b"")?;
        match answer.status {
            200 => Ok(Get::Found {
                body: answer.body,
                etag: answer.etag,
            }),
            304 => Ok(Get::NotModified),
            404 => Ok(Get::Missing),
            _ => Err(answer.error("GET", attempts)),
        }
    }

    /// The object with its age (for leases), or `None` when it does not exist.
    pub(super) fn get_dated(&self, key: &str) -> Result<Option<Dated>, S3Error> {
        let (answer, attempts) = self.call("GET", &self.object_url(key), &[], b"")?;
        match answer.status {
            200 => {
                let age = match (answer.date, answer.last_modified) {
                    (Some(now), Some(written)) => u64::try_from(now - written).ok().map(Duration::from_secs),
                    _ => None,
                };
                Ok(Some(Dated {
                    body: answer.body,
                    etag: answer.etag,
                    age,
                }))
            }
            404 => Ok(None),
            _ => Err(answer.error("GET", attempts)),
        }
    }

    /// Deletes the object if it still has `etag` (S3's conditional DeleteObject).
    pub(super) fn delete(&self, key: &str, etag: &str) -> Result<Delete, S3Error> {
        let (answer, attempts) = self.call("DELETE", &self.object_url(key), &[("if-match", etag)], b"")?;
        match answer.status {
            200 | 204 => Ok(Delete::Done),
            412 => Ok(Delete::Changed),
            404 => Ok(Delete::Missing),
            _ => Err(answer.error("DELETE", attempts)),
        }
    }

    /// Whether the object exists.
    pub(super) fn head(&self, key: &str) -> Result<bool, S3Error> {
        let (answer, attempts) = self.call("HEAD", &self.object_url(key), &[], b"")?;
        match answer.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(answer.error("HEAD", attempts)),
        }
    }

    pub(super) fn put(&self, key: &str, body: &[u8], condition: Condition<'_>) -> Result<Put, S3Error> {
        let replacing = matches!(condition, Condition::Matches(_));
        let condition = match condition {
            Condition::Absent => ("if-none-match", "*"),
            Condition::Matches(etag) => ("if-match", etag),
        };
        let headers = [("content-type", "application/json"), condition];
        let (answer, attempts) = self.call("PUT", &self.object_url(key), &headers, body)?;
        let conflict = || {
            answer
                .code()
                .is_some_and(|(code, _)| code == "ConditionalRequestConflict")
        };
        let etag = match answer.status {
            200 => Some(answer.etag),
            412 => None,
            // `If-Match` on an object deleted since: S3 answers 404 NoSuchKey.
            404 if replacing => None,
            // A concurrent conditional write on the key is in progress and wins.
            409 if conflict() => None,
            _ => return Err(answer.error("PUT", attempts)),
        };
        Ok(Put { etag, attempts })
    }

    /// Every key under `prefix` (all pages), or the first `max_keys` when given.
    pub(super) fn list(&self, prefix: &str, max_keys: Option<u32>) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // Query parameters sorted by name: the order SigV4 canonicalises them in anyway.
            let mut url = format!(
                "{}{}?",
                self.base,
                if self.bucket_path.is_empty() {
                    "/"
                } else {
                    &self.bucket_path
                }
            );
            if let Some(token) = &token {
                url.push_str(&format!("continuation-token={}&", encode(token, false)));
            }
            url.push_str("list-type=2");
            if let Some(max) = max_keys {
                url.push_str(&format!("&max-keys={max}"));
            }
            url.push_str(&format!("&prefix={}", encode(prefix, false)));
            let (answer, attempts) = self.call("GET", &url, &[], b"")?;
            if answer.status != 200 {
                return Err(answer.error("LIST", attempts));
            }
            let text = String::from_utf8_lossy(&answer.body);
            let page = xml::list_page(&text).ok_or_else(|| S3Error {
                op: "LIST",
                status: Some(200),
                code: "an answer that is not a ListObjectsV2 result".into(),
                message: None,
                attempts,
                transient: false,
            })?;
            keys.extend(page.keys);
            match page.next {
                Some(next) if max_keys.is_none_or(|m| keys.len() < m as usize) => token = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}{}/{}", self.base, self.bucket_path, encode_path(key))
    }

    /// One call with retries: the last answer (any status that is not retried) and the attempts.
    fn call(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(Answer, u32), S3Error> {
        let op = if url.contains("list-type=2") {
            "LIST"
        } else {
            method
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.attempt(method, url, headers, body);
            let retry = match &result {
                Ok(answer) => answer.is_retryable(),
                Err(_) => true,
            };
            if !retry || attempt >= self.retry.max_attempts {
                return match result {
                    Ok(answer) => Ok((answer, attempt)),
                    Err(AttemptError::Credentials(message)) => Err(S3Error {
                        op,
                        status: None,
                        code: "no AWS credentials".into(),
                        message: Some(message),
                        attempts: attempt,
                        transient: true,
                    }),
                    Err(AttemptError::Transport(code)) => Err(S3Error {
                        op,
                        status: None,
                        code,
                        message: None,
                        attempts: attempt,
                        transient: true,
                    }),
                };
            }
            std::thread::sleep(self.backoff(attempt));
        }
    }

    /// Full jitter: a random pause in `[0, min(max, base * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .retry
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.retry.max_delay);
        let mut b = [0u8; 4];
        let fraction = match getrandom::fill(&mut b) {
            Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
            Err(_) => 0.5,
        };
        cap.mul_f64(fraction)
    }

    fn attempt(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, AttemptError> {
        let creds = self
            .credentials
            .credentials()
            .map_err(|e| AttemptError::Credentials(e.to_string()))?;
        // Given to the signer with the others, which leaves it unsigned as botocore does: a
        // header any hop may rewrite must not break the signature.
        let traced: Vec<(&str, &str)>;
        let headers = match &self.trace {
            None => headers,
            Some(trace) => {
                traced = headers
                    .iter()
                    .copied()
                    .chain([(X_AMZN_TRACE_ID, &**trace)])
                    .collect();
                &traced
            }
        };
        let request = SignableRequest {
            method,
            url,
            headers,
            body,
        };
        let signed = sign(&request, &creds, &self.region, "s3", SystemTime::now());
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers.iter().copied() {
            builder = builder.header(name, value);
        }
        for (name, value) in &signed {
            builder = builder.header(*name, value.as_str());
        }
        let invalid = |e: ureq::http::Error| AttemptError::Transport(format!("invalid request: {e}"));
        // Only a PUT has a body; ureq refuses one on GET, HEAD and DELETE.
        let sent = if method == "PUT" {
            self.agent.run(builder.body(body.to_vec()).map_err(invalid)?)
        } else {
            self.agent.run(builder.body(()).map_err(invalid)?)
        };
        let mut response =
            sent.map_err(|e| AttemptError::Transport(crate::aws::describe_transport_error(&e)))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header("etag");
        let date = header("date").as_deref().and_then(crate::clock::parse_http_date);
        let last_modified = header("last-modified")
            .as_deref()
            .and_then(crate::clock::parse_http_date);
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(BODY_LIMIT)
                .read_to_vec()
                .map_err(|e| {
                    AttemptError::Transport(format!(
                        "reading the answer: {}",
                        crate::aws::describe_transport_error(&e)
                    ))
                })?
        };
        // S3 answers 400 (or 403) ExpiredToken; the retry then signs with fresh credentials.
        if status >= 400 && body.windows(12).any(|w| w == b"ExpiredToken") {
            self.credentials.invalidate();
        }
        Ok(Answer {
            status,
            etag,
            date,
            last_modified,
            body,
        })
    }
}

enum AttemptError {
    Credentials(String),
    Transport(String),
}

struct Answer {
    status: u16,
    etag: Option<String>,
    /// `Date` and `Last-Modified`, in Unix seconds.
    date: Option<i64>,
    last_modified: Option<i64>,
    body: Vec<u8>,
}

impl Answer {
    fn code(&self) -> Option<(String, Option<String>)> {
        xml::error_code(&String::from_utf8_lossy(&self.body))
    }

    /// Throttling, server errors, and S3's own "try again" codes behind a 400.
    fn is_retryable(&self) -> bool {
        match self.status {
            429 | 500 | 502 | 503 | 504 => true,
            400 | 403 => self.code().is_some_and(|(code, _)| {
                matches!(
                    code.as_str(),
                    "SlowDown" | "RequestTimeout" | "RequestTimeTooSkewed" | "ExpiredToken" | "InternalError"
                )
            }),
            _ => false,
        }
    }

    fn error(&self, op: &'static str, attempts: u32) -> S3Error {
        let (code, message) = self
            .code()
            .unwrap_or_else(|| (format!("HTTP {}", self.status), None));
        S3Error {
            op,
            status: Some(self.status),
            code,
            message,
            attempts,
            transient: self.is_retryable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_expects() {
        assert_eq!(encode_path("p/session_a b/é+%"), "p/session_a%20b/%C3%A9%2B%25");
        assert_eq!(encode("a/b=c", false), "a%2Fb%3Dc");
    }
}
