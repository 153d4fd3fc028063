//! [`Tracer`]: starts spans, decides which are sampled, hands finished ones to the sink.
//!
//! A disabled tracer (no sink) is a `None`: starting a span allocates nothing, draws no ids and
//! reads no clock, and every span method is a branch on that `None`. With a sink, every span gets
//! ids (an unsampled one too, so that its context still propagates with the sampled flag off), and
//! only sampled spans record attributes and events and reach [`SpanSink::on_end`].

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ids::{new_span_id, new_trace_id};
use super::propagation::TraceContext;
use super::{
    Event, KeyValue, Sampler, SpanContext, SpanData, SpanKind, SpanSink, Status, TracerSettings, Value,
};

/// The instrumentation scope of the GenAI spans: Strands' tracer is `get_tracer(__name__)` in
/// `strands/telemetry/tracer.py`, and AgentCore's tooling recognises the name.
pub const STRANDS_SCOPE: &str = "strands.telemetry.tracer";

/// Creates spans; cheap to clone (an `Arc`, or nothing when disabled).
#[derive(Clone, Default)]
pub struct Tracer {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    settings: TracerSettings,
    sink: Arc<dyn SpanSink>,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Tracer(disabled)"),
            Some(inner) => write!(f, "Tracer({:?})", inner.settings),
        }
    }
}

impl Tracer {
    /// A tracer that records nothing.
    pub const fn disabled() -> Tracer {
        Tracer { inner: None }
    }

    /// A tracer sending sampled spans to `sink`; without a sink it is [`Tracer::disabled`].
    pub fn new(settings: TracerSettings, sink: Option<Arc<dyn SpanSink>>) -> Tracer {
        Tracer {
            inner: sink.map(|sink| Arc::new(Inner { settings, sink })),
        }
    }

    /// Spans are being created (there is a sink).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The settings (the defaults when disabled).
    pub fn settings(&self) -> &TracerSettings {
        static DEFAULT: OnceLock<TracerSettings> = OnceLock::new();
        match &self.inner {
            Some(inner) => &inner.settings,
            None => DEFAULT.get_or_init(TracerSettings::default),
        }
    }

    /// Message content is recorded on spans (only ever true when enabled).
    pub fn captures_content(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.settings.capture_content)
    }

    /// Starts a span of Strands' scope under `parent` (a root span when it has none).
    pub fn start(&self, name: impl Into<String>, kind: SpanKind, parent: &TraceContext) -> Span {
        self.start_scoped(STRANDS_SCOPE, name, kind, parent)
    }

    /// [`Tracer::start`] with a name built only when the tracer is enabled.
    pub fn start_fmt(&self, name: fmt::Arguments<'_>, kind: SpanKind, parent: &TraceContext) -> Span {
        if self.inner.is_none() {
            return Span::NONE;
        }
        self.start_scoped(STRANDS_SCOPE, name.to_string(), kind, parent)
    }

    /// Starts a span of another instrumentation scope.
    pub fn start_scoped(
        &self,
        scope: &'static str,
        name: impl Into<String>,
        kind: SpanKind,
        parent: &TraceContext,
    ) -> Span {
        let Some(inner) = &self.inner else {
            return Span::NONE;
        };
        let parent_span = parent.span.as_ref();
        let trace_id = parent_span.map_or_else(new_trace_id, |p| p.trace_id);
        let sampled = should_sample(&inner.settings.sampler, parent_span, &trace_id);
        let context = SpanContext {
            trace_id,
            span_id: new_span_id(),
            flags: u8::from(sampled),
            trace_state: parent_span.map(|p| p.trace_state.clone()).unwrap_or_default(),
            remote: false,
        };
        Span {
            inner: Some(Box::new(Active {
                sink: sampled.then(|| Arc::clone(&inner.sink)),
                baggage: parent.baggage.clone(),
                data: SpanData {
                    context,
                    parent_span_id: parent_span.map(|p| p.span_id),
                    name: name.into(),
                    kind,
                    start_unix_nano: now_nanos(),
                    end_unix_nano: 0,
                    // Room for a span's usual attributes (6 to 17 here) at once, rather than
                    // four regrowths; only a recorded span gets any.
                    attributes: Vec::with_capacity(if sampled { 16 } else { 0 }),
                    events: Vec::new(),
                    status: Status::Unset,
                    scope,
                },
            })),
        }
    }
}

