//! The OTLP trace exporter against a real receiver (tests/peers/otlp_receiver.py): what it sends
//! decodes strictly with the official opentelemetry-proto package in both encodings and carries
//! every field of the spans handed to it; the X-Ray mode's SigV4 verifies with botocore; and
//! under collector faults `on_end` stays prompt, losses are counted, the queue stays bounded and
//! shutdown flushes within its time. Spans are built by hand and handed to the exporter through
//! the library's public API (the tracer that makes them is the other half of issue 10).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentcore_rt::aws::DefaultCredentialsChain;
use agentcore_rt::config::{ExporterChoice, TelemetryConfig};
use agentcore_rt::telemetry::export::{BatchConfig, OtlpConfig, OtlpExporter, OtlpProtocol};
use agentcore_rt::telemetry::{
    Event, KeyValue, SpanContext, SpanData, SpanId, SpanKind, SpanSink, Status, TraceId, Value,
};
use serde_json::{Value as Json, json};

use crate::support::otlp::{OtlpReceiver, dead_endpoint};

const SCOPE: &str = "strands.telemetry.tracer";
const SERVER_SCOPE: &str = "agentcore_rt.http";

fn span(n: u64) -> SpanData {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&0x6750_1234_abcd_ef01u64.to_be_bytes());
    trace[8..].copy_from_slice(&n.to_be_bytes());
    SpanData {
        context: SpanContext {
            trace_id: TraceId(trace),
            span_id: SpanId((n + 1).to_be_bytes()),
            flags: 1,
            trace_state: String::new(),
            remote: false,
        },
        parent_span_id: None,
        name: format!("span {n}"),
        kind: SpanKind::Internal,
        start_unix_nano: 1_765_000_000_000_000_000 + n,
        end_unix_nano: 1_765_000_000_500_000_000 + n,
        attributes: vec![("n".into(), Value::Int(n as i64))],
        events: Vec::new(),
        status: Status::Unset,
        scope: SCOPE,
    }
}

/// Spans using every field and value type, in two scopes.
fn rich_spans() -> Vec<SpanData> {
    let trace = TraceId([
        0x67, 0x50, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 0xff,
    ]);
    let server = SpanData {
        context: SpanContext {
            trace_id: trace,
            span_id: SpanId([0xa0, 1, 2, 3, 4, 5, 6, 7]),
            flags: 1,
            trace_state: "vendor=opaque,other=1".into(),
            remote: false,
        },
        parent_span_id: Some(SpanId([0xca, 0xfe, 0, 0, 0, 0, 0, 1])),
        name: "POST /invocations".into(),
        kind: SpanKind::Server,
        start_unix_nano: 1_765_000_000_123_456_789,
        end_unix_nano: 1_765_000_002_000_000_001,
        attributes: vec![
            ("http.request.method".into(), Value::Str("POST".into())),
            ("session.id".into(), Value::Str("sess-é✓ \"quoted\"\n".into())),
            ("http.response.status_code".into(), Value::Int(200)),
        ],
        events: Vec::new(),
        status: Status::Ok,
        scope: SERVER_SCOPE,
    };
    let agent = SpanData {
        context: SpanContext {
            trace_id: trace,
            span_id: SpanId([0xb0, 1, 2, 3, 4, 5, 6, 7]),
            flags: 1,
            trace_state: String::new(),
            remote: false,
        },
        parent_span_id: Some(server.context.span_id),
        name: "invoke_agent Strands Agents".into(),
        kind: SpanKind::Internal,
        start_unix_nano: 1_765_000_000_200_000_000,
        end_unix_nano: 1_765_000_001_900_000_000,
        attributes: vec![
            ("gen_ai.operation.name".into(), Value::Str("invoke_agent".into())),
            ("gen_ai.usage.input_tokens".into(), Value::Int(1234)),
            ("negative".into(), Value::Int(-42)),
            ("big".into(), Value::Int(i64::MAX)),
            ("flag.true".into(), Value::Bool(true)),
            ("flag.false".into(), Value::Bool(false)),
            ("ratio".into(), Value::Double(0.25)),
            ("not.a.number".into(), Value::Double(f64::NAN)),
            ("empty".into(), Value::Str(String::new())),
            (
                "tools".into(),
                Value::StrArray(vec!["a".into(), "".into(), "c,d".into()]),
            ),
        ],
        events: vec![
            Event {
                name: "gen_ai.user.message".into(),
                time_unix_nano: 1_765_000_000_200_000_100,
                attributes: vec![("content".into(), Value::Str("[{\"text\": \"hi\"}]".into()))],
            },
            Event {
                name: "no attributes".into(),
                time_unix_nano: 1_765_000_000_200_000_200,
                attributes: Vec::new(),
            },
        ],
        status: Status::Unset,
        scope: SCOPE,
    };
    let tool = SpanData {
        context: SpanContext {
            trace_id: trace,
            span_id: SpanId([0xc0, 1, 2, 3, 4, 5, 6, 7]),
            flags: 0,
            trace_state: String::new(),
            remote: false,
        },
        parent_span_id: Some(agent.context.span_id),
        name: "execute_tool boom".into(),
        kind: SpanKind::Client,
        start_unix_nano: 1_765_000_001_000_000_000,
        end_unix_nano: 1_765_000_001_100_000_000,
        attributes: vec![("gen_ai.tool.status".into(), Value::Str("error".into()))],
        events: vec![Event {
            name: "exception".into(),
            time_unix_nano: 1_765_000_001_099_000_000,
            attributes: vec![
                ("exception.type".into(), Value::Str("ValueError".into())),
                ("exception.message".into(), Value::Str("boom".into())),
            ],
        }],
        status: Status::Error("boom".into()),
        scope: SCOPE,
    };
    vec![server, agent, tool]
}

