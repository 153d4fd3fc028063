//! `ExportTraceServiceRequest` in protobuf, written by hand: the messages are few and fixed
//! (opentelemetry-proto's `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`), and a code generator and runtime would cost far more binary
//! than these functions. Field numbers are the .proto files'; proto3 defaults (0, "", empty) are
//! left out as protobuf encoders leave them out, except inside `AnyValue`'s oneof, where the
//! field present is the value's type. The official Python package decodes the output in
//! tests/it/otlp.rs.

use crate::telemetry::{Event, KeyValue, SpanData, Status, Value};

/// One request for `spans` (grouped by scope, in first-seen order) under `resource`.
pub fn encode_protobuf(resource: &[KeyValue], spans: &[SpanData]) -> Vec<u8> {
    // A plain invocation's spans take 300 to 1,000 bytes each: few regrowths, no large waste.
    let mut out = Vec::with_capacity(256 + spans.len() * 768);
    // ExportTraceServiceRequest.resource_spans = 1
    message(&mut out, 1, |b| {
        // ResourceSpans.resource = 1 { Resource.attributes = 1 }
        message(b, 1, |r| attributes(r, 1, resource));
        for (scope, group) in super::json::by_scope(spans) {
            // ResourceSpans.scope_spans = 2
            message(b, 2, |s| {
                // ScopeSpans.scope = 1 { InstrumentationScope.name = 1 }
                message(s, 1, |i| string(i, 1, scope));
                for span in group {
                    // ScopeSpans.spans = 2
                    message(s, 2, |m| encode_span(m, span));
                }
            });
        }
    });
    out
}

fn encode_span(b: &mut Vec<u8>, span: &SpanData) {
    bytes(b, 1, &span.context.trace_id.0);
    bytes(b, 2, &span.context.span_id.0);
    string(b, 3, &span.context.trace_state);
    if let Some(parent) = &span.parent_span_id {
        bytes(b, 4, &parent.0);
    }
    string(b, 5, &span.name);
    uint(b, 6, span.kind as u64);
    fixed64(b, 7, span.start_unix_nano);
    fixed64(b, 8, span.end_unix_nano);
    attributes(b, 9, &span.attributes);
    for event in &span.events {
        message(b, 11, |e| encode_event(e, event));
    }
    match &span.status {
        Status::Unset => {}
        // Status.message = 2, Status.code = 3 (STATUS_CODE_OK = 1, STATUS_CODE_ERROR = 2)
        Status::Ok => message(b, 15, |s| uint(s, 3, 1)),
        Status::Error(description) => message(b, 15, |s| {
            string(s, 2, description);
            uint(s, 3, 2);
        }),
    }
    // Span.flags = 16 (fixed32): the W3C trace flags in bits 0-7. Bits 8-9 (whether the parent
    // is remote) are left clear: "unknown", as SpanData does not say.
    if span.context.flags != 0 {
        key(b, 16, 5);
        b.extend_from_slice(&u32::from(span.context.flags).to_le_bytes());
    }
}

fn encode_event(b: &mut Vec<u8>, event: &Event) {
    fixed64(b, 1, event.time_unix_nano);
    string(b, 2, &event.name);
    attributes(b, 3, &event.attributes);
}

/// Repeated `KeyValue` at `field`.
fn attributes(b: &mut Vec<u8>, field: u32, attrs: &[KeyValue]) {
    for (k, v) in attrs {
        message(b, field, |kv| {
            string(kv, 1, k);
            message(kv, 2, |any| any_value(any, v));
        });
    }
}

