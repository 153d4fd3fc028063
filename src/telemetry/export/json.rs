//! `ExportTraceServiceRequest` in the OTLP/JSON encoding: protobuf's JSON mapping with the
//! OTLP specification's exceptions. Field names lowerCamelCase; trace and span ids lower-case
//! hex (not base64); enums as integers; 64-bit integers (`intValue`, `*UnixNano`) as decimal
//! strings; doubles as numbers, or `"NaN"`, `"Infinity"`, `"-Infinity"`; defaults left out.

use crate::logging::push_json_str;
use crate::telemetry::{Event, KeyValue, SpanData, Status, Value};

/// One request for `spans` (grouped by scope, in first-seen order) under `resource`.
pub fn encode_json(resource: &[KeyValue], spans: &[SpanData]) -> Vec<u8> {
    let mut o = String::with_capacity(256 + spans.len() * 512);
    o.push_str("{\"resourceSpans\":[{\"resource\":{\"attributes\":");
    attributes(&mut o, resource);
    o.push_str("},\"scopeSpans\":[");
    for (i, (scope, group)) in by_scope(spans).into_iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"scope\":{\"name\":");
        push_json_str(&mut o, scope);
        o.push_str("},\"spans\":[");
        for (j, span) in group.into_iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            encode_span(&mut o, span);
        }
        o.push_str("]}");
    }
    o.push_str("]}]}");
    o.into_bytes()
}

/// Spans grouped by instrumentation scope, scopes in the order first seen.
pub(super) fn by_scope(spans: &[SpanData]) -> Vec<(&'static str, Vec<&SpanData>)> {
    let mut groups: Vec<(&'static str, Vec<&SpanData>)> = Vec::new();
    for span in spans {
        match groups.iter_mut().find(|(scope, _)| *scope == span.scope) {
            Some((_, group)) => group.push(span),
            None => groups.push((span.scope, vec![span])),
        }
    }
    groups
}

fn encode_span(o: &mut String, span: &SpanData) {
    o.push_str("{\"traceId\":\"");
    o.push_str(&span.context.trace_id.to_hex());
    o.push_str("\",\"spanId\":\"");
    o.push_str(&span.context.span_id.to_hex());
    o.push('"');
    if !span.context.trace_state.is_empty() {
        o.push_str(",\"traceState\":");
        push_json_str(o, &span.context.trace_state);
    }
    if let Some(parent) = &span.parent_span_id {
        o.push_str(",\"parentSpanId\":\"");
        o.push_str(&parent.to_hex());
        o.push('"');
    }
    if span.context.flags != 0 {
        o.push_str(&format!(",\"flags\":{}", span.context.flags));
    }
    o.push_str(",\"name\":");
    push_json_str(o, &span.name);
    o.push_str(&format!(
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
        span.kind as u8, span.start_unix_nano, span.end_unix_nano
    ));
    if !span.attributes.is_empty() {
        o.push_str(",\"attributes\":");
        attributes(o, &span.attributes);
    }
    if !span.events.is_empty() {
        o.push_str(",\"events\":[");
        for (i, event) in span.events.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            encode_event(o, event);
        }
        o.push(']');
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => o.push_str(",\"status\":{\"code\":1}"),
        Status::Error(description) => {
            o.push_str(",\"status\":{");
            if !description.is_empty() {
                o.push_str("\"message\":");
                push_json_str(o, description);
                o.push(',');
            }
            o.push_str("\"code\":2}");
        }
    }
    o.push('}');
}

fn encode_event(o: &mut String, event: &Event) {
    o.push_str(&format!(
        "{{\"timeUnixNano\":\"{}\",\"name\":",
        event.time_unix_nano
    ));
    push_json_str(o, &event.name);
    if !event.attributes.is_empty() {
        o.push_str(",\"attributes\":");
        attributes(o, &event.attributes);
    }
    o.push('}');
}

fn attributes(o: &mut String, attrs: &[KeyValue]) {
    o.push('[');
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str("{\"key\":");
        push_json_str(o, k);
        o.push_str(",\"value\":");
        any_value(o, v);
        o.push('}');
    }
    o.push(']');
}

fn any_value(o: &mut String, v: &Value) {
    match v {
        Value::Str(s) => {
            o.push_str("{\"stringValue\":");
            push_json_str(o, s);
            o.push('}');
        }
        Value::Bool(b) => o.push_str(if *b {
            "{\"boolValue\":true}"
        } else {
            "{\"boolValue\":false}"
        }),
        Value::Int(n) => o.push_str(&format!("{{\"intValue\":\"{n}\"}}")),
        Value::Double(d) => {
            o.push_str("{\"doubleValue\":");
            if d.is_nan() {
                o.push_str("\"NaN\"");
            } else if d.is_infinite() {
                o.push_str(if *d > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
            } else {
                // Rust's shortest round-trip form; `1e300` needs no exponent sign fix-up and an
                // integral value prints as `2`, which JSON reads as the same double.
                o.push_str(&format!("{d:?}"));
            }
            o.push('}');
        }
        Value::StrArray(items) => {
            o.push_str("{\"arrayValue\":{\"values\":[");
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str("{\"stringValue\":");
                push_json_str(o, s);
                o.push('}');
            }
            o.push_str("]}}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_json_numbers_or_the_mapping_strings() {
        let mut o = String::new();
        for d in [2.0, 0.1, 1e300, -1.5e-7, f64::NAN, f64::NEG_INFINITY] {
            any_value(&mut o, &Value::Double(d));
        }
        assert_eq!(
            o,
            "{\"doubleValue\":2.0}{\"doubleValue\":0.1}{\"doubleValue\":1e300}\
             {\"doubleValue\":-1.5e-7}{\"doubleValue\":\"NaN\"}{\"doubleValue\":\"-Infinity\"}"
        );
        for part in o.split("}{") {
            let part = format!("{{{}}}", part.trim_start_matches('{').trim_end_matches('}'));
            assert!(serde_json::from_str::<serde_json::Value>(&part).is_ok(), "{part}");
        }
    }
}