/// What `json_format.MessageToDict` makes of a span we sent (ids hex, as the receiver puts
/// them back): the reference rendering of every field.
fn expected(span: &SpanData) -> Json {
    fn any(v: &Value) -> Json {
        match v {
            Value::Str(s) => json!({"stringValue": s}),
            Value::Bool(b) => json!({"boolValue": b}),
            Value::Int(n) => json!({"intValue": n.to_string()}),
            Value::Double(d) if d.is_nan() => json!({"doubleValue": "NaN"}),
            Value::Double(d) => json!({"doubleValue": d}),
            Value::StrArray(items) => {
                json!({"arrayValue": {"values": items.iter().map(|s| json!({"stringValue": s})).collect::<Vec<_>>()}})
            }
        }
    }
    fn attrs(a: &[KeyValue]) -> Json {
        Json::Array(
            a.iter()
                .map(|(k, v)| json!({"key": k, "value": any(v)}))
                .collect(),
        )
    }
    let kind = match span.kind {
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    };
    let mut s = json!({
        "traceId": span.context.trace_id.to_hex(),
        "spanId": span.context.span_id.to_hex(),
        "name": span.name,
        "kind": kind,
        "startTimeUnixNano": span.start_unix_nano.to_string(),
        "endTimeUnixNano": span.end_unix_nano.to_string(),
        "_scope": span.scope,
    });
    if !span.context.trace_state.is_empty() {
        s["traceState"] = json!(span.context.trace_state);
    }
    if let Some(p) = &span.parent_span_id {
        s["parentSpanId"] = json!(p.to_hex());
    }
    if span.context.flags != 0 {
        s["flags"] = json!(span.context.flags);
    }
    if !span.attributes.is_empty() {
        s["attributes"] = attrs(&span.attributes);
    }
    if !span.events.is_empty() {
        s["events"] = Json::Array(
            span.events
                .iter()
                .map(|e| {
                    let mut ev = json!({"timeUnixNano": e.time_unix_nano.to_string(), "name": e.name});
                    if !e.attributes.is_empty() {
                        ev["attributes"] = attrs(&e.attributes);
                    }
                    ev
                })
                .collect(),
        );
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => s["status"] = json!({"code": "STATUS_CODE_OK"}),
        Status::Error(m) => s["status"] = json!({"message": m, "code": "STATUS_CODE_ERROR"}),
    }
    s
}