/// The sampling decision for a new span (OpenTelemetry SDK specification, "Built-in samplers").
///
/// `ParentBased` follows the parent's sampled flag whenever there is a parent, remote or local
/// (the SDK's default delegates: sampled parent -> AlwaysOn, unsampled -> AlwaysOff), and asks
/// its root sampler otherwise. `TraceIdRatio` compares the trace id's lower 8 bytes, read big
/// endian, with `round(ratio * 2^64)`, as the specification's reference SDKs do, so that every
/// service with the same ratio makes the same decision for a trace.
pub fn should_sample(sampler: &Sampler, parent: Option<&SpanContext>, trace_id: &super::TraceId) -> bool {
    match sampler {
        Sampler::AlwaysOn => true,
        Sampler::AlwaysOff => false,
        Sampler::TraceIdRatio(ratio) => {
            let mut lower = [0u8; 8];
            lower.copy_from_slice(&trace_id.0[8..]);
            let lower = u128::from(u64::from_be_bytes(lower));
            let ratio = if ratio.is_nan() {
                0.0
            } else {
                ratio.clamp(0.0, 1.0)
            };
            let bound = (ratio * 18_446_744_073_709_551_616.0).round() as u128;
            lower < bound
        }
        Sampler::ParentBased(root) => match parent {
            Some(parent) => parent.sampled(),
            None => should_sample(root, None, trace_id),
        },
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A span in progress; it ends (and a sampled one goes to the sink) when dropped or
/// [`Span::end`]ed.
#[derive(Default)]
pub struct Span {
    inner: Option<Box<Active>>,
}

struct Active {
    /// Set when sampled: where the span goes when it ends.
    sink: Option<Arc<dyn SpanSink>>,
    baggage: Option<Arc<str>>,
    data: SpanData,
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Span(none)"),
            Some(a) => write!(f, "Span({} {:?})", a.data.name, a.data.context.span_id),
        }
    }
}

impl Span {
    /// The span of a disabled tracer.
    pub const NONE: Span = Span { inner: None };

    fn recording(&mut self) -> Option<&mut Active> {
        self.inner.as_deref_mut().filter(|a| a.sink.is_some())
    }

    /// Attributes and events are kept (the span is sampled); check before computing costly ones.
    pub fn is_recording(&self) -> bool {
        self.inner.as_ref().is_some_and(|a| a.sink.is_some())
    }

