//! The local OTLP/HTTP receiver (tests/peers/otlp_receiver.py on `.venv-otel`): decodes every
//! export with the official opentelemetry-proto package, optionally checks SigV4 with botocore,
//! and injects faults on request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::peer::PeerProcess;
use super::repo_root;

/// `.venv-otel/bin/python` (opentelemetry-proto, protobuf, botocore).
pub fn otel_python() -> PathBuf {
    let py = repo_root().join(".venv-otel/bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        py.display()
    );
    py
}

/// The receiver process, killed on drop.
pub struct OtlpReceiver {
    _peer: PeerProcess,
    pub port: u16,
}

impl OtlpReceiver {
    /// A receiver taking unsigned exports.
    pub fn start() -> OtlpReceiver {
        OtlpReceiver::with_env(&[])
    }

    /// A receiver with `PEER_*` settings (`PEER_SIGV4_REGION` turns the SigV4 check on).
    pub fn with_env(env: &[(&str, &str)]) -> OtlpReceiver {
        let peer = PeerProcess::start(&otel_python(), "otlp_receiver.py", env, true);
        OtlpReceiver {
            port: peer.port,
            _peer: peer,
        }
    }

    /// The base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.url())
    }

    fn call(&self, method: &str, path: &str, body: &str) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str(body).unwrap()
    }

    /// `{"requests": [{"encoding", "request", "headers", "signed"}], "errors": [..], "attempts": n}`.
    pub fn state(&self) -> Value {
        self.call("GET", "/_requests", "")
    }

    /// Every span received, in order, each with its scope name under `"_scope"`.
    pub fn spans(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for r in self.state()["requests"].as_array().unwrap() {
            for rs in r["request"]["resourceSpans"].as_array().unwrap() {
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    for span in ss["spans"].as_array().unwrap() {
                        let mut span = span.clone();
                        span["_scope"] = ss["scope"]["name"].clone();
                        out.push(span);
                    }
                }
            }
        }
        out
    }

    /// Answers the next `count` exports with `mode` ("500", "503", "429", "slow", "close").
    pub fn fault(&self, mode: &str, count: Option<u64>, extra: Value) {
        let mut f = json!({"mode": mode});
        if let Some(n) = count {
            f["count"] = json!(n);
        }
        if let Value::Object(m) = extra {
            for (k, v) in m {
                f[k] = v;
            }
        }
        self.call("POST", "/_fault", &f.to_string());
    }

    /// Forgets requests, errors and faults.
    pub fn reset(&self) {
        self.call("POST", "/_reset", "");
    }
}

/// A traces URL nothing listens on (a collector that is down).
pub fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1/traces")
}

/// A span as the receiver decoded it (`MessageToDict`, ids in hex, `_scope`), in the console
/// exporter's shape, so the span-tree comparison of [`super::spans`] reads either. `start_time`
/// becomes the zero-padded nanoseconds: it only has to sort.
pub fn console_form(span: &Value) -> Value {
    fn any(v: &Value) -> Value {
        if let Some(s) = v.get("stringValue") {
            return s.clone();
        }
        if let Some(n) = v.get("intValue") {
            return json!(n.as_str().unwrap().parse::<i64>().unwrap());
        }
        if let Some(b) = v.get("boolValue") {
            return b.clone();
        }
        if let Some(d) = v.get("doubleValue") {
            return d.clone();
        }
        if let Some(a) = v.get("arrayValue") {
            let items = a["values"].as_array().cloned().unwrap_or_default();
            return Value::Array(items.iter().map(any).collect());
        }
        // MessageToDict leaves out default values: `{}` is an empty string, false or zero.
        panic!("unexpected AnyValue {v}")
    }
    fn attributes(list: &Value) -> Value {
        let mut map = serde_json::Map::new();
        for kv in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            map.insert(kv["key"].as_str().unwrap().to_string(), any(&kv["value"]));
        }
        Value::Object(map)
    }
    let hex = |key: &str| span.get(key).map(|v| format!("0x{}", v.as_str().unwrap()));
    let kind = span["kind"].as_str().unwrap().trim_start_matches("SPAN_KIND_");
    let mut status = json!({
        "status_code": span["status"]["code"].as_str().map_or("UNSET", |c| c.trim_start_matches("STATUS_CODE_")),
    });
    if let Some(message) = span["status"].get("message") {
        status["description"] = message.clone();
    }
    let nanos = |v: &Value| format!("{:0>20}", v.as_str().unwrap());
    json!({
        "name": span["name"],
        "context": {
            "trace_id": hex("traceId"),
            "span_id": hex("spanId"),
            "trace_state": span.get("traceState").cloned().unwrap_or(json!("")),
        },
        "kind": format!("SpanKind.{kind}"),
        "parent_id": hex("parentSpanId"),
        "start_time": nanos(&span["startTimeUnixNano"]),
        "end_time": nanos(&span["endTimeUnixNano"]),
        "status": status,
        "attributes": attributes(&span["attributes"]),
        "events": span["events"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(|e| json!({
            "name": e["name"],
            "timestamp": nanos(&e["timeUnixNano"]),
            "attributes": attributes(&e["attributes"]),
        })).collect::<Vec<_>>(),
        "scope": span["_scope"],
    })
}
