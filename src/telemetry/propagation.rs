//! Trace context across processes: the W3C `traceparent` / `tracestate` / `baggage` headers and
//! AWS X-Ray's `X-Amzn-Trace-Id`, read from a request and written on outgoing calls.
//!
//! Reading follows the ADOT distro's default propagators (`xray,tracecontext,...`): each one is
//! tried in turn and a later valid one replaces an earlier one, so a valid `traceparent` wins over
//! `X-Amzn-Trace-Id` when a caller sends both, and an invalid `traceparent` leaves the X-Ray
//! context in place. `tracestate` is only read alongside a valid `traceparent` (W3C §3.3.1).
//! `baggage` is carried as the caller wrote it: we neither interpret nor rewrite it.

use std::sync::Arc;

use super::{SpanContext, SpanId, TraceId};

/// What a span hands to its children and to outgoing calls: its span context (none when
/// tracing is off or the request carried none) and the W3C baggage that came in with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceContext {
    /// The span to parent on (ours, or the caller's when `remote`).
    pub span: Option<SpanContext>,
    /// The `baggage` header value, as received.
    pub baggage: Option<Arc<str>>,
}

/// W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";
/// W3C `baggage`.
pub const BAGGAGE: &str = "baggage";
/// AWS X-Ray's trace header.
pub const X_AMZN_TRACE_ID: &str = "x-amzn-trace-id";

/// W3C trace context: implementations should carry at least 512 characters of `tracestate`;
/// beyond that whole members are dropped from the end (§3.3.1.5).
const MAX_TRACESTATE: usize = 512;
/// W3C baggage: at most 8192 bytes in all (§3.3.2); a longer header is not passed on.
const MAX_BAGGAGE: usize = 8192;

impl TraceContext {
    /// No context: a root span follows.
    pub const NONE: TraceContext = TraceContext {
        span: None,
        baggage: None,
    };

    /// The caller's context from request headers; `header` looks a header up by lower-case
    /// name (the first occurrence).
    pub fn extract<'h>(header: impl Fn(&str) -> Option<&'h str>) -> TraceContext {
        let xray = header(X_AMZN_TRACE_ID).and_then(parse_xray);
        let w3c = header(TRACEPARENT).and_then(parse_traceparent).map(|mut ctx| {
            if let Some(state) = header(TRACESTATE) {
                ctx.trace_state = bounded_tracestate(state);
            }
            ctx
        });
        let baggage = header(BAGGAGE)
            .map(str::trim)
            .filter(|b| !b.is_empty() && b.len() <= MAX_BAGGAGE)
            .map(Arc::from);
        TraceContext {
            span: w3c.or(xray),
            baggage,
        }
    }

    /// The W3C headers for an outgoing call: `traceparent`, then `tracestate` and `baggage` when
    /// there are any. Empty without a span.
    pub fn w3c_headers(&self) -> Vec<(&'static str, String)> {
        let Some(span) = &self.span else {
            return Vec::new();
        };
        let mut headers = vec![(TRACEPARENT, format_traceparent(span))];
        if !span.trace_state.is_empty() {
            headers.push((TRACESTATE, span.trace_state.clone()));
        }
        if let Some(baggage) = &self.baggage {
            headers.push((BAGGAGE, baggage.to_string()));
        }
        headers
    }

    /// The `X-Amzn-Trace-Id` value for an outgoing AWS call, when there is a span.
    pub fn xray_header(&self) -> Option<String> {
        self.span.as_ref().map(format_xray)
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses a `traceparent` value (W3C Trace Context level 1 §3.2): version `00` with exactly four
/// fields; a higher version (not `ff`) is read for its first four fields when what follows starts
/// with `-`, as the specification asks of a version-00 parser. Lower-case hex only; all-zero ids
/// are invalid. Spaces and tabs around the value are ignored (a header's optional whitespace).
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let value = value.trim_matches([' ', '\t']);
    let head = value.get(..55)?;
    let rest = &value[55..];
    let mut fields = head.split('-');
    let (version, trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some()
        || version.len() != 2
        || trace.len() != 32
        || span.len() != 16
        || flags.len() != 2
        || ![version, trace, span, flags].iter().all(|f| is_lower_hex(f))
        || version == "ff"
    {
        return None;
    }
    if version == "00" {
        if !rest.is_empty() {
            return None;
        }
    } else if !rest.is_empty() && !rest.starts_with('-') {
        return None;
    }
    let trace_id = TraceId(hex_bytes(trace)?);
    let span_id = SpanId(hex_bytes(span)?);
    if trace_id.0 == [0; 16] || span_id.0 == [0; 8] {
        return None;
    }
    Some(SpanContext {
        trace_id,
        span_id,
        flags: u8::from_str_radix(flags, 16).ok()?,
        trace_state: String::new(),
        remote: true,
    })
}

/// `00-{trace id}-{span id}-{flags}`: the version this implementation writes.
pub fn format_traceparent(ctx: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        ctx.trace_id.to_hex(),
        ctx.span_id.to_hex(),
        ctx.flags
    )
}

