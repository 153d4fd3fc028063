//! One export request over OTLP/HTTP: a dedicated, pooled ureq agent; SigV4 for X-Ray; and the
//! OTLP specification's reading of the answer (2xx done; 429, 502, 503, 504 and connection
//! failures worth retrying, with `Retry-After`; anything else final).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{OtlpConfig, OtlpProtocol, SigV4Target};
use crate::aws::{ProvideCredentials, SignableRequest};
use crate::telemetry::{KeyValue, SpanData};

const USER_AGENT: &str = concat!("agentcore-rt/", env!("CARGO_PKG_VERSION"), " (OTLP exporter)");

/// Answers are read only to keep the connection reusable; nothing in them is needed.
const ANSWER_LIMIT: u64 = 64 * 1024;

/// What became of one attempt.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The collector took the batch, all of it but `rejected` spans (OTLP's partial success,
    /// which must not be retried), with its message when it gave one.
    Done { rejected: u64, message: Option<String> },
    /// Worth trying again, after `after` when the collector said so.
    Retry { after: Option<Duration>, why: String },
    /// Final: the batch is lost.
    Failed(String),
}

pub(super) struct Transport {
    agent: ureq::Agent,
    endpoint: String,
    protocol: OtlpProtocol,
    headers: Vec<(String, String)>,
    timeout: Duration,
    signer: Option<(SigV4Target, Arc<dyn ProvideCredentials>)>,
}

impl Transport {
    pub(super) fn new(config: &OtlpConfig, credentials: Option<Arc<dyn ProvideCredentials>>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .timeout_resolve(Some(config.timeout))
            .timeout_connect(Some(config.timeout))
            .timeout_global(Some(config.timeout))
            // One thread sends: one idle connection is all the pool needs.
            .max_idle_connections(2)
            .max_idle_connections_per_host(1)
            .build()
            .into();
        let signer = match (&config.sigv4, credentials) {
            (Some(target), Some(creds)) => Some((target.clone(), creds)),
            _ => None,
        };
        Transport {
            agent,
            endpoint: config.endpoint.clone(),
            protocol: config.protocol,
            headers: config.headers.clone(),
            timeout: config.timeout,
            signer,
        }
    }

    pub(super) fn encode(&self, resource: &[KeyValue], spans: &[SpanData]) -> Vec<u8> {
        match self.protocol {
            OtlpProtocol::HttpProtobuf => super::encode_protobuf(resource, spans),
            OtlpProtocol::HttpJson => super::encode_json(resource, spans),
        }
    }

    /// One POST, given at most `limit` (and never more than the configured timeout).
    pub(super) fn send(&self, body: &[u8], limit: Duration) -> Outcome {
        let content_type = match self.protocol {
            OtlpProtocol::HttpProtobuf => "application/x-protobuf",
            OtlpProtocol::HttpJson => "application/json",
        };
        let mut headers: Vec<(&str, &str)> = vec![("content-type", content_type)];
        for (n, v) in &self.headers {
            headers.push((n, v));
        }
        let signed = match &self.signer {
            None => Vec::new(),
            Some((target, creds)) => {
                let creds = match creds.credentials() {
                    Ok(c) => c,
                    // Maybe not there yet (AgentCore hands them over after start): retry.
                    Err(e) => {
                        return Outcome::Retry {
                            after: None,
                            why: e.to_string(),
                        };
                    }
                };
                let request = SignableRequest {
                    method: "POST",
                    url: &self.endpoint,
                    headers: &headers,
                    body,
                };
                crate::aws::sign(
                    &request,
                    &creds,
                    &target.region,
                    &target.service,
                    SystemTime::now(),
                )
            }
        };
        let mut builder = ureq::http::Request::builder().method("POST").uri(&self.endpoint);
        for (n, v) in &headers {
            builder = builder.header(*n, *v);
        }
        for (n, v) in &signed {
            builder = builder.header(*n, v.as_str());
        }
        let request = match builder.body(body.to_vec()) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("invalid request: {e}")),
        };
        let limit = limit.min(self.timeout).max(Duration::from_millis(1));
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(limit))
            .timeout_connect(Some(limit))
            .build();
        let mut response = match self.agent.run(request) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    why: crate::aws::describe_transport_error(&e),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read (bounded) also so the pooled connection can carry the next batch.
        let answer = response
            .body_mut()
            .with_config()
            .limit(ANSWER_LIMIT)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => {
                let (rejected, message) = match self.protocol {
                    OtlpProtocol::HttpProtobuf => partial_success_protobuf(&answer),
                    OtlpProtocol::HttpJson => partial_success_json(&answer),
                };
                Outcome::Done { rejected, message }
            }
            429 | 502 | 503 | 504 => Outcome::Retry {
                after: retry_after,
                why: format!("HTTP {status}"),
            },
            _ => Outcome::Failed(format!("HTTP {status}")),
        }
    }
}

