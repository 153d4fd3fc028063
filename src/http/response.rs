//! Response heads and bodies: the one place where errors become status codes and JSON.

use crate::app::Response;
use crate::clock::Civil;
use crate::error::Error;

/// Reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        418 => "I'm a Teapot",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether to announce `connection: close` / `connection: keep-alive` on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// HTTP/1.1 default: say nothing.
    Default,
    /// HTTP/1.0 client that asked for keep-alive.
    KeepAlive10,
    /// The connection closes after this response.
    Close,
}

/// Writes a status line and the standard headers. `content_length: None` writes no length
/// (the caller adds `transfer-encoding` or closes the connection after the body).
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: Option<&str>,
    content_length: Option<usize>,
    persist: Persist,
    extra: &[(&str, &str)],
) {
    // Plain byte appends, no `fmt`: this runs for every response, /ping included.
    out.extend_from_slice(b"HTTP/1.1 ");
    crate::pyjson::write_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    push_http_date(out);
    out.extend_from_slice(b"\r\nserver: agentcore-rt\r\n");
    if let Some(ct) = content_type {
        push_header(out, "content-type", ct);
    }
    if let Some(len) = content_length {
        out.extend_from_slice(b"content-length: ");
        crate::pyjson::write_u64(out, len as u64);
        out.extend_from_slice(b"\r\n");
    }
    match persist {
        Persist::Default => {}
        Persist::KeepAlive10 => out.extend_from_slice(b"connection: keep-alive\r\n"),
        Persist::Close => out.extend_from_slice(b"connection: close\r\n"),
    }
    for (name, value) in extra {
        push_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the current IMF-fixdate. Formatting a date per response showed up in profiles, so
/// the text of the current second is kept. (A mutex, not a thread-local: coroutines move
/// between threads, and thread-locals with destructors misbehaved under may in our tests.)
fn push_http_date(out: &mut Vec<u8>) {
    static DATE: std::sync::Mutex<(u64, String)> = std::sync::Mutex::new((u64::MAX, String::new()));
    let now = crate::clock::unix_now();
    let mut cache = DATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if cache.0 != now {
        *cache = (now, Civil::from_unix(now as i64, 0).http_date());
    }
    out.extend_from_slice(cache.1.as_bytes());
}

/// Writes a complete response with a body (omitted for HEAD, length kept).
pub fn write_full(
    out: &mut Vec<u8>,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    persist: Persist,
    extra: &[(&str, &str)],
    head_only: bool,
) {
    write_head(out, status, content_type, Some(body.len()), persist, extra);
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Writes a handler's own `Response`, dropping headers the server owns.
pub fn write_response(out: &mut Vec<u8>, response: &Response, persist: Persist, head_only: bool) {
    let mut content_type = None;
    let mut extra: Vec<(&str, &str)> = Vec::with_capacity(response.headers.len());
    for (name, value) in &response.headers {
        let lower = name.to_ascii_lowercase();
        if lower == "content-type" {
            content_type = Some(value.as_str());
        } else if !matches!(
            lower.as_str(),
            "content-length"
                | "transfer-encoding"
                | "connection"
                | "keep-alive"
                | "date"
                | "server"
                | "upgrade"
        ) && is_token(name)
            && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
        {
            extra.push((name.as_str(), value.as_str()));
        }
    }
    write_full(
        out,
        response.status,
        content_type,
        &response.body,
        persist,
        &extra,
        head_only,
    );
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The JSON body of an error: `{"error": message}` plus `details` when present (compact, as
/// the SDK's `JSONResponse`); rendered by [`Error::json_body`].
pub fn error_body(error: &Error) -> Vec<u8> {
    error.json_body().into_bytes()
}

/// Writes an error as its status with the JSON body.
pub fn write_error(
    out: &mut Vec<u8>,
    error: &Error,
    persist: Persist,
    head_only: bool,
    extra: &[(&str, &str)],
) {
    write_full(
        out,
        error.status(),
        Some("application/json"),
        &error_body(error),
        persist,
        extra,
        head_only,
    );
}

/// The SSE event the SDK sends when a stream fails midway, Python `json.dumps` style; rendered
/// by [`Error::sse_event`].
pub fn stream_error_event(error: &Error) -> Vec<u8> {
    error.sse_event().into_bytes()
}
