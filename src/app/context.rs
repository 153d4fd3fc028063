//! `RequestContext`: what a handler learns about the request, built from its headers exactly as
//! the Python SDK builds it (`bedrock_agentcore/runtime/context.py` and `app.py`; recorded in
//! `tests/fixtures/vectors/agentcore-observed.json`).

use std::sync::{Arc, OnceLock};

use crate::telemetry::TraceContext;
use crate::types::CancelToken;

/// Session header AgentCore sets on every invocation of a runtime session.
pub const SESSION_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-session-id";
/// Request id header; a uuid4 is generated when it is absent.
pub const REQUEST_ID_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-request-id";
const IDENTITY_WAT_HEADER: &str = "x-amz-bedrock-agentcore-identity-wat";
const ACCESS_TOKEN_HEADER: &str = "workloadaccesstoken";
const OAUTH2_CALLBACK_URL_HEADER: &str = "oauth2callbackurl";
const CUSTOM_HEADER_PREFIX: &str = "x-amzn-bedrock-agentcore-runtime-custom-";

/// Headers AgentCore never forwards to agent code (the SDK's `RESTRICTED_HEADERS`, from the
/// runtime header allowlist docs), lower-case and sorted for binary search.
const RESTRICTED_HEADERS: &[&str] = &[
    ":authority",
    ":method",
    ":path",
    ":scheme",
    ":status",
    "accept",
    "accept-ch",
    "accept-ch-lifetime",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-request-headers",
    "access-control-request-method",
    "cache-control",
    "cf-connecting-ip",
    "cf-ray",
    "clear-site-data",
    "connection",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-security-policy",
    "content-security-policy-report-only",
    "content-type",
    "cookie",
    "cross-origin-embedder-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "date",
    "downlink",
    "dpr",
    "ect",
    "etag",
    "expect-ct",
    "expires",
    "feature-policy",
    "forwarded",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "last-modified",
    "link",
    "location",
    "origin",
    "permissions-policy",
    "pragma",
    "proxy-authorization",
    "proxy-connection",
    "public-key-pins",
    "public-key-pins-report-only",
    "range",
    "referer",
    "referrer-policy",
    "retry-after",
    "rtt",
    "save-data",
    "sec-websocket-accept",
    "sec-websocket-extensions",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "sec-websocket-version",
    "server",
    "set-cookie",
    "strict-transport-security",
    "te",
    "trailer",
    "transfer-encoding",
    "true-client-ip",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "viewport-width",
    "width",
    "www-authenticate",
    "x-amz-cf-id",
    "x-cache",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-content-type-options",
    "x-csrf-token",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-frame-options",
    "x-original-host",
    "x-original-url",
    "x-originating-ip",
    "x-real-ip",
    "x-requested-with",
    "x-rewrite-url",
    "x-served-by",
    "x-source-ip",
    "x-xss-protection",
];

/// Whether AgentCore would forward this header to agent code (lower-case name).
fn is_forwardable_header(lower: &str) -> bool {
    if RESTRICTED_HEADERS.binary_search(&lower).is_ok() {
        return false;
    }
    if lower.starts_with("x-amz-") {
        return lower == IDENTITY_WAT_HEADER;
    }
    !lower.starts_with("x-amzn-") || lower.starts_with(CUSTOM_HEADER_PREFIX)
}

