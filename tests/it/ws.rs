//! `/ws` with the real Python `websockets` client: text, binary, ping/pong, close codes, large
//! messages, protocol violations, and refused handshakes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use agentcore_rt::App;
use agentcore_rt::Server;
use agentcore_rt::app::WsMessage;
use agentcore_rt::config::ServerConfig;
use serde_json::{Value, json};

use crate::support::python_ws_client as drive;
use crate::support::server::{Conn, get};

fn echo_server(config: ServerConfig) -> Server {
    agentcore_rt::logging::set_min_level(None);
    let mut app = App::new();
    app.config(config);
    app.entrypoint(|p: Value, _| Ok::<_, agentcore_rt::Error>(p));
    app.websocket(|ws, ctx| {
        ws.send_json(
            &json!({"hello": true, "session_id": ctx.session_id, "headers": ctx.request_headers_json()}),
        )?;
        while let Some(msg) = ws.recv()? {
            let reply = match msg {
                WsMessage::Text(t) if t == "raise" => {
                    return Err(agentcore_rt::Error::new("ws handler boom"));
                }
                WsMessage::Text(t) if t.starts_with("close:") => {
                    let code = t[6..].parse().unwrap_or(1000);
                    ws.close(code, "bye")?;
                    return Ok(());
                }
                WsMessage::Text(t) if t == "burst" => {
                    for i in 0..200 {
                        ws.send_text(format!("event {i}"))?;
                    }
                    continue;
                }
                WsMessage::Text(t) if t == "done" => return Ok(()),
                WsMessage::Text(t) => WsMessage::Text(if t.len() > 1000 {
                    format!("len {}", t.len())
                } else {
                    t
                }),
                WsMessage::Binary(b) => WsMessage::Binary(b.into_iter().rev().collect()),
            };
            match reply {
                WsMessage::Text(t) => ws.send_text(t),
                WsMessage::Binary(b) => ws.send_binary(b),
            }?;
        }
        Ok(())
    });
    app.bind("127.0.0.1:0").unwrap()
}

#[test]
fn text_binary_ping_and_normal_close() {
    let server = echo_server(ServerConfig::default());
    let mut steps = vec![
        json!({"op": "recv"}),
        json!({"op": "send", "text": "héllo"}),
        json!({"op": "recv"}),
        json!({"op": "send", "binary_hex": "010203"}),
        json!({"op": "recv"}),
        json!({"op": "ping"}),
        json!({"op": "send", "text": "burst"}),
    ];
    steps.extend((0..200).map(|_| json!({"op": "recv"})));
    steps.push(json!({"op": "close", "code": 1000}));
    let out = drive(
        server.local_addr(),
        Value::Array(steps),
        json!({"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": "ws-sess", "Authorization": "Bearer w"}),
    );
    let r = out["results"].as_array().unwrap();
    let hello: Value = serde_json::from_str(r[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        hello,
        json!({"hello": true, "session_id": "ws-sess", "headers": {"Authorization": "Bearer w"}})
    );
    assert_eq!(r[2]["text"], "héllo");
    assert_eq!(r[4]["binary_hex"], "030201");
    assert_eq!(r[5]["pong"], true);
    for i in 0..200 {
        assert_eq!(r[7 + i]["text"], format!("event {i}"), "messages arrive in order");
    }
    assert_eq!(out["close_code"], 1000);
    assert_eq!(get(server.local_addr(), "/ping").status, 200);
    server.shutdown();
}

#[test]
fn close_codes_from_the_handler() {
    let server = echo_server(ServerConfig::default());
    let a = server.local_addr();
    let out = drive(
        a,
        json!([{"op": "recv"}, {"op": "send", "text": "raise"}, {"op": "wait_closed"}]),
        json!({}),
    );
    assert_eq!(
        out["close_code"], 1011,
        "a failing handler closes with 1011, as the SDK"
    );
    let out = drive(
        a,
        json!([{"op": "recv"}, {"op": "send", "text": "close:4001"}, {"op": "wait_closed"}]),
        json!({}),
    );
    assert_eq!(out["close_code"], 4001);
    let out = drive(
        a,
        json!([{"op": "recv"}, {"op": "send", "text": "done"}, {"op": "wait_closed"}]),
        json!({}),
    );
    assert_eq!(out["close_code"], 1000, "a handler that returns closes normally");
    server.shutdown();
}

#[test]
fn large_messages_up_to_the_limit_and_1009_beyond() {
    let server = echo_server(ServerConfig {
        ws_max_message_bytes: 1 << 20,
        ..ServerConfig::default()
    });
    let a = server.local_addr();
    let out = drive(
        a,
        json!([{"op": "recv"}, {"op": "send_big", "size": 500_000}, {"op": "recv"}]),
        json!({}),
    );
    assert_eq!(out["results"][2]["text"], "len 500000");
    let out = drive(
        a,
        json!([{"op": "recv"}, {"op": "send_big", "size": 2_000_000}, {"op": "wait_closed"}]),
        json!({}),
    );
    assert_eq!(out["close_code"], 1009);
    assert_eq!(get(a, "/ping").status, 200);
    server.shutdown();
}

fn handshake(addr: SocketAddr, path: &str, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
    )
    .unwrap();
    s
}