/// `tracestate` trimmed, and cut after the last whole member that fits the 512 characters every
/// participant must carry.
fn bounded_tracestate(value: &str) -> String {
    let value = value.trim_matches([' ', '\t']);
    if value.len() <= MAX_TRACESTATE {
        return value.to_string();
    }
    let mut kept = String::new();
    for member in value.split(',') {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        let extra = member.len() + usize::from(!kept.is_empty());
        if kept.len() + extra > MAX_TRACESTATE {
            break;
        }
        if !kept.is_empty() {
            kept.push(',');
        }
        kept.push_str(member);
    }
    kept
}

/// Parses `X-Amzn-Trace-Id` (`Root=1-{8 hex}-{24 hex};Parent={16 hex};Sampled=0|1`, fields in
/// any order, others ignored). `Root` and `Parent` are required: a header without a parent
/// (what a load balancer adds to a new request) starts no trace here. `Sampled` other than `1`
/// (missing, `0`, `?`) reads as not sampled, as OpenTelemetry's X-Ray propagator reads it.
pub fn parse_xray(value: &str) -> Option<SpanContext> {
    let mut trace_id = None;
    let mut span_id = None;
    let mut sampled = false;
    for field in value.split(';') {
        let Some((key, val)) = field.split_once('=') else {
            continue;
        };
        let val = val.trim();
        match key.trim() {
            "Root" => {
                let mut parts = val.split('-');
                let (version, time, random) = (parts.next()?, parts.next()?, parts.next()?);
                if parts.next().is_some()
                    || version != "1"
                    || time.len() != 8
                    || random.len() != 24
                    || !is_hex(time)
                    || !is_hex(random)
                {
                    return None;
                }
                let hex = format!("{time}{random}").to_ascii_lowercase();
                trace_id = Some(TraceId(hex_bytes(&hex)?));
            }
            "Parent" => {
                if !is_hex(val) {
                    return None;
                }
                span_id = Some(SpanId(hex_bytes(&val.to_ascii_lowercase())?));
            }
            "Sampled" => sampled = val == "1",
            _ => {}
        }
    }
    let (trace_id, span_id) = (trace_id?, span_id?);
    if trace_id.0 == [0; 16] || span_id.0 == [0; 8] {
        return None;
    }
    Some(SpanContext {
        trace_id,
        span_id,
        flags: u8::from(sampled),
        trace_state: String::new(),
        remote: true,
    })
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `Root=1-{first 8 hex}-{last 24 hex};Parent={span id};Sampled={0|1}`.
pub fn format_xray(ctx: &SpanContext) -> String {
    let trace = ctx.trace_id.to_hex();
    format!(
        "Root=1-{}-{};Parent={};Sampled={}",
        &trace[..8],
        &trace[8..],
        ctx.span_id.to_hex(),
        u8::from(ctx.sampled())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn tp(s: &str) -> Option<SpanContext> {
        parse_traceparent(s)
    }

    #[test]
    fn a_valid_traceparent_round_trips() {
        let value = format!("00-{TRACE}-{SPAN}-01");
        let ctx = tp(&value).unwrap();
        assert_eq!(ctx.trace_id.to_hex(), TRACE);
        assert_eq!(ctx.span_id.to_hex(), SPAN);
        assert!(ctx.sampled() && ctx.remote);
        assert_eq!(format_traceparent(&ctx), value);
        let unsampled = tp(&format!("00-{TRACE}-{SPAN}-00")).unwrap();
        assert!(!unsampled.sampled());
        assert!(
            tp(&format!(" \t00-{TRACE}-{SPAN}-01\t ")).is_some(),
            "optional whitespace"
        );
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            String::new(),
            "garbage".into(),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-1"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("00-{TRACE}-{SPAN}-0x"),
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            format!("00_{TRACE}_{SPAN}_01"),
            format!("00-{TRACE}-{SPAN}-01x"),
            format!("0g-{TRACE}-{SPAN}-01"),
        ] {
            assert_eq!(tp(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn future_versions_are_read_for_their_known_fields() {
        assert!(tp(&format!("01-{TRACE}-{SPAN}-01")).is_some());
        let ctx = tp(&format!("cc-{TRACE}-{SPAN}-01-what-the-future-holds")).unwrap();
        assert_eq!(ctx.span_id.to_hex(), SPAN);
        assert_eq!(tp(&format!("cc-{TRACE}-{SPAN}-01.bad")), None);
    }

    #[test]
    fn tracestate_and_baggage_pass_through_with_a_valid_traceparent_only() {
        let parent = format!("00-{TRACE}-{SPAN}-01");
        let headers = [
            ("traceparent", parent.as_str()),
            ("tracestate", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"),
            ("baggage", "session.id=abc,userId=alice"),
        ];
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let ctx = TraceContext::extract(get);
        let span = ctx.span.as_ref().unwrap();
        assert_eq!(span.trace_state, "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7");
        assert_eq!(ctx.baggage.as_deref(), Some("session.id=abc,userId=alice"));
        assert_eq!(
            ctx.w3c_headers(),
            vec![
                ("traceparent", parent.clone()),
                (
                    "tracestate",
                    "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7".to_string()
                ),
                ("baggage", "session.id=abc,userId=alice".to_string()),
            ]
        );
        let without = TraceContext::extract(|name| (name == "tracestate").then_some("congo=t61rcWkgMzE"));
        assert_eq!(without, TraceContext::NONE);
        assert!(without.w3c_headers().is_empty());
    }

    #[test]
    fn a_long_tracestate_keeps_whole_members() {
        let members: Vec<String> = (0..40).map(|i| format!("vendor{i:02}=value-{i:04}")).collect();
        let kept = bounded_tracestate(&members.join(","));
        assert!(kept.len() <= 512);
        assert!(kept.starts_with("vendor00=value-0000,"));
        assert!(kept.split(',').all(|m| members.contains(&m.to_string())));
    }

    #[test]
    fn xray_headers_in_and_out() {
        let value = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let ctx = parse_xray(value).unwrap();
        assert_eq!(ctx.trace_id.to_hex(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(ctx.span_id.to_hex(), "53995c3f42cd8ad8");
        assert!(ctx.sampled() && ctx.remote);
        assert_eq!(format_xray(&ctx), value);
        let reordered = parse_xray(
            "Sampled=0; Parent=53995C3F42CD8AD8 ;Lineage=a:1;Root=1-5759e988-bd862e3fe1be46a994272793",
        )
        .unwrap();
        assert_eq!(reordered.span_id, ctx.span_id);
        assert!(!reordered.sampled());
        assert!(
            !parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=?")
                .unwrap()
                .sampled()
        );
        for bad in [
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e98-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a99427279z;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8a",
            "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
            "",
        ] {
            assert_eq!(parse_xray(bad), None, "{bad}");
        }
    }

    #[test]
    fn traceparent_wins_over_x_amzn_trace_id_and_an_invalid_one_does_not() {
        let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let parent = format!("00-{TRACE}-{SPAN}-01");
        let both = TraceContext::extract(|name| match name {
            "traceparent" => Some(parent.as_str()),
            "x-amzn-trace-id" => Some(xray),
            _ => None,
        });
        assert_eq!(both.span.unwrap().trace_id.to_hex(), TRACE);
        let broken = TraceContext::extract(|name| match name {
            "traceparent" => Some("00-broken"),
            "x-amzn-trace-id" => Some(xray),
            _ => None,
        });
        assert_eq!(
            broken.span.unwrap().trace_id.to_hex(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(
            TraceContext::extract(|name| (name == "x-amzn-trace-id").then_some(xray))
                .xray_header()
                .as_deref(),
            Some(xray)
        );
    }

    #[test]
    fn oversized_baggage_is_not_passed_on() {
        let big = "k=".to_string() + &"v".repeat(MAX_BAGGAGE);
        let parent = format!("00-{TRACE}-{SPAN}-01");
        let ctx = TraceContext::extract(|name| match name {
            "traceparent" => Some(parent.as_str()),
            "baggage" => Some(big.as_str()),
            _ => None,
        });
        assert_eq!(ctx.baggage, None);
    }
}