/// `ExportTraceServiceResponse.partial_success` (field 1): `rejected_spans` (1, int64) and
/// `error_message` (2). Anything unreadable counts as full success: the collector said 2xx.
fn partial_success_protobuf(answer: &[u8]) -> (u64, Option<String>) {
    let mut rejected = 0;
    let mut message = None;
    if let Some(inner) =
        protobuf_fields(answer).find_map(|(f, v)| (f == 1).then_some(v).and_then(Field::bytes))
    {
        for (field, value) in protobuf_fields(inner) {
            match (field, value) {
                (1, Field::Varint(n)) => rejected = n,
                (2, Field::Bytes(b)) => message = Some(String::from_utf8_lossy(b).into_owned()),
                _ => {}
            }
        }
    }
    (rejected, message.filter(|m| !m.is_empty()))
}

/// The JSON form: `{"partialSuccess": {"rejectedSpans": "2", "errorMessage": "..."}}` (int64 as a
/// string, or a number from lenient collectors).
fn partial_success_json(answer: &[u8]) -> (u64, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(answer) else {
        return (0, None);
    };
    let p = &v["partialSuccess"];
    let rejected = match &p["rejectedSpans"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        n => n.as_u64().unwrap_or(0),
    };
    let message = p["errorMessage"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    (rejected, message)
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

impl<'a> Field<'a> {
    fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Field::Bytes(b) => Some(b),
            Field::Varint(_) => None,
        }
    }
}

/// The top-level fields of a protobuf message; stops at the first malformed one.
fn protobuf_fields(mut b: &[u8]) -> impl Iterator<Item = (u64, Field<'_>)> {
    std::iter::from_fn(move || {
        let key = read_varint(&mut b)?;
        let field = match key & 7 {
            0 => Field::Varint(read_varint(&mut b)?),
            2 => {
                let len = usize::try_from(read_varint(&mut b)?).ok()?;
                let (v, rest) = (b.get(..len)?, b.get(len..)?);
                b = rest;
                Field::Bytes(v)
            }
            1 => {
                b = b.get(8..)?;
                Field::Varint(0)
            }
            5 => {
                b = b.get(4..)?;
                Field::Varint(0)
            }
            _ => return None,
        };
        Some((key >> 3, field))
    })
}

fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// `Retry-After` in seconds (the form collectors send); an HTTP date is ignored and the
/// backoff applies instead.
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_success_in_both_encodings() {
        // partial_success { rejected_spans: 300, error_message: "too big" }
        let mut inner = vec![0x08, 0xac, 0x02, 0x12, 7];
        inner.extend_from_slice(b"too big");
        let mut answer = vec![0x0a, inner.len() as u8];
        answer.extend_from_slice(&inner);
        assert_eq!(partial_success_protobuf(&answer), (300, Some("too big".into())));
        assert_eq!(partial_success_protobuf(b""), (0, None));
        assert_eq!(
            partial_success_protobuf(&[0x0a, 0x05, 0x08]),
            (0, None),
            "truncated"
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"no"}}"#;
        assert_eq!(partial_success_json(json), (2, Some("no".into())));
        assert_eq!(partial_success_json(b"{}"), (0, None));
        assert_eq!(partial_success_json(b""), (0, None));
    }

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
