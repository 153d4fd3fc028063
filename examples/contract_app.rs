//! The Rust twin of the SDK reference app (`scripts/record/agentcore_app.py`), the app the
//! contract vectors (`tests/fixtures/vectors/agentcore-observed.json`) were recorded from.
//!
//! ```text
//! cargo run --release --example contract_app -- PORT MODE
//! ```
//!
//! Binds 127.0.0.1 only. MODE picks the handlers, with the reference's names:
//! `dispatch` (default; one entrypoint that dispatches on `payload["case"]`), `sync`, `syncgen`,
//! `asyncgen`, `noentry` (no entrypoint, no websocket handler), `customping` (dispatch + a ping
//! handler saying "HealthyBusy"), `badping` (dispatch + a ping handler that fails) and `debug`
//! (dispatch with the SDK's debug actions on).
//!
//! The contract test (`tests/it/contract.rs`) includes this file and serves [`build_app`]
//! in-process, so the replayed vectors and this example exercise the same handlers.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use agentcore_rt::app::{EventSink, IntoOutput, Output, PingStatus, Response, Tasks, WebSocket, WsMessage};
use agentcore_rt::{App, Error, RequestContext};
use serde::Serialize;
use serde_json::{Value, json};

/// The modes of the reference app, in its order.
#[allow(dead_code)] // used by `main`, not by the test that includes this file
pub const MODES: &[&str] = &[
    "dispatch",
    "sync",
    "syncgen",
    "asyncgen",
    "noentry",
    "customping",
    "badping",
    "debug",
];

/// Nesting limit for the JSON the websocket handler parses (the HTTP body limit is the App's).
const WS_JSON_MAX_DEPTH: usize = 128;

/// The reference's pydantic `Model(a: int, b: str)`: a result that serializes itself, which the
/// SDK turns into JSON through `model_dump()`, and the App through `Serialize` (`IntoOutput`).
#[derive(Serialize)]
struct Model {
    a: i64,
    b: &'static str,
}

/// The reference's dataclass `DC(x: int, when: str)` (the SDK uses `asdict`).
#[derive(Serialize)]
struct Dc {
    x: i64,
    when: &'static str,
}

/// The reference's `Opaque`: not JSON-serializable, only printable. The SDK falls back to
/// `str(obj)`; in Rust the handler makes that choice itself, with `to_string()`.
struct Opaque;

impl fmt::Display for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueStr")
    }
}

/// Builds the app the reference builds for `mode`. Like the reference, an unknown mode gets no
/// entrypoint but does get the websocket handler (`main` refuses unknown modes before this).
pub fn build_app(mode: &str) -> App {
    let mut app = App::new();
    app.debug(mode == "debug");
    match mode {
        "dispatch" | "customping" | "badping" | "debug" => {
            let tasks = app.tasks();
            app.entrypoint(move |payload, ctx| dispatch(&tasks, payload, ctx));
        }
        "sync" => {
            app.entrypoint(sync_handler);
        }
        "syncgen" => {
            app.entrypoint(syncgen_handler);
        }
        "asyncgen" => {
            app.entrypoint(asyncgen_handler);
        }
        _ => {}
    }
    if mode == "customping" {
        app.ping(|| Ok(PingStatus::HealthyBusy));
    }
    if mode == "badping" {
        app.ping(|| Err(Error::new("ping broken").with_type("RuntimeError")));
    }
    if mode != "noentry" {
        app.websocket(ws_handler);
    }
    app
}

/// What the reference's `ctx_dump` returns: the request context and the SDK's context variables
/// (here all fields of [`RequestContext`]).
fn ctx_dump(ctx: &RequestContext) -> Value {
    json!({
        "session_id": ctx.session_id,
        "request_headers": ctx.request_headers_json(),
        // Python checks `context.request is not None`; a Rust handler is only ever called for a
        // real request, so this is always true.
        "has_request": true,
        "ctx_request_id": ctx.request_id,
        "ctx_session_id": ctx.session_id,
        "wat": ctx.workload_access_token,
        "oauth2_cb": ctx.oauth2_callback_url,
    })
}

