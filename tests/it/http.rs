//! The HTTP/1.1 layer over real sockets: framing, keep-alive, pipelining, limits, timeouts,
//! malformed input, and that the server keeps serving afterwards. Most tests run the real
//! binary; those that need special handlers (panics, slow or streaming ones) bind an `App`
//! in-process.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use agentcore_rt::app::{Output, Response};
use agentcore_rt::config::ServerConfig;
use agentcore_rt::{App, Error};
use serde_json::{Value, json};

use crate::support::server::{Binary, Conn, eventually, get, post_json, request};

/// The echo test app (in-process) still answers `/ping` and invocations.
fn assert_serving(addr: SocketAddr) {
    let r = get(addr, "/ping");
    assert_eq!(r.status, 200, "server stopped answering /ping");
    let r = post_json(addr, "/invocations", r#"{"still": "alive"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"echo": {"still": "alive"}}"#);
}

/// The binary (started with `MODEL_PROVIDER=openai` and no OpenAI variables: no model) still
/// answers `/ping`, and invocations with its JSON error.
fn assert_binary_serving(addr: SocketAddr) {
    assert_eq!(get(addr, "/ping").status, 200, "server stopped answering /ping");
    let r = post_json(addr, "/invocations", r#"{"query": "still there?"}"#);
    assert_eq!(r.status, 503);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("OPENAI_API_KEY"), "{error}");
    assert!(
        error.contains("MODEL_PROVIDER=bedrock"),
        "both providers are named: {error}"
    );
}

/// The in-process echo app, bound on a free port; shut down when dropped.
struct Echo(agentcore_rt::Server);

impl Echo {
    fn start(config: ServerConfig) -> Echo {
        Echo(in_process(config))
    }

    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

fn limits(body: usize, head: usize, headers: usize) -> ServerConfig {
    ServerConfig {
        max_body_bytes: body,
        max_head_bytes: head,
        max_headers: headers,
        ..quick_config()
    }
}

/// Channels of the tests that wait for `sleep` invocations to start, by the name those
/// invocations carry in `"report"` ([`reports`]).
static STARTED: Mutex<Vec<(String, mpsc::Sender<()>)>> = Mutex::new(Vec::new());

/// A receiver that gets one message from each `sleep` invocation with `"report": name` as its
/// handler starts (before it sleeps).
fn reports(name: &str) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    STARTED.lock().unwrap().push((name.to_string(), tx));
    rx
}

/// A test app: echo, plus cases that panic, sleep, stream or fail.
fn test_app(config: ServerConfig) -> App {
    let mut app = App::new();
    app.config(config);
    app.entrypoint(|payload: Value, ctx| -> Result<Output, Error> {
        let case = payload.get("case").and_then(Value::as_str).unwrap_or("");
        match case {
            "panic" => panic!("boom in handler"),
            "sleep" => {
                let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(100);
                if let Some(name) = payload.get("report").and_then(Value::as_str) {
                    for (_, tx) in STARTED.lock().unwrap().iter().filter(|(n, _)| n == name) {
                        let _ = tx.send(());
                    }
                }
                std::thread::sleep(Duration::from_millis(ms));
                Ok(json!({"slept": ms}).into())
            }
            "quiet_stream" => {
                // One event, then silence (a tool running, a model thinking) until the client
                // leaves: reports how long that took to be noticed, if it was.
                let name = payload
                    .get("report")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let cancel = ctx.cancel_token().clone();
                Ok(Output::stream(move |sink| {
                    sink.send(&json!({"first": true}))?;
                    let sent = Instant::now();
                    while !cancel.is_cancelled() && sent.elapsed() < Duration::from_secs(10) {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    if cancel.is_cancelled() {
                        for (_, tx) in STARTED.lock().unwrap().iter().filter(|(n, _)| *n == name) {
                            let _ = tx.send(());
                        }
                    }
                    Ok(())
                }))
            }
            "stream" => {
                let n = payload.get("n").and_then(Value::as_u64).unwrap_or(3);
                Ok(Output::stream(move |sink| {
                    for i in 0..n {
                        sink.send(&json!({"i": i}))?;
                    }
                    Ok(())
                }))
            }
            "stream_until_gone" => {
                let flag = ctx.cancel_token().clone();
                Ok(Output::stream(move |sink| {
                    let mut i = 0u64;
                    while sink.send(&json!({"i": i, "pad": "x".repeat(1024)})).is_ok() {
                        i += 1;
                    }
                    assert!(flag.is_cancelled());
                    Err(Error::new("client went away"))
                }))
            }
            "stream_error" => Ok(Output::stream(|sink| {
                let _ = sink.send(&json!({"n": 1}));
                Err(Error::new("stream exploded").with_type("RuntimeError"))
            })),
            "error" => Err(Error::http(418, "teapot detail")),
            "response" => Ok(Response::json(404, &json!({"custom": true}))
                .with_header("X-Custom", "1")
                .into()),
            _ => Ok(json!({"echo": payload}).into()),
        }
    });
    app
}

fn in_process(config: ServerConfig) -> agentcore_rt::Server {
    // In-process servers log to this test binary's stdout; the binary's logs are tested instead.
    agentcore_rt::logging::set_min_level(None);
    test_app(config).bind("127.0.0.1:0").unwrap()
}

fn quick_config() -> ServerConfig {
    ServerConfig {
        drain_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    }
}

#[test]
fn ping_head_and_routing_basics() {
    let bin = Binary::start(&[]);
    let r = get(bin.addr, "/ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["status"], "Healthy");
    assert!(body["time_of_last_update"].as_u64().unwrap() > 1_700_000_000);
    let h = request(bin.addr, "HEAD", "/ping", &[], b"");
    assert_eq!(
        (h.status, h.header("content-length")),
        (200, Some(r.body.len().to_string().as_str()))
    );
    assert!(h.body.is_empty());
    let r = request(bin.addr, "POST", "/ping", &[], b"");
    assert_eq!(
        (r.status, r.header("allow"), r.text().as_str()),
        (405, Some("HEAD, GET"), "Method Not Allowed")
    );
    let r = get(bin.addr, "/invocations");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = get(bin.addr, "/nope");
    assert_eq!(
        (r.status, r.header("content-type"), r.text().as_str()),
        (404, Some("text/plain; charset=utf-8"), "Not Found")
    );
    let r = get(bin.addr, "/ws");
    assert_eq!(r.status, 404);
    let r = post_json(bin.addr, "/invocations/", "{}");
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(format!("http://{}/invocations", bin.addr).as_str())
    );
    let r = get(bin.addr, "/p%69ng?x=1");
    assert_eq!(
        r.status, 200,
        "percent-encoded path and query are routed like Starlette"
    );
}

#[test]
fn invocation_bodies_and_errors_as_the_sdk() {
    let bin = Echo::start(quick_config());
    let r = post_json(
        bin.addr(),
        "/invocations",
        r#"{"prompt": "héllo ☃", "n": [1, 2.5, 1e5]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"{"echo": {"prompt": "héllo ☃", "n": [1, 2.5, 100000.0]}}"#
    );
    let r = post_json(bin.addr(), "/invocations", "{bad json");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        r#"{"error":"Invalid JSON","details":"Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}"#
    );
    let r = request(bin.addr(), "POST", "/invocations", &[], b"");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["details"], "Expecting value: line 1 column 1 (char 0)");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = post_json(bin.addr(), "/invocations", &deep);
    assert_eq!(r.status, 400, "10 000-deep JSON is refused, not a crash");
    assert_serving(bin.addr());
}