const GOOD: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

fn status_of(s: &mut TcpStream) -> u16 {
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n])
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn bad_handshakes_are_refused() {
    let server = echo_server(ServerConfig::default());
    let a = server.local_addr();
    assert_eq!(status_of(&mut handshake(a, "/ws", GOOD)), 101);
    assert_eq!(
        status_of(&mut handshake(a, "/nope", GOOD)),
        403,
        "other paths: 403 like uvicorn"
    );
    assert_eq!(status_of(&mut handshake(a, "/ws/", GOOD)), 403);
    assert_eq!(
        status_of(&mut handshake(a, "/ws", "Sec-WebSocket-Version: 13\r\n")),
        400,
        "missing key"
    );
    assert_eq!(
        status_of(&mut handshake(
            a,
            "/ws",
            "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n"
        )),
        400
    );
    assert_eq!(
        status_of(&mut handshake(
            a,
            "/ws",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
        )),
        426
    );
    assert_eq!(get(a, "/ping").status, 200);
    server.shutdown();

    let mut app = App::new();
    app.entrypoint(|p: Value, _| Ok::<_, agentcore_rt::Error>(p));
    let no_ws = app.bind("127.0.0.1:0").unwrap();
    assert_eq!(
        status_of(&mut handshake(no_ws.local_addr(), "/ws", GOOD)),
        403,
        "no handler: 403"
    );
    no_ws.shutdown();
}

/// A raw client frame: FIN + opcode, masked unless `mask` is false.
fn frame(opcode: u8, fin: bool, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    let m = if mask { 0x80 } else { 0 };
    assert!(payload.len() < 126);
    f.push(m | payload.len() as u8);
    if mask {
        let key = [1u8, 2, 3, 4];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Reads until the server's close frame and returns its code.
fn close_code(s: &mut TcpStream) -> Option<u16> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    let body = all.split(|_| false).next().unwrap();
    let start = body.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut i = start;
    while i + 2 <= body.len() {
        let opcode = body[i] & 0x0f;
        let len = usize::from(body[i + 1] & 0x7f);
        if opcode == 0x8 {
            return Some(u16::from_be_bytes([body[i + 2], body[i + 3]]));
        }
        i += 2 + len;
    }
    None
}

#[test]
fn protocol_violations_close_with_the_right_code() {
    let server = echo_server(ServerConfig::default());
    let a = server.local_addr();
    let cases: [(&str, Vec<u8>, u16); 3] = [
        ("unmasked client frame", frame(0x1, true, b"hi", false), 1002),
        ("fragmented control frame", frame(0x9, false, b"p", true), 1002),
        ("invalid UTF-8 text", frame(0x1, true, &[0xff, 0xfe], true), 1007),
    ];
    for (what, bytes, code) in cases {
        let mut s = handshake(a, "/ws", GOOD);
        s.write_all(&bytes).unwrap();
        assert_eq!(close_code(&mut s), Some(code), "{what}");
    }
    // A client that vanishes without a close frame does not leak the session.
    let s = handshake(a, "/ws", GOOD);
    drop(s);
    let mut c = Conn::open(a);
    c.send(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    server.shutdown();
}

#[test]
fn websocket_sessions_have_their_own_threads_and_limit() {
    // One invocation worker, busy; WebSockets still open, up to MAX_WEBSOCKETS.
    let server = echo_server(ServerConfig {
        worker_threads: 1,
        max_invocations: 1,
        max_websockets: 1,
        ..ServerConfig::default()
    });
    let a = server.local_addr();
    let first = std::thread::spawn(move || {
        drive(
            a,
            json!([{"op": "recv"}, {"op": "send", "text": "hi"}, {"op": "recv"}, {"op": "close", "code": 1000}]),
            json!({}),
        )
    });
    let out = first.join().unwrap();
    assert_eq!(out["results"][2]["text"], "hi");
    let mut held = handshake(a, "/ws", GOOD);
    assert_eq!(status_of(&mut held), 101);
    let mut second = handshake(a, "/ws", GOOD);
    assert_eq!(
        close_code(&mut second),
        Some(1013),
        "past MAX_WEBSOCKETS: try again later"
    );
    drop(held);
    server.shutdown();
}