/// The `dispatch` entrypoint: `payload["case"]` picks the behaviour.
fn dispatch(tasks: &Tasks, payload: Value, ctx: &RequestContext) -> Result<Output, Error> {
    // `payload.get("case") if isinstance(payload, dict) else None`: a JSON null counts as absent.
    let case = match payload.get("case") {
        None | Some(Value::Null) => return Ok(json!({ "echo": payload }).into()),
        Some(case) => case.clone(),
    };
    // A non-string case matches nothing and ends as `unknown_case`, as in Python.
    let output: Output = match case.as_str().unwrap_or_default() {
        "ctx" => ctx_dump(ctx).into(),
        "raise" => return Err(Error::new("boom from handler").with_type("ValueError")),
        "http_exc" => return Err(Error::http(418, "teapot detail")),
        "str" => json!("hello string").into(),
        "none" => Value::Null.into(),
        "int" => json!(42).into(),
        "unicode" => json!({"msg": "héllo ☃ 日本"}).into(),
        "pydantic" => Model { a: 1, b: "x" }.into_output()?,
        "dataclass" => Dc { x: 1, when: "t" }.into_output()?,
        // Python-only, left out on purpose (they fall through to `unknown_case`):
        // - "datetime": the SDK cannot serialize a datetime, falls back to `str()` of the whole
        //   dict and answers its Python repr (`"{'t': datetime.datetime(2024, ...)}"`);
        // - "bytes": the same fallback gives the bytes repr `"b'rawbytes'"`;
        // - "nan": Python writes the non-standard JSON literal `NaN`; serde_json has no NaN
        //   value (it would be `null`), and a Rust runtime must not emit invalid JSON.
        "set" => json!({ "s": BTreeSet::from([1]) }).into(),
        "opaque" => Value::String(Opaque.to_string()).into(),
        "response" => Response::json(404, &json!({"custom": true}))
            .with_header("X-Custom", "1")
            .into(),
        "plain" => Response::text(201, "plain text").into(),
        "sleep" => {
            let seconds = seconds_arg(&payload, 1.0)?;
            std::thread::sleep(seconds);
            let slept = payload.get("s").cloned().unwrap_or(json!(1));
            json!({ "slept": slept }).into()
        }
        "bg" => {
            let seconds = seconds_arg(&payload, 2.0)?;
            // `@app.async_task async def background(seconds)`: tracked (HealthyBusy) from start
            // to end, under the function's name.
            let busy = tasks.guard("background");
            std::thread::Builder::new()
                .name("background".into())
                .spawn(move || {
                    let _busy = busy;
                    std::thread::sleep(seconds);
                })
                .map_err(|e| Error::new(format!("cannot start background task: {e}")))?;
            json!({"started": true}).into()
        }
        "manual_add" => {
            let task_id = tasks.add_async_task("manual", Some(json!({"k": "v"})));
            json!({ "task_id": task_id }).into()
        }
        "manual_done" => {
            let id = task_id_arg(&payload)?;
            json!({ "done": tasks.complete_async_task(id) }).into()
        }
        "stream" => Output::stream(|sink| {
            // A Serialize event between Values: written exactly as its Value would be.
            if send_all(sink, &[json!({"n": 1}), json!("two"), json!(3), Value::Null])
                && sink.send(&Model { a: 4, b: "m" }).is_ok()
            {
                send_all(sink, &[json!({"multi": "line\nbreak"})]);
            }
            Ok(())
        }),
        "stream_err" => Output::stream(|sink| {
            if sink.send(&json!({"n": 1})).is_err() {
                return Ok(());
            }
            Err(Error::new("stream exploded").with_type("RuntimeError"))
        }),
        _ => json!({ "unknown_case": case }).into(),
    };
    Ok(output)
}

/// The `sync` entrypoint (a plain `def handler(payload)`).
fn sync_handler(payload: Value, _ctx: &RequestContext) -> Result<Value, Error> {
    if payload.get("case").and_then(Value::as_str) == Some("raise") {
        // `str(KeyError("sync key missing"))` keeps the quotes.
        return Err(Error::new("'sync key missing'").with_type("KeyError"));
    }
    Ok(json!({"sync": true, "payload": payload}))
}

/// The `syncgen` entrypoint (a sync generator).
fn syncgen_handler(payload: Value, ctx: &RequestContext) -> Result<Output, Error> {
    let session_id = ctx.session_id.clone();
    Ok(Output::stream(move |sink| {
        if !send_all(sink, &[json!({"chunk": 1}), json!("s")]) {
            return Ok(());
        }
        if payload.get("case").and_then(Value::as_str) == Some("raise") {
            return Err(Error::new("syncgen fail").with_type("ValueError"));
        }
        send_all(sink, &[json!({"chunk": 3, "sid": session_id})]);
        Ok(())
    }))
}

