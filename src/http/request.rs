//! A parsed request as dispatch sees it (method, decoded path, query, headers, framing),
//! borrowed from the bytes it was parsed from; and keep-alive, decided here only.

use std::borrow::Cow;

use super::parse::{self, Head, Method};
use super::response::Persist;

/// A request head over the bytes it was parsed from. Building one allocates nothing unless
/// the path is percent-encoded, so `/ping` can be routed straight from the read buffer.
pub(crate) struct Request<'a> {
    head: &'a Head,
    bytes: &'a [u8],
    method: Method,
    path: Cow<'a, str>,
    query: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// `bytes` starts with the head `head` was parsed from.
    pub(crate) fn new(bytes: &'a [u8], head: &'a Head) -> Request<'a> {
        let method = match &bytes[head.method.clone()] {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            _ => Method::Other,
        };
        let target = std::str::from_utf8(&bytes[head.target.clone()]).unwrap_or("/");
        let (path, query) = parse::split_target(target);
        // Routing sees the decoded path, as Starlette's; a path that does not decode to UTF-8
        // is routed as sent (and finds nothing).
        let path = parse::decode_path(path).unwrap_or(Cow::Borrowed(path));
        Request {
            head,
            bytes,
            method,
            path,
            query,
        }
    }

    /// Framing, version and the flags the parser derived from the headers.
    pub(crate) fn head(&self) -> &'a Head {
        self.head
    }

    pub(crate) fn method(&self) -> Method {
        self.method
    }

    /// The method as sent (for the request log).
    pub(crate) fn method_str(&self) -> &'a str {
        std::str::from_utf8(&self.bytes[self.head.method.clone()]).unwrap_or("?")
    }

    /// The percent-decoded path, without the query.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The query string as sent (no `?`).
    pub(crate) fn query(&self) -> Option<&'a str> {
        self.query
    }

    pub(crate) fn is_head(&self) -> bool {
        self.method == Method::Head
    }

    /// (name, value) pairs in wire order.
    pub(crate) fn header_pairs(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let bytes = self.bytes;
        self.head.headers.iter().map(move |(n, v)| {
            (
                std::str::from_utf8(&bytes[n.clone()]).unwrap_or(""),
                &bytes[v.clone()],
            )
        })
    }

    /// The first value of header `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// See [`persist`].
    pub(crate) fn persist(&self, overloaded: bool) -> Persist {
        persist(self.head, overloaded)
    }

    /// Whether a streamed response (no length known) can be sent chunked: HTTP/1.1 only.
    pub(crate) fn chunked_streams(&self) -> bool {
        self.head.minor_version == 1
    }

    /// `persist` for a streamed response: HTTP/1.0 has no chunked coding, so the body ends
    /// when we close.
    pub(crate) fn stream_persist(&self, persist: Persist) -> Persist {
        if self.chunked_streams() {
            persist
        } else {
            Persist::Close
        }
    }
}

/// Whether the connection stays open after the exchange `head` starts, and how the response
/// says so: as the request's version and `Connection` header ask, unless the server is over
/// its connection limit. (Answers that must close, like rejections, say `Persist::Close`
/// whatever this returns.)
pub(crate) fn persist(head: &Head, overloaded: bool) -> Persist {
    match (head.keep_alive && !overloaded, head.minor_version) {
        (false, _) => Persist::Close,
        (true, 0) => Persist::KeepAlive10,
        (true, _) => Persist::Default,
    }
}

/// How a connection continues after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close (after flushing what is written).
    Close,
}

impl Next {
    /// The continuation a response written with `persist` announced.
    pub(crate) fn after(persist: Persist) -> Next {
        if persist == Persist::Close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::parse::{HeadLimits, parse_head};

    /// Parses a complete head for tests.
    pub(crate) fn head(raw: &str) -> Head {
        let limits = HeadLimits {
            max_bytes: 8192,
            max_headers: 32,
        };
        parse_head(raw.as_bytes(), limits)
            .expect("valid head")
            .expect("complete head")
    }

    fn persist(raw: &str, overloaded: bool) -> Persist {
        let h = head(raw);
        Request::new(raw.as_bytes(), &h).persist(overloaded)
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        assert_eq!(
            persist("GET / HTTP/1.1\r\nHost: x\r\n\r\n", false),
            Persist::Default
        );
        assert_eq!(
            persist("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false),
            Persist::Close
        );
        assert_eq!(
            persist(
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n",
                false
            ),
            Persist::Default
        );
        assert_eq!(persist("GET / HTTP/1.0\r\n\r\n", false), Persist::Close);
        assert_eq!(
            persist("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false),
            Persist::KeepAlive10
        );
        assert_eq!(
            persist("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
            Persist::Close
        );
    }

    #[test]
    fn over_the_connection_limit_every_answer_closes() {
        assert_eq!(persist("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true), Persist::Close);
        assert_eq!(
            persist("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            Persist::Close
        );
        assert_eq!(Next::after(Persist::Close), Next::Close);
        assert_eq!(Next::after(Persist::Default), Next::KeepAlive);
        assert_eq!(Next::after(Persist::KeepAlive10), Next::KeepAlive);
    }

    #[test]
    fn streams_on_http_1_0_end_by_closing() {
        let raw = "POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        assert!(!req.chunked_streams());
        assert_eq!(req.stream_persist(req.persist(false)), Persist::Close);
        let raw = "POST / HTTP/1.1\r\nHost: x\r\n\r\n";
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        assert!(req.chunked_streams());
        assert_eq!(req.stream_persist(req.persist(false)), Persist::Default);
    }

    #[test]
    fn method_path_query_and_headers() {
        let raw = "HEAD http://h:1/in%76ocations?a=1&b HTTP/1.1\r\nHost: x\r\nX-Two: 2\r\nx-two: 3\r\n\r\n";
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        assert_eq!(req.method(), Method::Head);
        assert!(req.is_head());
        assert_eq!(req.method_str(), "HEAD");
        assert_eq!(req.path(), "/invocations");
        assert_eq!(req.query(), Some("a=1&b"));
        assert_eq!(req.header("x-TWO"), Some(b"2".as_slice()));
        assert_eq!(req.header("missing"), None);
        assert_eq!(req.header_pairs().count(), 3);

        let raw = "DELETE /%ff HTTP/1.1\r\nHost: x\r\n\r\n";
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        assert_eq!(req.method(), Method::Other);
        assert_eq!(req.method_str(), "DELETE");
        assert_eq!(req.path(), "/%ff", "not UTF-8 once decoded: routed as sent");
        assert_eq!(req.query(), None);
    }

    #[test]
    fn a_plain_path_is_borrowed_not_copied() {
        let raw = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        assert!(matches!(req.path, Cow::Borrowed("/ping")));
    }
}