#[test]
fn keep_alive_and_pipelining() {
    let bin = Echo::start(quick_config());
    let mut c = Conn::open(bin.addr());
    for i in 0..3 {
        let body = format!(r#"{{"i": {i}}}"#);
        c.send(
            format!(
                "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let r = c.read_response(false);
        assert_eq!(r.text(), format!(r#"{{"echo": {{"i": {i}}}}}"#));
        assert_eq!(r.header("connection"), None);
    }
    // Three requests in one write: three answers, in order.
    let mut batch = Vec::new();
    batch.extend_from_slice(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    batch.extend_from_slice(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
    batch.extend_from_slice(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send(&batch);
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(c.read_response(false).text(), r#"{"echo": {"a": 1}}"#);
    assert_eq!(c.read_response(false).status, 404);
    // Connection: close is honoured.
    c.send(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let bin = Echo::start(quick_config());
    let mut c = Conn::open(bin.addr());
    c.send(b"GET /ping HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
    assert!(c.closed_within(Duration::from_secs(5)));
    let mut c = Conn::open(bin.addr());
    c.send(b"GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"POST /invocations HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(c.read_response(false).text(), r#"{"echo": {}}"#);
}

#[test]
fn expect_100_continue_and_chunked_bodies() {
    let bin = Echo::start(quick_config());
    let mut c = Conn::open(bin.addr());
    c.send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 8\r\n\r\n");
    let interim = c.read_response(false);
    assert_eq!(interim.status, 100, "100 Continue before the body is sent");
    c.send(b"{\"a\": 1}");
    assert_eq!(c.read_response(false).text(), r#"{"echo": {"a": 1}}"#);
    // Chunked, with an extension and a trailer, then a pipelined request right behind it.
    c.send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"b\"\r\n5\r\n: 22}\r\n0\r\nX-T: 1\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response(false).text(), r#"{"echo": {"b": 22}}"#);
    assert_eq!(c.read_response(false).status, 200);
    // The same body dribbled one byte at a time.
    let raw =
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n";
    for b in raw.iter() {
        c.send(std::slice::from_ref(b));
    }
    assert_eq!(c.read_response(false).text(), r#"{"echo": [1]}"#);
}

#[test]
fn unread_bodies_never_become_the_next_request() {
    let bin = Echo::start(quick_config());
    let mut c = Conn::open(bin.addr());
    let smuggled = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send(
        format!(
            "POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response(false).status, 405);
    c.send(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        c.read_response(false).status,
        200,
        "the body was consumed, not parsed as a request"
    );
    c.send(
        format!(
            "GET /whatever HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response(false).status, 404);
    c.send(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response(false).status, 200);
}

/// Sends `raw` on a fresh connection; expects `status`, a JSON error body and a close.
fn expect_rejection(addr: SocketAddr, raw: &[u8], status: u16) -> Value {
    let mut c = Conn::open(addr);
    c.send(raw);
    let r = c.read_response(false);
    assert_eq!(
        r.status,
        status,
        "for {:?}: {}",
        String::from_utf8_lossy(raw),
        r.text()
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "connection must close after a framing error"
    );
    r.json()
}

#[test]
fn malformed_and_oversized_requests() {
    let bin = Echo::start(limits(1024, 4096, 32));
    let a = bin.addr();
    let e = expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        400,
    );
    assert_eq!(e["error"], "Bad Request");
    expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        400,
    );
    expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        400,
    );
    expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n",
        400,
    );
    expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    );
    expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    );
    expect_rejection(a, b"GARBAGE\r\n\r\n", 400);
    expect_rejection(a, b"GET /ping HTTP/1.1\r\n\r\n", 400);
    expect_rejection(a, b"GET /ping HTTP/9.9\r\nHost: x\r\n\r\n", 505);
    expect_rejection(a, b"GET /ping HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417);
    let big = format!(
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(5000)
    );
    expect_rejection(a, big.as_bytes(), 431);
    let many: String = (0..40).map(|i| format!("X-H{i}: v\r\n")).collect();
    expect_rejection(
        a,
        format!("GET /ping HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
        431,
    );
    // Too large: refused from the announced length, before reading the body.
    let e = expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n",
        413,
    );
    assert!(e["details"].as_str().unwrap().contains("MAX_BODY_BYTES"));
    let mut chunked = b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("200\r\n{}\r\n", "x".repeat(512)).as_bytes());
    }
    expect_rejection(a, &chunked, 413);
    // With Expect: 100-continue, a too-large body gets 413 instead of 100.
    expect_rejection(
        a,
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4096\r\n\r\n",
        413,
    );
    // A pipelined good request before a bad one is still answered.
    let mut c = Conn::open(a);
    c.send(
        b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nContent-Length: x\r\nHost: x\r\n\r\n",
    );
    assert_eq!(c.read_response(false).status, 200);
    assert_eq!(c.read_response(false).status, 400);
    assert_serving(a);
}

#[test]
fn silent_and_slow_clients_time_out() {
    let ms300 = Duration::from_millis(300);
    let bin = Echo::start(ServerConfig {
        idle_timeout: ms300,
        head_timeout: ms300,
        body_timeout: ms300,
        ..quick_config()
    });
    // Idle keep-alive connection: closed without a response.
    let mut c = Conn::open(bin.addr());
    assert!(c.closed_within(Duration::from_secs(10)));
    // A head that trickles in too slowly: 408 and close.
    let mut c = Conn::open(bin.addr());
    c.send(b"GET /ping HTTP/1.1\r\nHo");
    let r = c.read_response(false);
    assert_eq!(r.status, 408);
    assert!(c.closed_within(Duration::from_secs(5)));
    // A body that stalls: 408.
    let mut c = Conn::open(bin.addr());
    c.send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\"");
    assert_eq!(c.read_response(false).status, 408);
    assert_serving(bin.addr());
}

#[test]
fn handler_panics_become_500_and_the_server_keeps_serving() {
    let server = in_process(quick_config());
    let a = server.local_addr();
    for _ in 0..3 {
        let r = post_json(a, "/invocations", r#"{"case": "panic"}"#);
        assert_eq!(r.status, 500);
        assert!(
            r.json()["error"].as_str().unwrap().contains("panicked"),
            "{}",
            r.text()
        );
    }
    let r = post_json(a, "/invocations", r#"{"case": "error"}"#);
    assert_eq!(
        (r.status, r.text().as_str()),
        (418, r#"{"error":"teapot detail"}"#)
    );
    let r = post_json(a, "/invocations", r#"{"case": "response"}"#);
    assert_eq!(
        (r.status, r.header("x-custom"), r.text().as_str()),
        (404, Some("1"), r#"{"custom":true}"#)
    );
    let r = post_json(a, "/invocations", r#"{"x": 1}"#);
    assert_eq!(r.text(), r#"{"echo": {"x": 1}}"#);
    server.shutdown();
}

#[test]
fn sse_streams_one_chunk_per_event_and_errors_as_the_sdk() {
    let server = in_process(quick_config());
    let a = server.local_addr();
    let r = post_json(a, "/invocations", r#"{"case": "stream", "n": 3}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(
        r.chunks,
        vec![
            b"data: {\"i\": 0}\n\n".to_vec(),
            b"data: {\"i\": 1}\n\n".to_vec(),
            b"data: {\"i\": 2}\n\n".to_vec()
        ]
    );
    let r = post_json(a, "/invocations", r#"{"case": "stream_error"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "data: {\"n\": 1}\n\ndata: {\"error\": \"stream exploded\", \"error_type\": \"RuntimeError\", \"message\": \"An error occurred during streaming\"}\n\n"
    );
    // HTTP/1.0: no chunked coding; the body ends when the connection closes.
    let mut c = Conn::open(a);
    c.send(b"POST /invocations HTTP/1.0\r\nContent-Length: 28\r\n\r\n{\"case\": \"stream\", \"n\": 2}  ");
    let r = c.read_response(false);
    assert_eq!(r.text(), "data: {\"i\": 0}\n\ndata: {\"i\": 1}\n\n");
    server.shutdown();
}

#[test]
fn a_client_that_leaves_mid_stream_stops_the_producer() {
    let server = in_process(ServerConfig {
        write_timeout: Duration::from_secs(2),
        ..quick_config()
    });
    let a = server.local_addr();
    {
        let mut c = Conn::open(a);
        c.send(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\n{\"case\": \"stream_until_gone\"}");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut c.reader, &mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"));
        // Drop the connection without reading the stream.
    }
    // The producer notices (its send fails) and the worker frees up: later requests work.
    eventually("server to serve again", Duration::from_secs(20), || {
        post_json(a, "/invocations", r#"{"x": 1}"#).status == 200
    });
    server.shutdown();
}

#[test]
fn ping_answers_while_every_worker_is_busy() {
    let server = in_process(ServerConfig {
        worker_threads: 2,
        max_invocations: 2,
        ..quick_config()
    });
    let a = server.local_addr();
    let running = reports("every_worker_busy");
    let slow: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                post_json(
                    a,
                    "/invocations",
                    r#"{"case": "sleep", "ms": 3000, "report": "every_worker_busy"}"#,
                )
            })
        })
        .collect();
    for _ in 0..2 {
        running
            .recv_timeout(Duration::from_secs(20))
            .expect("both invocations running");
    }
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(get(a, "/ping").status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "pings answered while invocations ran"
    );
    // Past MAX_CONCURRENT_INVOCATIONS: a clear 503.
    let r = post_json(a, "/invocations", r#"{"x": 1}"#);
    assert_eq!(r.status, 503);
    assert!(
        r.json()["details"]
            .as_str()
            .unwrap()
            .contains("MAX_CONCURRENT_INVOCATIONS")
    );
    for t in slow {
        assert_eq!(t.join().unwrap().json(), json!({"slept": 3000}));
    }
    server.shutdown();
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits_zero() {
    // Draining real invocations is covered end to end in tests/it/e2e.rs; here: a clean exit.
    let mut bin = Binary::start(&[("DRAIN_TIMEOUT", "5s"), ("MODEL_PROVIDER", "openai")]);
    assert_binary_serving(bin.addr);
    bin.signal(15);
    let status = bin
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(bin.logs().iter().any(|l| l["message"] == "stopped"));
}

#[test]
fn in_process_shutdown_waits_for_running_invocations() {
    let server = Arc::new(in_process(ServerConfig {
        drain_timeout: Duration::from_secs(10),
        ..ServerConfig::default()
    }));
    let a = server.local_addr();
    let running = reports("shutdown_waits");
    let slow = std::thread::spawn(move || {
        post_json(
            a,
            "/invocations",
            r#"{"case": "sleep", "ms": 800, "report": "shutdown_waits"}"#,
        )
    });
    running
        .recv_timeout(Duration::from_secs(20))
        .expect("the invocation running");
    server.shutdown();
    let started = Instant::now();
    server.wait();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "wait() returned before the invocation finished"
    );
    assert_eq!(slow.join().unwrap().json(), json!({"slept": 800}));
}

#[test]
fn a_busy_port_is_refused() {
    let first = Binary::start(&[("MODEL_PROVIDER", "openai")]);
    let port = first.addr.port().to_string();
    let Err((out, err)) = Binary::try_start(&[("PORT", port.as_str())]) else {
        panic!("a second instance started on a port already in use");
    };
    assert!(
        err.contains("cannot listen on") || out.contains("cannot listen on"),
        "stdout: {out}\nstderr: {err}"
    );
    assert_binary_serving(first.addr);
}

#[test]
fn bad_configuration_names_the_variable() {
    let Err((_, err)) = Binary::try_start(&[("WORKER_THREADS", "lots")]) else {
        panic!("started with a bad value")
    };
    assert!(err.contains("WORKER_THREADS") && err.contains("lots"), "{err}");
}

#[test]
fn cli_help_version_and_healthcheck() {
    let out = std::process::Command::new(crate::support::server::binary_path())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("agentcore-rt {}", env!("CARGO_PKG_VERSION"))
    );
    let out = std::process::Command::new(crate::support::server::binary_path())
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("healthcheck"));
    let out = std::process::Command::new(crate::support::server::binary_path())
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let bin = Binary::start(&[]);
    let port = bin.addr.port().to_string();
    let out = std::process::Command::new(crate::support::server::binary_path())
        .arg("healthcheck")
        .env("PORT", &port)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(bin);
    let out = std::process::Command::new(crate::support::server::binary_path())
        .arg("healthcheck")
        .env("PORT", &port)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "nothing listening: unhealthy");
}

/// `--protocol` is `PROTOCOL` on the command line and wins over the environment's, for `serve`
/// and `healthcheck` alike; a missing or unknown value stops with 2.
#[test]
fn protocol_flag_selects_the_protocol_and_beats_the_environment() {
    let bin = Binary::start_with_args(&["serve", "--protocol", "mcp"], &[("PROTOCOL", "a2a")]);
    let mcp = request(bin.addr, "GET", "/mcp", &[], b"");
    assert_eq!(
        mcp.status,
        405,
        "an MCP server answers GET /mcp with 405: {}",
        mcp.text()
    );
    assert_eq!(mcp.header("allow"), Some("POST"));
    drop(bin);

    let bin = Binary::start_with_args(&["--protocol=a2a"], &[("PROTOCOL", "mcp"), ("A2A_PORT", "0")]);
    let card = request(bin.addr, "GET", "/.well-known/agent-card.json", &[], b"");
    assert_eq!(card.status, 200, "{}", card.text());
    assert!(card.json()["capabilities"].is_object(), "{}", card.text());
    let port = bin.addr.port().to_string();
    // healthcheck reads the protocol's port variable: A2A_PORT for a2a.
    let out = std::process::Command::new(crate::support::server::binary_path())
        .args(["healthcheck", "--protocol", "a2a"])
        .env_clear()
        .env("A2A_PORT", &port)
        .env("PORT", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(bin);

    for (args, says) in [
        (&["--protocol"][..], "--protocol needs a value"),
        (&["serve", "--protocol", "grpc"][..], "PROTOCOL"),
    ] {
        let out = std::process::Command::new(crate::support::server::binary_path())
            .args(args)
            .env_clear()
            .env("PORT", "0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn one_json_log_line_per_request_without_secrets() {
    // Nothing set: the default provider is Bedrock, and without AWS credentials its invocations
    // answer 503 (the AWS keys in the environment would be secrets too, so there are none).
    let bin = Binary::start(&[("AWS_EC2_METADATA_DISABLED", "true")]);
    let r = request(
        bin.addr,
        "POST",
        "/invocations?token=sekret-query",
        &[
            ("Authorization", "Bearer sekret-token"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", "sess-1"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Request-Id", "req-1"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Key", "sekret-custom"),
        ],
        b"{\"query\": \"hi\"}",
    );
    assert_eq!(r.status, 503, "no AWS credentials: {}", r.text());
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("AWS credentials"), "{error}");
    assert!(
        error.contains("OPENAI_API_KEY"),
        "the default says how to pick OpenAI: {error}"
    );
    bin.wait_for_log("the provider choice", |l| {
        l["message"] == "model provider bedrock (MODEL_PROVIDER unset and no OPENAI_API_KEY/OPENAI_BASE_URL)"
    });
    let line = bin.wait_for_log("the invocation", |l| l["requestId"] == "req-1");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/invocations");
    assert_eq!(line["status"], 503);
    assert_eq!(line["sessionId"], "sess-1");
    assert!(line["durationMs"].as_f64().is_some());
    get(bin.addr, "/ping");
    get(bin.addr, "/nope");
    bin.wait_for_log("the 404", |l| l["path"] == "/nope");
    let out = bin.stdout();
    assert!(!out.contains("sekret"), "a secret reached the log:\n{out}");
    assert!(
        !bin.logs().iter().any(|l| l["path"] == "/ping"),
        "pings are not logged by default"
    );
}

#[test]
fn busybox_wget_and_curl_are_happy() {
    let bin = Binary::start(&[]);
    let url = format!("http://{}/ping", bin.addr);
    let busybox = ["busybox", "/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--help").output().is_ok())
        .expect("busybox missing: apt-get install busybox-static (.ci/run does)");
    let out = std::process::Command::new(busybox)
        .args(["wget", "-qO-", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(r#"{"status":"Healthy""#));
    let echo = Echo::start(quick_config());
    let out = std::process::Command::new(busybox)
        .args([
            "wget",
            "-qO-",
            "--post-data",
            r#"{"via": "wget"}"#,
            &format!("http://{}/invocations", echo.addr()),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"echo": {"via": "wget"}}"#
    );
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "@-",
            &format!("http://{}/invocations", echo.addr()),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!(r#"{{"big": "{}"}}"#, "y".repeat(200_000)).as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(r#"{"echo": {"big": "yyy"#));
}

#[test]
fn bearer_auth_protects_invocations_but_not_ping() {
    let bin = Binary::start(&[("AUTH_BEARER_TOKEN", "s3cret")]);
    assert_eq!(get(bin.addr, "/ping").status, 200);
    let r = post_json(bin.addr, "/invocations", "{}");
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")));
    let r = request(
        bin.addr,
        "POST",
        "/invocations",
        &[("Authorization", "Bearer wrong")],
        b"{}",
    );
    assert_eq!(r.status, 401);
    let r = request(
        bin.addr,
        "POST",
        "/invocations",
        &[("Authorization", "Bearer s3cret")],
        b"{}",
    );
    assert_eq!(
        r.status, 400,
        "past the token check: the entrypoint answers (missing query)"
    );
    // The scheme is case-insensitive (RFC 7235 section 2.1): curl users write it in lower case.
    let r = request(
        bin.addr,
        "POST",
        "/invocations",
        &[("Authorization", "bearer s3cret")],
        b"{}",
    );
    assert_eq!(r.status, 400, "a lower-case scheme passes the token check");
    assert!(!bin.stdout().contains("s3cret"));
}

#[test]
fn a_client_leaving_a_quiet_stream_cancels_it_without_waiting_for_the_next_event() {
    let server = in_process(quick_config());
    let noticed = reports("quiet_stream");
    let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = r#"{"case": "quiet_stream", "report": "quiet_stream"}"#;
    let head = format!(
        "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    std::io::Write::write_all(&mut client, format!("{head}{body}").as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\"first\"") {
        let n = std::io::Read::read(&mut client, &mut buf).unwrap();
        assert!(n > 0, "the stream ended before its first event");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(client);
    // The handler writes nothing more, so only watching the socket can tell it the client left.
    assert!(
        noticed.recv_timeout(Duration::from_secs(3)).is_ok(),
        "the quiet stream was not cancelled after its client left"
    );
}