/// The `asyncgen` entrypoint (an async generator that pauses 50 ms after each event).
fn asyncgen_handler(payload: Value, _ctx: &RequestContext) -> Result<Output, Error> {
    Ok(Output::stream(move |sink| {
        for i in 0..3 {
            if sink.send(&json!({ "i": i })).is_err() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if payload.get("case").and_then(Value::as_str) == Some("raise") {
            return Err(Error::new("asyncgen fail").with_type("ValueError"));
        }
        send_all(sink, &[json!({"done": true})]);
        Ok(())
    }))
}

/// The `/ws` handler: a hello with the session id and forwarded headers, then an echo of every
/// text message (parsed as JSON when it is JSON); `raise` fails the handler (close 1011),
/// `close` closes with 1000, and a binary frame fails it too (Starlette's `receive_text()`
/// raises `KeyError('text')` on one).
fn ws_handler(ws: &mut WebSocket<'_>, ctx: &RequestContext) -> Result<(), Error> {
    let hello = json!({
        "hello": true,
        "session_id": ctx.session_id,
        "headers": ctx.request_headers_json(),
    });
    if ws.send_json(&hello).is_err() {
        return Ok(());
    }
    loop {
        let text = match ws.recv() {
            Ok(Some(WsMessage::Text(text))) => text,
            Ok(Some(WsMessage::Binary(_))) => {
                return Err(Error::new("'text'").with_type("KeyError"));
            }
            // The client went away: Starlette raises WebSocketDisconnect, which the SDK swallows.
            Ok(None) | Err(_) => return Ok(()),
        };
        match text.as_str() {
            "raise" => return Err(Error::new("ws handler boom").with_type("RuntimeError")),
            "close" => {
                let _ = ws.close(1000, "");
                return Ok(());
            }
            _ => {}
        }
        let data = agentcore_rt::internals::pyjson::parse_body(text.as_bytes(), WS_JSON_MAX_DEPTH)
            .unwrap_or(Value::String(text));
        if ws.send_json(&json!({ "echo": data })).is_err() {
            return Ok(());
        }
    }
}

/// Sends events until the client goes away; false when it did (the SDK cancels the producer
/// then, so the handler just stops).
fn send_all(sink: &mut EventSink<'_>, events: &[Value]) -> bool {
    events.iter().all(|event| sink.send(event).is_ok())
}

/// `float(payload.get("s", default))`, as seconds.
fn seconds_arg(payload: &Value, default: f64) -> Result<Duration, Error> {
    let seconds = match payload.get("s") {
        None => default,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| {
            Error::new(format!("could not convert string to float: '{s}'")).with_type("ValueError")
        })?,
        Some(other) => {
            return Err(Error::new(format!(
                "float() argument must be a string or a real number, not {other}"
            ))
            .with_type("TypeError"));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        Error::new(format!("sleep length must be non-negative: {seconds}")).with_type("ValueError")
    })
}

/// `int(payload["id"])`.
fn task_id_arg(payload: &Value) -> Result<i64, Error> {
    match payload.get("id") {
        None => Err(Error::new("'id'").with_type("KeyError")),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.trunc() as i64))
            .ok_or_else(|| Error::new(format!("task id out of range: {n}")).with_type("ValueError")),
        Some(Value::String(s)) => s.trim().parse::<i64>().map_err(|_| {
            Error::new(format!("invalid literal for int() with base 10: '{s}'")).with_type("ValueError")
        }),
        Some(other) => Err(Error::new(format!(
            "int() argument must be a string or a real number, not {other}"
        ))
        .with_type("TypeError")),
    }
}

#[allow(dead_code)] // the contract test includes this file as a module and never calls main
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = args.first().map_or(Ok(18080), |p| p.parse::<u16>());
    let mode = args.get(1).map_or("dispatch", String::as_str);
    let Ok(port) = port else {
        eprintln!("usage: contract_app [PORT] [MODE]: PORT must be a number from 0 to 65535");
        std::process::exit(2);
    };
    if !MODES.contains(&mode) {
        eprintln!("usage: contract_app [PORT] [MODE]: unknown mode {mode:?}; one of {MODES:?}");
        std::process::exit(2);
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Err(e) = build_app(mode).run(addr) {
        eprintln!("contract_app: {e}");
        std::process::exit(1);
    }
}