    /// This span's own context, if the tracer is enabled.
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.inner.as_ref().map(|a| &a.data.context)
    }

    /// What children and outgoing calls of this span carry (empty when disabled).
    pub fn context(&self) -> TraceContext {
        match &self.inner {
            None => TraceContext::NONE,
            Some(a) => TraceContext {
                span: Some(a.data.context.clone()),
                baggage: a.baggage.clone(),
            },
        }
    }

    /// Sets an attribute (replacing one of the same key, which keeps its place).
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        if let Some(active) = self.recording() {
            let value = value.into();
            match active.data.attributes.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => active.data.attributes.push((Cow::Borrowed(key), value)),
            }
        }
    }

    /// Adds an event; `attributes` runs only when the span records.
    pub fn add_event(&mut self, name: &str, attributes: impl FnOnce() -> Vec<KeyValue>) {
        if let Some(active) = self.recording() {
            active.data.events.push(Event {
                name: name.to_string(),
                time_unix_nano: now_nanos(),
                attributes: attributes(),
            });
        }
    }

    /// Sets the status (an `Ok` never replaces an `Error`, as in the SDK).
    pub fn set_status(&mut self, status: Status) {
        if let Some(active) = self.recording() {
            if matches!(active.data.status, Status::Error(_)) && status == Status::Ok {
                return;
            }
            active.data.status = status;
        }
    }

    /// Records a failure as the OpenTelemetry SDK does for `set_status(ERROR, description)` then
    /// `record_exception(e)`: the status, and an `exception` event with `exception.type`,
    /// `exception.message` and `exception.escaped` (there is no stack trace to give).
    pub fn record_error(&mut self, exception_type: &str, message: &str) {
        if let Some(active) = self.recording() {
            active.data.status = Status::Error(message.to_string());
            active.data.events.push(Event {
                name: "exception".to_string(),
                time_unix_nano: now_nanos(),
                attributes: vec![
                    (Cow::Borrowed("exception.type"), Value::from(exception_type)),
                    (Cow::Borrowed("exception.message"), Value::from(message)),
                    (Cow::Borrowed("exception.escaped"), Value::from("False")),
                ],
            });
        }
    }

    /// Ends the span now.
    pub fn end(self) {
        drop(self);
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(mut active) = self.inner.take()
            && let Some(sink) = active.sink.take()
        {
            active.data.end_unix_nano = now_nanos().max(active.data.start_unix_nano);
            sink.on_end(active.data);
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Double(x)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::telemetry::TraceId;
    use crate::telemetry::propagation::parse_traceparent;

    #[derive(Default)]
    struct Collect(Mutex<Vec<SpanData>>);

    impl SpanSink for Collect {
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn shutdown(&self, _: Duration) {}
    }

    fn tracer(sampler: Sampler) -> (Tracer, Arc<Collect>) {
        let sink = Arc::new(Collect::default());
        let settings = TracerSettings {
            sampler,
            ..TracerSettings::default()
        };
        (
            Tracer::new(settings, Some(sink.clone() as Arc<dyn SpanSink>)),
            sink,
        )
    }

    #[test]
    fn a_disabled_tracer_makes_no_spans() {
        let tracer = Tracer::disabled();
        let mut span = tracer.start("chat", SpanKind::Internal, &TraceContext::NONE);
        assert!(!span.is_recording());
        assert!(span.span_context().is_none());
        assert_eq!(span.context(), TraceContext::NONE);
        span.set("k", "v");
        span.record_error("E", "m");
        assert!(!Tracer::new(TracerSettings::default(), None).is_enabled());
        let formatted = tracer.start_fmt(
            format_args!("invoke_agent {}", "x"),
            SpanKind::Internal,
            &TraceContext::NONE,
        );
        assert!(formatted.span_context().is_none());
    }

    #[test]
    fn children_share_the_trace_and_name_their_parent() {
        let (tracer, sink) = tracer(Sampler::default());
        let mut root = tracer.start("invoke_agent a", SpanKind::Internal, &TraceContext::NONE);
        root.set("gen_ai.agent.name", "a");
        root.set("n", 3u64);
        root.set("n", 4u64);
        let child = tracer.start("chat", SpanKind::Internal, &root.context());
        let (root_ctx, child_ctx) = (
            root.span_context().unwrap().clone(),
            child.span_context().unwrap().clone(),
        );
        child.end();
        root.set_status(Status::Ok);
        root.end();
        let spans = sink.0.lock().unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].name, "chat");
        assert_eq!(spans[0].parent_span_id, Some(root_ctx.span_id));
        assert_eq!(child_ctx.trace_id, root_ctx.trace_id);
        assert_ne!(child_ctx.span_id, root_ctx.span_id);
        assert_eq!(spans[1].parent_span_id, None);
        assert_eq!(spans[1].scope, STRANDS_SCOPE);
        assert_eq!(
            spans[1].attributes,
            vec![
                ("gen_ai.agent.name".into(), Value::from("a")),
                ("n".into(), Value::Int(4))
            ]
        );
        assert!(spans[1].end_unix_nano >= spans[1].start_unix_nano);
        assert!(root_ctx.sampled());
    }

    #[test]
    fn record_error_sets_the_status_and_an_exception_event() {
        let (tracer, sink) = tracer(Sampler::AlwaysOn);
        let mut span = tracer.start("chat", SpanKind::Internal, &TraceContext::NONE);
        span.record_error("ModelError", "boom");
        span.set_status(Status::Ok);
        drop(span);
        let spans = sink.0.lock().unwrap();
        assert_eq!(spans[0].status, Status::Error("boom".into()));
        let event = &spans[0].events[0];
        assert_eq!(event.name, "exception");
        assert_eq!(
            event.attributes[0],
            ("exception.type".into(), Value::from("ModelError"))
        );
        assert_eq!(
            event.attributes[1],
            ("exception.message".into(), Value::from("boom"))
        );
    }

    #[test]
    fn a_remote_parent_decides_under_parent_based_sampling() {
        let (tracer, sink) = tracer(Sampler::default());
        let sampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let mut unsampled = sampled.clone();
        unsampled.flags = 0;
        unsampled.trace_state = "congo=t61".into();
        let parent = TraceContext {
            span: Some(unsampled),
            baggage: Some(Arc::from("k=v")),
        };
        let span = tracer.start("s", SpanKind::Server, &parent);
        assert!(!span.is_recording());
        let ctx = span.context();
        let own = ctx.span.as_ref().unwrap();
        assert_eq!(own.trace_id.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!own.sampled());
        assert_eq!(own.trace_state, "congo=t61", "tracestate passes to children");
        assert_eq!(ctx.baggage.as_deref(), Some("k=v"));
        drop(span);
        assert!(
            sink.0.lock().unwrap().is_empty(),
            "an unsampled span is not exported"
        );

        let span = tracer.start(
            "s",
            SpanKind::Server,
            &TraceContext {
                span: Some(sampled.clone()),
                baggage: None,
            },
        );
        assert!(span.is_recording());
        drop(span);
        assert_eq!(sink.0.lock().unwrap()[0].parent_span_id, Some(sampled.span_id));
    }

    #[test]
    fn samplers_follow_the_specification() {
        let id = |lower: u64| {
            let mut bytes = [0xffu8; 16];
            bytes[8..].copy_from_slice(&lower.to_be_bytes());
            TraceId(bytes)
        };
        let sampled_parent =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let mut unsampled_parent = sampled_parent.clone();
        unsampled_parent.flags = 0;
        assert!(should_sample(&Sampler::AlwaysOn, Some(&unsampled_parent), &id(0)));
        assert!(!should_sample(&Sampler::AlwaysOff, Some(&sampled_parent), &id(0)));
        let half = Sampler::TraceIdRatio(0.5);
        assert!(should_sample(&half, None, &id(0)));
        assert!(should_sample(&half, None, &id((1 << 63) - 1)));
        assert!(!should_sample(&half, None, &id(1 << 63)));
        assert!(!should_sample(&half, None, &id(u64::MAX)));
        assert!(!should_sample(&Sampler::TraceIdRatio(0.0), None, &id(0)));
        assert!(should_sample(&Sampler::TraceIdRatio(1.0), None, &id(u64::MAX)));
        assert!(!should_sample(&Sampler::TraceIdRatio(f64::NAN), None, &id(0)));
        // The upper 8 bytes do not count.
        let mut upper = id(5);
        upper.0[0] = 0;
        assert_eq!(
            should_sample(&half, None, &upper),
            should_sample(&half, None, &id(5))
        );

        let parent_based = Sampler::ParentBased(Box::new(Sampler::AlwaysOff));
        assert!(should_sample(&parent_based, Some(&sampled_parent), &id(0)));
        assert!(!should_sample(&parent_based, None, &id(0)));
        let parent_based_on = Sampler::default();
        assert!(!should_sample(&parent_based_on, Some(&unsampled_parent), &id(0)));
        assert!(should_sample(&parent_based_on, None, &id(0)));
        let ratio_root = Sampler::ParentBased(Box::new(half));
        assert!(!should_sample(&ratio_root, None, &id(u64::MAX)));
        assert!(should_sample(&ratio_root, Some(&sampled_parent), &id(u64::MAX)));
    }

    #[test]
    fn ratio_sampling_keeps_about_the_ratio() {
        let (tracer, sink) = tracer(Sampler::TraceIdRatio(0.25));
        let kept = (0..4000)
            .filter(|_| {
                tracer
                    .start("s", SpanKind::Internal, &TraceContext::NONE)
                    .is_recording()
            })
            .count();
        assert!((800..1200).contains(&kept), "{kept} of 4000");
        assert_eq!(sink.0.lock().unwrap().len(), kept);
    }
}