fn config(endpoint: String, protocol: OtlpProtocol) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        protocol,
        batch: BatchConfig {
            schedule_delay: Duration::from_millis(50),
            ..BatchConfig::default()
        },
        ..OtlpConfig::default()
    }
}

/// Waits for `cond`, at most `limit`.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn round_trip(protocol: OtlpProtocol, encoding: &str) {
    let receiver = OtlpReceiver::start();
    let mut c = config(receiver.traces_url(), protocol);
    c.headers = vec![("x-api-key".into(), "secret, with comma".into())];
    c.resource.push((
        "cloud.resource_id".into(),
        Value::Str("arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a".into()),
    ));
    let exporter = OtlpExporter::start(c.clone()).unwrap();
    let spans = rich_spans();
    for s in &spans {
        exporter.on_end(s.clone());
    }
    exporter.shutdown(Duration::from_secs(10));
    let counters = exporter.counters();
    assert_eq!(
        (counters.exported, counters.dropped, counters.failed),
        (3, 0, 0),
        "{counters:?}"
    );

    let state = receiver.state();
    assert_eq!(state["errors"], json!([]), "the receiver refused what we sent");
    let requests = state["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{state}");
    let r = &requests[0];
    assert_eq!(r["encoding"], encoding);
    assert_eq!(r["headers"]["x-api-key"], "secret, with comma");
    let resource_spans = r["request"]["resourceSpans"].as_array().unwrap();
    assert_eq!(resource_spans.len(), 1);
    let resource: HashMap<String, Json> = resource_spans[0]["resource"]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().to_string(),
                kv["value"]["stringValue"].clone(),
            )
        })
        .collect();
    assert_eq!(resource["service.name"], "unknown_service:agentcore-rt");
    assert_eq!(resource["telemetry.sdk.name"], "agentcore-rt");
    assert_eq!(resource["telemetry.sdk.language"], "rust");
    assert_eq!(resource["telemetry.sdk.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        resource["cloud.resource_id"],
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a"
    );
    // One ScopeSpans per scope, in first-seen order, each holding its spans in order.
    let scopes: Vec<&str> = resource_spans[0]["scopeSpans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scope"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, [SERVER_SCOPE, SCOPE]);
    let got = receiver.spans();
    let want: Vec<Json> = spans.iter().map(expected).collect();
    assert_eq!(got, want);
}

#[test]
fn protobuf_export_decodes_strictly_and_carries_every_field() {
    round_trip(OtlpProtocol::HttpProtobuf, "protobuf");
}

#[test]
fn json_export_decodes_strictly_and_carries_every_field() {
    round_trip(OtlpProtocol::HttpJson, "json");
}

