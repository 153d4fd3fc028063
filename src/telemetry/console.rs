//! The console exporter (`OTEL_TRACES_EXPORTER=console`): one JSON object per finished span on
//! standard output, in the field names of the OpenTelemetry Python SDK's `ConsoleSpanExporter`
//! (`name`, `context`, `kind`, `parent_id`, `start_time`, `end_time`, `status`, `attributes`,
//! `events`) plus the instrumentation `scope`, but on one line so it reads well beside our JSON
//! log lines.
//!
//! `on_end` only formats the line and queues it (bounded; a full queue drops the line and counts
//! it); a writer thread writes bursts under stdout's lock, so lines never interleave with the
//! log's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{Map, Value as Json, json};

use super::{KeyValue, SpanData, SpanKind, SpanSink, Status, Value};
use crate::clock::Civil;
use crate::logging::lines::{Msg, write_lines};

/// Spans queued for the writer at most.
const QUEUE_SPANS: usize = 4096;

/// A [`SpanSink`] writing JSON lines to stdout.
pub struct ConsoleSink {
    queue: OnceLock<Mutex<Option<SyncSender<Msg>>>>,
    dropped: AtomicU64,
}

impl Default for ConsoleSink {
    fn default() -> Self {
        ConsoleSink::new()
    }
}

impl ConsoleSink {
    /// A sink whose writer thread starts with the first span.
    pub fn new() -> ConsoleSink {
        ConsoleSink {
            queue: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Spans dropped because the queue was full (or the writer could not start).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<SyncSender<Msg>> {
        let slot = self.queue.get_or_init(|| {
            let (tx, rx) = sync_channel::<Msg>(QUEUE_SPANS);
            let spawned = std::thread::Builder::new()
                .name("trace-console".into())
                .spawn(move || write_lines(rx));
            Mutex::new(spawned.ok().map(|_| tx))
        });
        slot.lock().ok()?.clone()
    }
}

impl SpanSink for ConsoleSink {
    fn on_end(&self, span: SpanData) {
        let mut line = span_json(&span).to_string();
        line.push('\n');
        let sent = self.sender().map(|tx| tx.try_send(Msg::Line(line)));
        match sent {
            Some(Ok(())) => {}
            Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn shutdown(&self, timeout: Duration) {
        let Some(tx) = self.sender() else { return };
        let (ack, done) = sync_channel::<()>(1);
        let deadline = Instant::now() + timeout;
        // The queue may be full: retry until the flush request fits or the time is up.
        let mut msg = Msg::Flush(ack);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        match done.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) | Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "SpanKind.INTERNAL",
        SpanKind::Server => "SpanKind.SERVER",
        SpanKind::Client => "SpanKind.CLIENT",
        SpanKind::Producer => "SpanKind.PRODUCER",
        SpanKind::Consumer => "SpanKind.CONSUMER",
    }
}

fn time(nanos: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(nanos);
    let c = Civil::from_system_time(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    )
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Str(s) => Json::String(s.clone()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(n) => json!(n),
        Value::Double(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::StrArray(items) => json!(items),
    }
}

fn attributes_json(attributes: &[KeyValue]) -> Json {
    Json::Object(
        attributes
            .iter()
            .map(|(k, v)| (k.to_string(), value_json(v)))
            .collect::<Map<_, _>>(),
    )
}

/// The JSON object written for `span`.
pub fn span_json(span: &SpanData) -> Json {
    let status = match &span.status {
        Status::Unset => json!({"status_code": "UNSET"}),
        Status::Ok => json!({"status_code": "OK"}),
        Status::Error(description) => json!({"status_code": "ERROR", "description": description}),
    };
    json!({
        "name": span.name,
        "context": {
            "trace_id": format!("0x{}", span.context.trace_id.to_hex()),
            "span_id": format!("0x{}", span.context.span_id.to_hex()),
            "trace_state": span.context.trace_state,
        },
        "kind": kind_name(span.kind),
        "parent_id": span.parent_span_id.map(|p| format!("0x{}", p.to_hex())),
        "start_time": time(span.start_unix_nano),
        "end_time": time(span.end_unix_nano),
        "status": status,
        "attributes": attributes_json(&span.attributes),
        "events": span.events.iter().map(|e| json!({
            "name": e.name,
            "timestamp": time(e.time_unix_nano),
            "attributes": attributes_json(&e.attributes),
        })).collect::<Vec<_>>(),
        "scope": span.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Event, SpanContext, SpanId, TraceId};

    #[test]
    fn a_span_as_one_json_object() {
        let span = SpanData {
            context: SpanContext {
                trace_id: TraceId([1; 16]),
                span_id: SpanId([2; 8]),
                flags: 1,
                trace_state: String::new(),
                remote: false,
            },
            parent_span_id: Some(SpanId([3; 8])),
            name: "chat".into(),
            kind: SpanKind::Internal,
            start_unix_nano: 1_700_000_000_123_456_789,
            end_unix_nano: 1_700_000_001_000_000_000,
            attributes: vec![
                ("gen_ai.operation.name".into(), Value::from("chat")),
                ("gen_ai.usage.input_tokens".into(), Value::Int(110)),
            ],
            events: vec![Event {
                name: "exception".into(),
                time_unix_nano: 1_700_000_000_500_000_000,
                attributes: vec![("exception.type".into(), Value::from("E"))],
            }],
            status: Status::Error("boom".into()),
            scope: "strands.telemetry.tracer",
        };
        let v = span_json(&span);
        assert_eq!(v["name"], "chat");
        assert_eq!(v["context"]["trace_id"], format!("0x{}", "01".repeat(16)));
        assert_eq!(v["parent_id"], format!("0x{}", "03".repeat(8)));
        assert_eq!(v["kind"], "SpanKind.INTERNAL");
        assert_eq!(v["start_time"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(
            v["status"],
            json!({"status_code": "ERROR", "description": "boom"})
        );
        assert_eq!(v["attributes"]["gen_ai.usage.input_tokens"], 110);
        assert_eq!(v["events"][0]["attributes"]["exception.type"], "E");
        assert_eq!(v["scope"], "strands.telemetry.tracer");
        assert!(!v.to_string().contains('\n'));
    }
}