/// `AnyValue`'s oneof: string 1, bool 2, int 3, double 4, array 5 (`ArrayValue.values` = 1).
fn any_value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => {
            key(b, 1, 2);
            varint(b, s.len() as u64);
            b.extend_from_slice(s.as_bytes());
        }
        Value::Bool(x) => {
            key(b, 2, 0);
            varint(b, u64::from(*x));
        }
        Value::Int(x) => {
            key(b, 3, 0);
            // int64 is a plain two's-complement varint (not zigzag).
            varint(b, *x as u64);
        }
        Value::Double(x) => {
            key(b, 4, 1);
            b.extend_from_slice(&x.to_le_bytes());
        }
        Value::StrArray(items) => message(b, 5, |arr| {
            for s in items {
                message(arr, 1, |any| {
                    key(any, 1, 2);
                    varint(any, s.len() as u64);
                    any.extend_from_slice(s.as_bytes());
                });
            }
        }),
    }
}

/// A length-delimited sub-message, written in place: one byte is kept for its length (what
/// most of these messages need), and the body is moved along only when the length needs more.
/// A scratch buffer per message cost an allocation and a copy for every attribute.
fn message(b: &mut Vec<u8>, field: u32, fill: impl FnOnce(&mut Vec<u8>)) {
    key(b, field, 2);
    let at = b.len();
    b.push(0);
    fill(b);
    let len = b.len() - at - 1;
    if len < 0x80 {
        b[at] = len as u8;
        return;
    }
    let (head, n) = varint_bytes(len as u64);
    b.splice(at..=at, head[..n].iter().copied());
}

fn string(b: &mut Vec<u8>, field: u32, s: &str) {
    bytes(b, field, s.as_bytes());
}

fn bytes(b: &mut Vec<u8>, field: u32, v: &[u8]) {
    if v.is_empty() {
        return;
    }
    key(b, field, 2);
    varint(b, v.len() as u64);
    b.extend_from_slice(v);
}

fn uint(b: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(b, field, 0);
        varint(b, v);
    }
}

fn fixed64(b: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(b, field, 1);
        b.extend_from_slice(&v.to_le_bytes());
    }
}

fn key(b: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(b, (u64::from(field) << 3) | u64::from(wire_type));
}

#[inline]
fn varint(b: &mut Vec<u8>, v: u64) {
    // Tags, most lengths and small integers: one byte.
    if v < 0x80 {
        b.push(v as u8);
        return;
    }
    let (bytes, n) = varint_bytes(v);
    b.extend_from_slice(&bytes[..n]);
}

/// `v` as a varint: its bytes and how many there are.
#[inline]
fn varint_bytes(mut v: u64) -> ([u8; 10], usize) {
    let (mut bytes, mut n) = ([0u8; 10], 0);
    while v >= 0x80 {
        bytes[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    (bytes, n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_negative_int64() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        let mut b = Vec::new();
        any_value(&mut b, &Value::Int(-1));
        // tag 0x18, then ten bytes: a negative int64 always takes the full width.
        assert_eq!(b.len(), 11);
        assert_eq!(b[0], 0x18);
        assert_eq!(b[10], 0x01);
        let mut b = Vec::new();
        any_value(&mut b, &Value::Bool(false));
        assert_eq!(
            b,
            [0x10, 0x00],
            "a false bool is still written: it is the oneof's choice"
        );
    }

    /// The reference: the body in a buffer of its own, then its length.
    fn scratch_message(b: &mut Vec<u8>, field: u32, body: &[u8]) {
        key(b, field, 2);
        varint(b, body.len() as u64);
        b.extend_from_slice(body);
    }

    #[test]
    fn in_place_lengths_match_a_separate_buffer_at_every_width() {
        for len in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000, 2_100_000] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut want = vec![7u8];
            scratch_message(&mut want, 9, &body);
            let mut got = vec![7u8];
            message(&mut got, 9, |m| m.extend_from_slice(&body));
            assert_eq!(got, want, "body of {len} bytes");

            // Nested: the outer length covers the inner one's grown header.
            let mut inner = Vec::new();
            scratch_message(&mut inner, 1, &body);
            let mut want = Vec::new();
            scratch_message(&mut want, 2, &inner);
            let mut got = Vec::new();
            message(&mut got, 2, |o| message(o, 1, |m| m.extend_from_slice(&body)));
            assert_eq!(got, want, "nested body of {len} bytes");
        }
    }
}
