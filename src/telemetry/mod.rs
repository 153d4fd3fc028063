//! Traces: spans as OpenTelemetry models them, and where finished spans go.
//!
//! A leaf: it knows nothing of agents, models or HTTP. The layers above create spans through a
//! `Tracer` (what Strands' tracer emits: `invoke_agent`, `execute_event_loop_cycle`, `chat`,
//! `execute_tool`, and our HTTP server span), and a finished span is handed to the tracer's
//! [`SpanSink`]: the OTLP batch exporter, or the console exporter. With nothing configured
//! there is no sink and spans cost nothing.
//!
//! This file is the seam between the two halves of the work: span creation and propagation
//! (tracer.rs, propagation.rs, console.rs) and export (export/: OTLP encodings, the batch
//! processor, the AgentCore X-Ray mode). Its types change only by agreement of both.

use std::borrow::Cow;
use std::time::Duration;

pub mod console;
pub mod export;
mod ids;
pub mod propagation;
pub mod tracer;

pub use propagation::TraceContext;
pub use tracer::{STRANDS_SCOPE, Span, Tracer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
/// A trace id: 16 bytes; all zero is invalid.
pub struct TraceId(pub [u8; 16]);

/// A span id: 8 bytes; all zero is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// 32 lower-case hex digits, as `traceparent` and OTLP/JSON write it.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl SpanId {
    /// 16 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl std::fmt::Debug for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for SpanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// What identifies a span across processes (W3C trace context).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpanContext {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// W3C trace flags; bit 0 is `sampled`.
    pub flags: u8,
    /// The W3C `tracestate` header value, passed on unchanged ("" when none).
    pub trace_state: String,
    /// The context came from a caller (a `traceparent` or `X-Amzn-Trace-Id` header).
    pub remote: bool,
}

impl SpanContext {
    /// Bit 0 of the trace flags.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// OTLP's span kinds (the numbers are the protobuf enum's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// An operation inside the process (the agent, a cycle, a tool).
    Internal = 1,
    /// Serving a request (our HTTP server span).
    Server = 2,
    /// A call out (Strands' own spans are all internal, `chat` included).
    Client = 3,
    /// Hands work to a queue.
    Producer = 4,
    /// Takes work from a queue.
    Consumer = 5,
}

/// A span's status; `Error` carries its description.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Status {
    #[default]
    /// Nothing set: the default.
    Unset,
    /// Explicitly succeeded.
    Ok,
    /// Failed, with a description.
    Error(String),
}

/// An attribute value, as OTLP's `AnyValue` holds the ones Strands sets.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A homogeneous array of strings (e.g. `gen_ai.agent.tools` is a JSON string in Strands,
    /// but resource attributes or others may be arrays).
    StrArray(Vec<String>),
}

/// A key and its value. Keys are borrowed when static (all the span attributes' are): an
/// owned key per attribute was an allocation and a free per attribute per span.
pub type KeyValue = (Cow<'static, str>, Value);

/// A timestamped event on a span (`gen_ai.user.message`, `exception`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's or span's name.
    pub name: String,
    /// When it happened.
    pub time_unix_nano: u64,
    /// Its attributes, in the order they were set.
    pub attributes: Vec<KeyValue>,
}

/// A finished span: everything an exporter needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanData {
    /// The span's own context.
    pub context: SpanContext,
    /// None for a root span; a remote parent's id otherwise counts as a parent.
    pub parent_span_id: Option<SpanId>,
    /// The event's or span's name.
    pub name: String,
    /// Server, client or internal.
    pub kind: SpanKind,
    /// Start time.
    pub start_unix_nano: u64,
    /// End time.
    pub end_unix_nano: u64,
    /// Its attributes, in the order they were set.
    pub attributes: Vec<KeyValue>,
    /// Events, in order.
    pub events: Vec<Event>,
    /// Its status.
    pub status: Status,
    /// The instrumentation scope (Strands names its tracer `strands.telemetry.tracer`).
    pub scope: &'static str,
}

/// Where finished spans go. Implementations must never block the caller: `on_end` is called on
/// request paths (worker threads, coroutines) and must only enqueue.
pub trait SpanSink: Send + Sync {
    /// A span has ended (and was sampled).
    fn on_end(&self, span: SpanData);
    /// Export what is queued, waiting at most `timeout`; called once at shutdown.
    fn shutdown(&self, timeout: Duration);
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, the
/// OpenTelemetry SDK's names and defaults: `parentbased_always_on`).
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// No trace.
    AlwaysOff,
    /// A fraction of traces, decided from the trace id (0.0 to 1.0).
    TraceIdRatio(f64),
    /// The remote parent's sampled flag when there is a parent, else the root sampler.
    ParentBased(Box<Sampler>),
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    }
}

/// What the tracer needs besides a sink: how it samples and which optional attributes it
/// records. Read from the environment by `config::telemetry`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TracerSettings {
    /// The sampler.
    pub sampler: Sampler,
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` holds `gen_ai_latest_experimental`: Strands then writes
    /// `gen_ai.provider.name` instead of `gen_ai.system` and the latest event shapes.
    pub genai_latest_conventions: bool,
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` holds `gen_ai_tool_definitions`.
    pub genai_tool_definitions: bool,
    /// Message content (prompts, answers, tool inputs and results) is recorded on spans.
    pub capture_content: bool,
}
