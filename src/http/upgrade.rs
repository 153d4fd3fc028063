//! The WebSocket handshake (RFC 6455 §4.2): checking an upgrade request the service took,
//! answering `101 Switching Protocols`, and handing the socket to the session (ws.rs).

use std::sync::Arc;
use std::time::Instant;

use super::access;
use super::io::Wire;
use super::parse::BodyFraming;
use super::request::{Next, Request};
use super::response::{self, Persist};
use super::service::{Answer, Session};
use super::shared::Shared;
use super::ws;
use crate::error::Error;

/// Checks the handshake fields of an upgrade request: version 13, a well-formed key, no
/// body. Returns the `Sec-WebSocket-Accept` value, or the answer refusing the handshake.
pub(crate) fn accept_key(req: &Request<'_>) -> Result<String, Answer> {
    let refuse = |status: u16, msg: &str, details: &str| {
        Error::http(status, msg.to_string()).with_details(details.to_string())
    };
    if req.header("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13".as_slice()) {
        let err = refuse(
            426,
            "Upgrade Required",
            "unsupported Sec-WebSocket-Version (13 is supported)",
        );
        return Err(Answer::Error(err, &[("sec-websocket-version", "13")]));
    }
    let Some(key) = req
        .header("sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .filter(|k| valid_key(k))
    else {
        let err = refuse(400, "Bad Request", "missing or invalid Sec-WebSocket-Key");
        return Err(Answer::error(err));
    };
    if req.head().body != BodyFraming::None {
        let err = refuse(
            400,
            "Bad Request",
            "a WebSocket upgrade request cannot carry a body",
        );
        return Err(Answer::error(err));
    }
    Ok(tungstenite::handshake::derive_accept_key(key))
}

/// Appends the `101 Switching Protocols` head.
fn write_switching(out: &mut Vec<u8>, accept: &str) {
    let extra = [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-accept", accept),
    ];
    response::write_head(out, 101, None, None, Persist::Default, &extra);
}

/// Completes the handshake and runs `session` until it closes; the connection closes after
/// it. `Err`: the handshake is refused with that answer (nothing written yet).
pub(crate) fn run(
    wire: &mut Wire,
    req: &Request<'_>,
    started: Instant,
    session: Session,
    shared: &Arc<Shared>,
) -> Result<Next, Answer> {
    let accept = accept_key(req)?;
    let ctx = session.ctx.clone();
    write_switching(&mut wire.out, &accept);
    if wire.flush().is_err() {
        return Ok(Next::Close);
    }
    // Frames the client sent right behind its handshake are the session's.
    let leftover = wire.take_buffered();
    let Ok(stream) = wire.stream().try_clone() else {
        return Ok(Next::Close);
    };
    let code = ws::run(stream, leftover, session, Arc::clone(shared));
    access::session(req, started, &ctx, code);
    Ok(Next::Close)
}

/// A Sec-WebSocket-Key is base64 of 16 bytes: 22 characters and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::tests::head;
    use crate::http::service::tests::{mask_date, render};

    const BASE: &str = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n";
    const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    const V13: &str = "Sec-WebSocket-Version: 13\r\n";

    fn check(fields: &str) -> Result<String, Answer> {
        let raw = format!("{BASE}{fields}\r\n");
        let h = head(&raw);
        accept_key(&Request::new(raw.as_bytes(), &h))
    }

    /// The status, one header and the body of a refusal, and that it closes.
    fn refusal(fields: &str) -> (u16, Option<String>, String) {
        let raw = format!("{BASE}{fields}\r\n");
        let answer = check(fields).expect_err("refused");
        let (text, next) = render(&answer, &raw, false);
        assert_eq!(next, Next::Close, "a refused handshake closes: {text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        let status = text[9..12].parse().unwrap();
        let version = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("sec-websocket-version: "))
            .map(str::to_string);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        (status, version, body)
    }

    #[test]
    fn a_good_handshake_gets_the_rfc_accept_value() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            check(&format!("{KEY}{V13}")).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            check("Sec-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ== \r\nSec-WebSocket-Version: 13 \r\n").unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "surrounding blanks are not part of the values"
        );
        let mut out = Vec::new();
        write_switching(&mut out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            mask_date(&String::from_utf8(out).unwrap()),
            "HTTP/1.1 101 Switching Protocols\r\ndate: *\r\nserver: agentcore-rt\r\nupgrade: websocket\r\n\
             connection: Upgrade\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
    }

    #[test]
    fn a_missing_or_other_version_is_426_naming_13() {
        let expected = (
            426,
            Some("13".to_string()),
            r#"{"error":"Upgrade Required","details":"unsupported Sec-WebSocket-Version (13 is supported)"}"#
                .to_string(),
        );
        assert_eq!(refusal(KEY), expected);
        assert_eq!(refusal(&format!("{KEY}Sec-WebSocket-Version: 8\r\n")), expected);
        assert_eq!(
            refusal(&format!("{KEY}Sec-WebSocket-Version: 13, 8\r\n")),
            expected
        );
    }

    #[test]
    fn a_missing_or_malformed_key_is_400() {
        let expected = (
            400,
            None,
            r#"{"error":"Bad Request","details":"missing or invalid Sec-WebSocket-Key"}"#.to_string(),
        );
        assert_eq!(refusal(V13), expected);
        for key in [
            "dGhlIHNhbXBsZSBub25jZQ=",   // 23 characters
            "dGhlIHNhbXBsZSBub25jZQ==x", // 25
            "dGhlIHNhbXBsZSBub25jZQAA",  // no padding
            "dGhlIHNhbXBsZSBub25j*Q==",  // not base64
            "",
        ] {
            assert_eq!(
                refusal(&format!("{V13}Sec-WebSocket-Key: {key}\r\n")),
                expected,
                "key {key:?}"
            );
        }
    }

    #[test]
    fn an_upgrade_with_a_body_is_400() {
        let (status, _, body) = refusal(&format!("{KEY}{V13}Content-Length: 2\r\n"));
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"error":"Bad Request","details":"a WebSocket upgrade request cannot carry a body"}"#
        );
        let (status, _, _) = refusal(&format!("{KEY}{V13}Transfer-Encoding: chunked\r\n"));
        assert_eq!(status, 400);
    }
}