/// The AgentCore mode, configured as AgentCore configures it, with the receiver standing in
/// for `xray.{region}.amazonaws.com` through the SDKs' endpoint override.
fn xray_exporter(receiver: &OtlpReceiver, secret: &str) -> Arc<OtlpExporter> {
    let vars: HashMap<&str, String> = HashMap::from([
        ("AGENT_OBSERVABILITY_ENABLED", "true".to_string()),
        ("AWS_REGION", "us-west-2".to_string()),
        ("AWS_ENDPOINT_URL_XRAY", receiver.url()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".to_string()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
        ("AWS_SESSION_TOKEN", "session-token-example".to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_string()),
        ("OTEL_SERVICE_NAME", "my_agent.DEFAULT".to_string()),
        ("HOME", "/nonexistent".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]);
    let env = move |k: &str| vars.get(k).cloned();
    let config = TelemetryConfig::from_env(&env).unwrap();
    let ExporterChoice::Otlp(otlp) = config.exporter else {
        panic!("AgentCore mode did not choose OTLP: {:?}", config.exporter);
    };
    assert_eq!(otlp.endpoint, format!("{}/v1/traces", receiver.url()));
    assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
    let credentials = Arc::new(DefaultCredentialsChain::from_env(&env));
    OtlpExporter::start_with_credentials(otlp, credentials).unwrap()
}

#[test]
fn xray_mode_signature_verifies_with_botocore() {
    let receiver = OtlpReceiver::with_env(&[
        ("PEER_SIGV4_REGION", "us-west-2"),
        ("PEER_AWS_SESSION_TOKEN", "session-token-example"),
    ]);
    let exporter = xray_exporter(&receiver, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    for s in rich_spans() {
        exporter.on_end(s);
    }
    exporter.shutdown(Duration::from_secs(10));
    let state = receiver.state();
    assert_eq!(state["errors"], json!([]));
    let requests = state["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{state}");
    assert_eq!(requests[0]["signed"], true);
    assert_eq!(requests[0]["encoding"], "protobuf");
    assert_eq!(
        requests[0]["headers"]["x-amz-security-token"],
        "session-token-example"
    );
    assert_eq!(exporter.counters().exported, 3);
    let service = &requests[0]["request"]["resourceSpans"][0]["resource"]["attributes"];
    assert!(service.to_string().contains("my_agent.DEFAULT"), "{service}");

    // A wrong secret: botocore's signature differs, the receiver answers 403, and the batch is
    // counted as failed (403 is final: no retry).
    receiver.reset();
    let exporter = xray_exporter(&receiver, "not-the-secret");
    exporter.on_end(span(1));
    exporter.shutdown(Duration::from_secs(10));
    let state = receiver.state();
    assert!(
        state["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("signature mismatch"),
        "{state}"
    );
    assert_eq!(state["attempts"], 1);
    let c = exporter.counters();
    assert_eq!((c.exported, c.failed), (0, 1), "{c:?}");
}

/// Hands `n` spans to `exporter`; returns the slowest `on_end` call and the largest queue seen.
fn flood(exporter: &OtlpExporter, n: u64) -> (Duration, usize) {
    let mut slowest = Duration::ZERO;
    let mut most_queued = 0;
    for i in 0..n {
        let s = span(i);
        let t = Instant::now();
        exporter.on_end(s);
        slowest = slowest.max(t.elapsed());
        if i % 50 == 0 {
            most_queued = most_queued.max(exporter.counters().queued);
        }
    }
    (slowest, most_queued)
}

fn small_queue(endpoint: String) -> OtlpConfig {
    let mut c = config(endpoint, OtlpProtocol::HttpProtobuf);
    c.timeout = Duration::from_millis(500);
    c.batch = BatchConfig {
        max_queue_size: 100,
        max_export_batch_size: 10,
        schedule_delay: Duration::from_millis(20),
        export_timeout: Duration::from_secs(2),
        ..BatchConfig::default()
    };
    c
}

/// A bound, not a benchmark (a loaded 2-core CI machine may deschedule a thread for tens of
/// milliseconds): an `on_end` that waited on the collector would take at least the 500 ms
/// request timeout of the slow collector, or a 100 ms backoff of the dead one.
const ON_END_BOUND: Duration = Duration::from_millis(250);

fn assert_accounted(exporter: &OtlpExporter, total: u64) {
    let c = exporter.counters();
    assert_eq!(
        c.exported + c.dropped + c.failed,
        total,
        "every span accounted for: {c:?}"
    );
    assert_eq!(c.queued, 0, "{c:?}");
}

#[test]
fn collector_down_spans_are_dropped_and_counted_without_blocking() {
    let exporter = OtlpExporter::start(small_queue(dead_endpoint())).unwrap();
    let started = Instant::now();
    let (slowest, most_queued) = flood(&exporter, 2000);
    let flood_time = started.elapsed();
    assert!(slowest < ON_END_BOUND, "an on_end call took {slowest:?}");
    assert!(
        flood_time < Duration::from_secs(2),
        "2000 on_end calls took {flood_time:?}"
    );
    assert!(most_queued <= 100, "queue held {most_queued}");
    let c = exporter.counters();
    assert!(c.dropped >= 2000 - 100 - 10, "{c:?}");
    assert_eq!(c.exported, 0);

    let t = Instant::now();
    exporter.shutdown(Duration::from_millis(500));
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert_accounted(&exporter, 2000);
    // After shutdown, spans are dropped (and counted) at once.
    exporter.on_end(span(9999));
    assert_eq!(
        exporter.counters().dropped + exporter.counters().failed + exporter.counters().exported,
        2001
    );
}

#[test]
fn large_spans_are_bounded_by_bytes_too() {
    let mut c = small_queue(dead_endpoint());
    c.batch.max_queue_bytes = 8 * 1024 * 1024;
    let exporter = OtlpExporter::start(c).unwrap();
    // 1 MiB of message content per span: 100 queued spans would hold 100 MiB.
    let content = "x".repeat(1024 * 1024);
    let mut most_queued = 0;
    for i in 0..60 {
        let mut s = span(i);
        s.attributes
            .push(("gen_ai.output.messages".into(), Value::Str(content.clone())));
        exporter.on_end(s);
        most_queued = most_queued.max(exporter.counters().queued);
    }
    assert!(
        most_queued <= 8,
        "{most_queued} spans of 1 MiB queued under an 8 MiB budget"
    );
    assert!(
        exporter.counters().dropped >= 60 - 8 - 10,
        "{:?}",
        exporter.counters()
    );
    exporter.shutdown(Duration::from_millis(200));
    assert_accounted(&exporter, 60);
}

#[test]
fn slow_collector_never_slows_on_end_and_shutdown_keeps_its_time() {
    let receiver = OtlpReceiver::start();
    receiver.fault("slow", None, json!({"delay": 3}));
    let exporter = OtlpExporter::start(small_queue(receiver.traces_url())).unwrap();
    let (slowest, most_queued) = flood(&exporter, 1000);
    assert!(slowest < ON_END_BOUND, "an on_end call took {slowest:?}");
    assert!(most_queued <= 100);
    let t = Instant::now();
    exporter.shutdown(Duration::from_secs(1));
    assert!(
        t.elapsed() < Duration::from_millis(2000),
        "shutdown took {:?}",
        t.elapsed()
    );
    let c = exporter.counters();
    assert!(c.dropped >= 800, "{c:?}");
    assert_eq!(c.exported, 0, "{c:?}");
    // The request cut short by the 500 ms OTLP timeout was retried, not waited out.
    assert!(eventually(
        Duration::from_secs(5),
        || receiver.state()["attempts"].as_u64().unwrap() >= 1
    ));
}

fn five_spans_through(receiver: &OtlpReceiver) -> (Arc<OtlpExporter>, Duration) {
    let mut c = config(receiver.traces_url(), OtlpProtocol::HttpProtobuf);
    c.batch.export_timeout = Duration::from_secs(10);
    let exporter = OtlpExporter::start(c).unwrap();
    let t = Instant::now();
    for i in 0..5 {
        exporter.on_end(span(i));
    }
    assert!(eventually(Duration::from_secs(10), || {
        let c = exporter.counters();
        c.exported + c.failed == 5
    }));
    let took = t.elapsed();
    exporter.shutdown(Duration::from_secs(5));
    (exporter, took)
}

#[test]
fn throttling_is_retried_after_retry_after() {
    let receiver = OtlpReceiver::start();
    receiver.fault("429", Some(2), json!({"retry_after": 1}));
    let (exporter, took) = five_spans_through(&receiver);
    assert_eq!(exporter.counters().exported, 5, "{:?}", exporter.counters());
    assert_eq!(receiver.state()["attempts"], 3);
    assert!(
        took >= Duration::from_secs(2),
        "Retry-After: 1 twice, but delivered in {took:?}"
    );
    assert_eq!(receiver.spans().len(), 5);
}

#[test]
fn unavailable_and_closed_connections_are_retried_with_backoff() {
    for (mode, count) in [("503", 2), ("502", 1), ("504", 1), ("close", 2)] {
        let receiver = OtlpReceiver::start();
        receiver.fault(mode, Some(count), json!({}));
        let (exporter, took) = five_spans_through(&receiver);
        let c = exporter.counters();
        assert_eq!((c.exported, c.failed), (5, 0), "{mode}: {c:?}");
        assert_eq!(receiver.state()["attempts"], count + 1, "{mode}");
        assert!(
            took < Duration::from_secs(5),
            "{mode}: backoff too long: {took:?}"
        );
        assert_eq!(receiver.spans().len(), 5, "{mode}");
    }
}

#[test]
fn a_500_is_final_and_the_next_batch_goes_through() {
    let receiver = OtlpReceiver::start();
    receiver.fault("500", Some(1), json!({}));
    let (exporter, _) = five_spans_through(&receiver);
    let c = exporter.counters();
    assert_eq!((c.exported, c.failed), (0, 5), "{c:?}");
    assert_eq!(receiver.state()["attempts"], 1);

    let mut c = config(receiver.traces_url(), OtlpProtocol::HttpProtobuf);
    c.batch.schedule_delay = Duration::from_millis(20);
    let exporter = OtlpExporter::start(c).unwrap();
    exporter.on_end(span(7));
    exporter.shutdown(Duration::from_secs(5));
    assert_eq!(exporter.counters().exported, 1);
}

#[test]
fn shutdown_flushes_what_is_queued_within_its_time() {
    let receiver = OtlpReceiver::start();
    let mut c = config(receiver.traces_url(), OtlpProtocol::HttpProtobuf);
    // Nothing would be sent for a minute: only shutdown's flush can deliver.
    c.batch.schedule_delay = Duration::from_secs(60);
    c.batch.max_export_batch_size = 1000;
    let exporter = OtlpExporter::start(c).unwrap();
    for i in 0..1500 {
        exporter.on_end(span(i));
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = exporter.counters();
    assert_eq!(
        before.exported, 1000,
        "the full batch goes at once, the rest waits: {before:?}"
    );
    assert_eq!(before.queued, 500);
    let t = Instant::now();
    exporter.shutdown(Duration::from_secs(10));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    let c = exporter.counters();
    assert_eq!(
        (c.exported, c.dropped, c.failed, c.queued),
        (1500, 0, 0, 0),
        "{c:?}"
    );
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1500);
    assert_eq!(spans[1499]["name"], "span 1499");
}

#[test]
fn a_partial_success_counts_the_rejected_spans_as_failed_without_retrying() {
    for protocol in [OtlpProtocol::HttpProtobuf, OtlpProtocol::HttpJson] {
        let receiver = OtlpReceiver::start();
        receiver.fault(
            "partial",
            Some(1),
            json!({"rejected": 2, "message": "span too large"}),
        );
        let mut c = config(receiver.traces_url(), protocol);
        c.batch.max_export_batch_size = 5;
        let exporter = OtlpExporter::start(c).unwrap();
        for i in 0..5 {
            exporter.on_end(span(i));
        }
        exporter.shutdown(Duration::from_secs(5));
        let c = exporter.counters();
        assert_eq!(
            (c.exported, c.failed, c.dropped),
            (3, 2, 0),
            "{protocol:?}: {c:?}"
        );
        assert_eq!(
            receiver.state()["attempts"],
            1,
            "{protocol:?}: a partial success is not retried"
        );
    }
}

#[test]
fn a_collector_that_comes_up_late_gets_the_queued_spans() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = config(
        format!("http://127.0.0.1:{port}/v1/traces"),
        OtlpProtocol::HttpProtobuf,
    );
    c.batch.export_timeout = Duration::from_secs(20);
    let exporter = OtlpExporter::start(c).unwrap();
    for i in 0..5 {
        exporter.on_end(span(i));
    }
    // Connection refused for a while: the batch is retried with backoff, nothing is lost.
    std::thread::sleep(Duration::from_millis(700));
    let before = exporter.counters();
    assert_eq!((before.exported, before.failed), (0, 0), "{before:?}");
    let receiver = OtlpReceiver::with_env(&[("PEER_PORT", &port.to_string())]);
    assert!(
        eventually(Duration::from_secs(15), || exporter.counters().exported == 5),
        "{:?}",
        exporter.counters()
    );
    exporter.shutdown(Duration::from_secs(5));
    assert_eq!(receiver.spans().len(), 5);
}
