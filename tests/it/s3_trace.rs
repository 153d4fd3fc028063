//! Trace context out on the S3 store's calls: the binary with `SESSION_STORE=s3://...` against
//! moto's S3 (`tests/peers/s3_server.py`), which records each request's `X-Amzn-Trace-Id` and
//! checks every signature with botocore's `S3SigV4Auth` (refusing, 403, what botocore would not
//! sign alike: a signed trace header included).

use std::time::Duration;

use serde_json::Value;

use crate::support::mock_openai::{MockOpenAi, Reply};
use crate::support::s3::{S3Peer, binary_env};
use crate::support::server::{Binary, Resp, eventually, request};
use crate::support::spans::{span_id, wait_spans};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const LEASE_SECONDS: &str = "3s";

struct Rig {
    peer: S3Peer,
    model: MockOpenAi,
    bin: Binary,
}

fn rig(traced: bool) -> Rig {
    let peer = S3Peer::start();
    peer.bucket("traced");
    let model = MockOpenAi::start();
    let (endpoint, base_url) = (peer.endpoint(), model.base_url());
    let mut env = binary_env(&endpoint, &base_url, "s3://traced/p");
    // Renewed every second: an answer that takes longer shows the renewal thread's calls.
    env.push(("SESSION_LEASE_DURATION", LEASE_SECONDS));
    if traced {
        env.push(("OTEL_TRACES_EXPORTER", "console"));
    }
    let bin = Binary::start(&env);
    peer.traces();
    Rig { peer, model, bin }
}

fn invoke(rig: &Rig, session: &str, traceparent: &str) -> Resp {
    let body = serde_json::json!({"query": "hello", "session_id": session}).to_string();
    request(
        rig.bin.addr,
        "POST",
        "/invocations",
        &[("content-type", "application/json"), ("traceparent", traceparent)],
        body.as_bytes(),
    )
}

/// The S3 requests of one invocation, once its lease is released (its last call).
fn s3_requests(peer: &S3Peer, session: &str) -> Vec<Value> {
    let lease = format!("/traced/p/session_{session}/.agentcore.lease");
    let mut all = Vec::new();
    eventually("the lease released", Duration::from_secs(10), || {
        all.extend(peer.traces());
        all.iter()
            .any(|r| r["kind"] == "DELETE" && r["path"] == lease.as_str())
    });
    for r in &all {
        assert_eq!(r["signature"], "verified", "botocore checked each signature: {r}");
    }
    all
}

fn lease_renewals(requests: &[Value], session: &str) -> usize {
    let lease = format!("/traced/p/session_{session}/.agentcore.lease");
    requests
        .iter()
        .filter(|r| r["kind"] == "PUT" && r["path"] == lease.as_str())
        .count()
        .saturating_sub(1)
}

#[test]
fn s3_calls_carry_the_invoke_agent_span_unsigned_and_its_sampled_flag() {
    let rig = rig(true);
    rig.model
        .push(Reply::text("slow answer").delay(Duration::from_millis(1600)));
    let r = invoke(&rig, "t1", &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"));
    assert_eq!(r.status, 200, "{}", r.text());
    let requests = s3_requests(&rig.peer, "t1");
    let spans = wait_spans(&rig.bin, 1);
    let agent = spans
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with("invoke_agent ")))
        .unwrap_or_else(|| panic!("no invoke_agent span: {spans:#?}"));
    let expected = format!(
        "Root=1-{}-{};Parent={};Sampled=1",
        &CALLER_TRACE[..8],
        &CALLER_TRACE[8..],
        span_id(agent)
    );
    for r in &requests {
        assert_eq!(r["x-amzn-trace-id"], expected.as_str(), "{r}");
    }
    let kinds: Vec<&str> = requests.iter().filter_map(|r| r["kind"].as_str()).collect();
    for kind in ["GET", "LIST", "PUT", "DELETE"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(
        lease_renewals(&requests, "t1") >= 1,
        "the renewal thread's calls carry it too: {requests:#?}"
    );

    // An unsampled caller: no spans, but the trace goes on to S3 with the flag off (as to
    // Bedrock), under our own (unrecorded) invoke_agent span.
    rig.model.push(Reply::text("quick"));
    let r = invoke(&rig, "t2", &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00"));
    assert_eq!(r.status, 200, "{}", r.text());
    let requests = s3_requests(&rig.peer, "t2");
    let header = requests[0]["x-amzn-trace-id"].as_str().unwrap().to_string();
    let (root, rest) = header.split_once(";Parent=").unwrap();
    assert_eq!(
        root,
        format!("Root=1-{}-{}", &CALLER_TRACE[..8], &CALLER_TRACE[8..])
    );
    let (parent, sampled) = rest.split_once(';').unwrap();
    assert!(
        parent.len() == 16 && parent != CALLER_SPAN,
        "our own span: {header}"
    );
    assert_eq!(sampled, "Sampled=0");
    for r in &requests {
        assert_eq!(r["x-amzn-trace-id"], header.as_str(), "{r}");
    }
    assert_eq!(
        wait_spans(&rig.bin, 1).len(),
        spans.len(),
        "nothing recorded for it"
    );
}

#[test]
fn tracing_off_adds_no_trace_header_to_s3_calls() {
    let rig = rig(false);
    rig.model
        .push(Reply::text("slow answer").delay(Duration::from_millis(1600)));
    let r = invoke(&rig, "off", &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"));
    assert_eq!(r.status, 200, "{}", r.text());
    let requests = s3_requests(&rig.peer, "off");
    assert!(lease_renewals(&requests, "off") >= 1, "{requests:#?}");
    for r in &requests {
        assert!(r["x-amzn-trace-id"].is_null(), "{r}");
    }
}