/// Per-request context handed to handlers, the Rust counterpart of the SDK's `RequestContext`
/// plus the values of `BedrockAgentCoreContext`.
///
/// ```
/// use agentcore_rt::RequestContext;
///
/// let ctx = RequestContext::from_headers([
///     ("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", b"s1".as_slice()),
///     ("Authorization", b"Bearer t".as_slice()),
///     ("User-Agent", b"curl".as_slice()),
/// ]);
/// assert_eq!(ctx.session_id.as_deref(), Some("s1"));
/// assert_eq!(ctx.request_header("authorization"), Some("Bearer t")); // forwarded
/// assert_eq!(ctx.request_header("user-agent"), None); // AgentCore never forwards it
/// assert_eq!(ctx.header("user-agent"), Some("curl"));
/// assert_eq!(ctx.request_id.len(), 36); // a fresh uuid4 without the request-id header
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`: `None` when absent, `Some("")` when empty.
    pub session_id: Option<String>,
    /// `X-Amzn-Bedrock-AgentCore-Runtime-Request-Id`, or a fresh uuid4 when absent.
    pub request_id: String,
    /// Forwardable headers in wire order, as the SDK exposes them: `Authorization` under that
    /// canonical name, every other key lower-case; `None` (never empty) when nothing qualifies.
    pub request_headers: Option<Vec<(String, String)>>,
    /// `X-Amz-Bedrock-AgentCore-Identity-WAT`, else `WorkloadAccessToken`.
    pub workload_access_token: Option<String>,
    /// `OAuth2CallbackUrl`.
    pub oauth2_callback_url: Option<String>,
    /// The request's server span, for the handler's spans to parent on (set by the app when
    /// tracing is on; empty otherwise).
    pub trace: TraceContext,
    headers: Vec<(String, String)>,
    cancel: CancelToken,
    /// The session the handler ran the request in, for the server span (set up by the app
    /// when tracing is on): a payload's `session_id` can differ from the header's.
    pub(crate) span_session: Option<Arc<OnceLock<String>>>,
}

impl RequestContext {
    /// Builds the context from request headers (name, raw value), in wire order. Values are
    /// decoded as Latin-1, as Starlette does.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> RequestContext {
        let all: Vec<(String, String)> = headers
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), latin1(v)))
            .collect();
        let first = |name: &str| all.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let request_id = first(REQUEST_ID_HEADER)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(crate::ids::uuid4);
        let workload_access_token = first(IDENTITY_WAT_HEADER)
            .filter(|v| !v.is_empty())
            .or_else(|| first(ACCESS_TOKEN_HEADER).filter(|v| !v.is_empty()));
        let mut forwarded: Vec<(String, String)> = Vec::new();
        for (name, value) in &all {
            let key = if name == "authorization" {
                "Authorization".to_string()
            } else if is_forwardable_header(name) {
                name.clone()
            } else {
                continue;
            };
            // A Python dict: a repeated key keeps its first position and takes the last value.
            match forwarded.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => forwarded.push((key, value.clone())),
            }
        }
        RequestContext {
            session_id: first(SESSION_HEADER),
            request_id,
            request_headers: (!forwarded.is_empty()).then_some(forwarded),
            workload_access_token,
            oauth2_callback_url: first(OAUTH2_CALLBACK_URL_HEADER).filter(|v| !v.is_empty()),
            trace: TraceContext::NONE,
            headers: all,
            cancel: CancelToken::new(),
            span_session: None,
        }
    }

    /// Any request header by case-insensitive name (the first occurrence), forwardable or not.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A forwarded header by name (`Authorization`, or the lower-case name of any other).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .as_ref()?
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `request_headers` as a JSON object (or `null`), keys in wire order.
    pub fn request_headers_json(&self) -> serde_json::Value {
        match &self.request_headers {
            None => serde_json::Value::Null,
            Some(pairs) => serde_json::Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
        }
    }

    /// True once the client has gone away or the server is shutting down; long handlers should
    /// check it and stop early.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The token behind `is_cancelled`, to hand to the work the handler starts (the agent, a
    /// model call, tools), so that it stops when the client leaves.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Tells the request's server span which session the handler runs it in (its
    /// `session.id`, which AgentCore Evaluations finds spans by, then matches the handler's
    /// spans); the first call counts, and it does nothing when tracing is off.
    pub fn record_session(&self, session_id: &str) {
        if let Some(slot) = &self.span_session {
            let _ = slot.set(session_id.to_string());
        }
    }

    /// Marks the request cancelled.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

fn latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.to_string(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_list_is_sorted() {
        assert!(RESTRICTED_HEADERS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn builds_like_the_sdk() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("Host", b"127.0.0.1"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", b"s1"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Request-Id", b"req-abc"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo", b"foo-val"),
            ("authorization", b"Bearer tok123"),
            ("WorkloadAccessToken", b"wat-xyz"),
            ("X-Amz-Bedrock-AgentCore-Identity-WAT", b"wat-from-identity"),
            ("X-Amzn-Trace-Id", b"Root=1"),
            ("X-Amz-Date", b"2026"),
            ("User-Agent", b"curl"),
            ("X-My-App-Header", b"mine"),
        ];
        let ctx = RequestContext::from_headers(headers);
        assert_eq!(ctx.session_id.as_deref(), Some("s1"));
        assert_eq!(ctx.request_id, "req-abc");
        assert_eq!(ctx.workload_access_token.as_deref(), Some("wat-from-identity"));
        let keys: Vec<&str> = ctx
            .request_headers
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "x-amzn-bedrock-agentcore-runtime-custom-foo",
                "Authorization",
                "workloadaccesstoken",
                "x-amz-bedrock-agentcore-identity-wat",
                "x-my-app-header"
            ]
        );
    }

    #[test]
    fn absent_and_empty_session_and_no_forwardable_headers() {
        let ctx = RequestContext::from_headers(vec![("Host", b"x".as_slice())]);
        assert_eq!(ctx.session_id, None);
        assert_eq!(ctx.request_headers, None);
        assert_eq!(ctx.request_id.len(), 36);
        let ctx = RequestContext::from_headers(vec![(SESSION_HEADER, b"".as_slice())]);
        assert_eq!(ctx.session_id.as_deref(), Some(""));
    }
}
