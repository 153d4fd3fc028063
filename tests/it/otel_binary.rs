//! Issue 10 through the real binary over OTLP: `agentcore-rt` exports to the local receiver
//! (tests/peers/otlp_receiver.py, decoding with the official opentelemetry-proto package), and
//! what arrives is real Strands 1.62's span tree in both encodings, joins the caller's trace,
//! is signed for X-Ray in the AgentCore mode (botocore recomputes every signature), and under
//! collector faults costs invocations and `/ping` nothing, is counted when lost, stays bounded
//! in memory and is flushed on SIGTERM.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mock_openai::Reply;
use crate::support::otlp::{OtlpReceiver, console_form, dead_endpoint};
use crate::support::proc_kb;
use crate::support::server::{eventually, get};
use crate::support::spans::{
    CAPTURE, Rig, SESSION, STRANDS_SCOPE, assert_same_tree, find, id, invoke, invoke_in, plain_rig, recorded,
    rig, script, span_id, stdio_calc, tree,
};

const SERVICE: &str = "calculator.DEFAULT";
const RESOURCE_ID: &str = "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/calculator-x1y2z3";
/// Batches leave 50 ms after their first span: a test waits for spans, not for the default 5 s.
const PROMPT_DELAY: (&str, &str) = ("OTEL_BSP_SCHEDULE_DELAY", "50");
const LOSING: &str = "OTLP trace export is losing spans";
/// A bound, not a benchmark: `/ping` answers in microseconds; one that waited on the exporter
/// would take the collector's stall (seconds) or at least the OTLP timeout.
const PING_BOUND: Duration = Duration::from_millis(500);

fn resource_attributes() -> String {
    format!("cloud.resource_id={RESOURCE_ID},deployment.environment=ci")
}

/// The receiver's spans in the console exporter's shape once `servers` server spans arrived
/// (the server span ends last in an invocation).
fn wait_received(receiver: &OtlpReceiver, servers: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans: Vec<Value> = receiver.spans().iter().map(console_form).collect();
        if spans.iter().filter(|s| s["kind"] == "SpanKind.SERVER").count() >= servers {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "{servers} server spans did not arrive: {}",
            receiver.state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The resource attributes of every request (string values), which must all be the same.
fn resource(state: &Value) -> HashMap<String, Value> {
    let mut seen: Option<HashMap<String, Value>> = None;
    for r in state["requests"].as_array().unwrap() {
        for rs in r["request"]["resourceSpans"].as_array().unwrap() {
            let attrs: HashMap<String, Value> = rs["resource"]["attributes"]
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
            if let Some(seen) = &seen {
                assert_eq!(seen, &attrs, "one resource for the process");
            }
            seen = Some(attrs);
        }
    }
    seen.expect("no request")
}

fn ping_time(rig: &Rig) -> Duration {
    let t = Instant::now();
    let r = get(rig.bin.addr, "/ping");
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    took
}

fn assert_pings_fast(rig: &Rig, n: usize, what: &str) {
    for _ in 0..n {
        let took = ping_time(rig);
        assert!(took < PING_BOUND, "{what}: /ping took {took:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- 1. the span tree over OTLP, both encodings -------------------------------------------

#[test]
fn otlp_exports_of_the_binary_are_strands_span_tree_in_both_encodings() {
    // Each encoding with one of the recording's two semantic-convention variants.
    for (protocol, encoding, variant, opt_in) in [
        ("http/protobuf", "protobuf", "legacy", ""),
        ("http/json", "json", "latest", "gen_ai_latest_experimental"),
    ] {
        let receiver = OtlpReceiver::start();
        let endpoint = receiver.url();
        let attrs = resource_attributes();
        let rig = rig(
            stdio_calc(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
                ("OTEL_SERVICE_NAME", SERVICE),
                ("OTEL_RESOURCE_ATTRIBUTES", &attrs),
                ("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in),
                PROMPT_DELAY,
                CAPTURE,
            ],
        );
        script(
            &rig.mock,
            "call_add_1",
            "add",
            json!({"a": 2, "b": 3}),
            "2 + 3 = 5.",
        );
        assert_eq!(
            invoke(&rig, "What is 2 + 3?", &[]),
            json!({"response": "2 + 3 = 5.\n"})
        );
        let spans = wait_received(&receiver, 1);
        let ours = tree(&spans);
        assert_eq!(
            ours.len(),
            6,
            "{encoding}: agent, two cycles, two chats, one tool"
        );
        assert_same_tree(&ours, &recorded(variant, "mcp_tool"), encoding);

        let state = receiver.state();
        assert_eq!(
            state["errors"],
            json!([]),
            "{encoding}: the receiver refused what we sent"
        );
        for r in state["requests"].as_array().unwrap() {
            assert_eq!(r["encoding"], encoding);
            assert_eq!(r["signed"], false);
        }
        let resource = resource(&state);
        assert_eq!(resource["service.name"], SERVICE, "{encoding}");
        assert_eq!(resource["cloud.resource_id"], RESOURCE_ID, "{encoding}");
        assert_eq!(resource["deployment.environment"], "ci", "{encoding}");
        assert_eq!(resource["telemetry.sdk.name"], "agentcore-rt", "{encoding}");

        // One trace under the server span; every span carries the session for Evaluations.
        let server = find(&spans, "POST /invocations");
        assert_eq!(server["scope"], "agentcore_rt.http");
        assert_eq!(server["parent_id"], Value::Null);
        assert_eq!(server["attributes"]["session.id"], SESSION, "{encoding}");
        assert_eq!(server["attributes"]["http.response.status_code"], 200);
        let agent = find(&spans, "invoke_agent calculator");
        assert_eq!(agent["scope"], STRANDS_SCOPE);
        assert_eq!(agent["parent_id"], server["context"]["span_id"]);
        for span in &spans {
            assert_eq!(
                span["context"]["trace_id"], server["context"]["trace_id"],
                "{encoding}"
            );
            assert_eq!(
                span["attributes"]["session.id"], SESSION,
                "{encoding}: {}",
                span["name"]
            );
        }
        assert_eq!(spans.len(), 7, "{encoding}: nothing else, nothing twice");
    }
}

// ---- 2. propagation in --------------------------------------------------------------------

#[test]
fn a_callers_traceparent_and_x_amzn_trace_id_are_joined_over_otlp() {
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.traces_url();
    let rig = plain_rig(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint), PROMPT_DELAY]);

    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    rig.mock.push(Reply::text("One."));
    invoke_in(
        &rig,
        "propagation-1",
        "Hi",
        &[
            ("traceparent", &format!("00-{caller_trace}-{caller_span}-01")),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
    );
    let spans = wait_received(&receiver, 1);
    assert_eq!(spans.len(), 4, "server, agent, cycle, chat");
    for s in &spans {
        assert_eq!(id(&s["context"]["trace_id"]), caller_trace, "{}", s["name"]);
    }
    let server = find(&spans, "POST /invocations");
    assert_eq!(
        id(&server["parent_id"]),
        caller_span,
        "the server span's parent is the caller's"
    );
    assert_eq!(server["context"]["trace_state"], "congo=t61rcWkgMzE");
    // And ours goes out on the model call: the exported chat span is the model call's parent.
    let chat = find(&spans, "chat");
    assert_eq!(
        rig.mock.requests()[0].header("traceparent"),
        Some(format!("00-{caller_trace}-{}-01", span_id(chat)).as_str())
    );

    let xray_trace = "5759e988bd862e3fe1be46a994272793";
    rig.mock.push(Reply::text("Two."));
    invoke_in(
        &rig,
        "propagation-2",
        "Hi",
        &[(
            "X-Amzn-Trace-Id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )],
    );
    let spans = wait_received(&receiver, 2);
    let second: Vec<Value> = spans
        .into_iter()
        .filter(|s| id(&s["context"]["trace_id"]) == xray_trace)
        .collect();
    assert_eq!(
        second.len(),
        4,
        "the X-Ray caller's trace holds the second invocation"
    );
    assert_eq!(
        id(&find(&second, "POST /invocations")["parent_id"]),
        "53995c3f42cd8ad8"
    );
    assert_eq!(receiver.state()["errors"], json!([]));
}

// ---- 3. the AgentCore Observability mode ------------------------------------------------

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-example";
/// The code is letters: a digit string could turn up inside a random id or a timestamp.
const PRIVATE_CODE: &str = "kqzw-locker";
const PRIVATE_PROMPT: &str = "My locker code is kqzw-locker, what is the capital of France?";
const PRIVATE_ANSWER: &str = "Paris, and I will forget the code.";

fn private_invocation(rig: &Rig, receiver: &OtlpReceiver, session: &str, servers: usize) -> String {
    rig.mock.push(Reply::text(PRIVATE_ANSWER));
    invoke_in(rig, session, PRIVATE_PROMPT, &[]);
    serde_json::to_string(&wait_received(receiver, servers)).unwrap()
}

#[test]
fn agentcore_mode_exports_signed_to_xray_with_content_and_plain_otlp_without() {
    let receiver = OtlpReceiver::with_env(&[
        ("PEER_SIGV4_REGION", "us-west-2"),
        ("PEER_AWS_SESSION_TOKEN", TOKEN),
    ]);
    let xray = receiver.url();
    let attrs = resource_attributes();
    // What AgentCore sets, with the receiver standing in for xray.us-west-2.amazonaws.com.
    let rig = plain_rig(&[
        ("AGENT_OBSERVABILITY_ENABLED", "true"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        ("AWS_ENDPOINT_URL_XRAY", &xray),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("OTEL_SERVICE_NAME", SERVICE),
        ("OTEL_RESOURCE_ATTRIBUTES", &attrs),
        PROMPT_DELAY,
    ]);
    private_invocation(&rig, &receiver, "agentcore-1", 1);
    let text = private_invocation(&rig, &receiver, "agentcore-2", 2);
    let state = receiver.state();
    assert_eq!(state["errors"], json!([]), "botocore refused a signature");
    let requests = state["requests"].as_array().unwrap();
    assert!(requests.len() >= 2, "one export per invocation at least: {state}");
    assert_eq!(state["attempts"], requests.len(), "every export accepted at once");
    for r in requests {
        assert_eq!(r["signed"], true);
        assert_eq!(r["encoding"], "protobuf");
        assert_eq!(r["headers"]["x-amz-security-token"], TOKEN);
    }
    let resource = resource(&state);
    assert_eq!(resource["service.name"], SERVICE);
    assert_eq!(resource["cloud.resource_id"], RESOURCE_ID);
    // ADOT sets content capture on in this mode: the prompt and the answer are in the spans.
    assert!(text.contains(PRIVATE_PROMPT), "no prompt in the spans: {text}");
    assert!(text.contains(PRIVATE_ANSWER), "no answer in the spans: {text}");
    drop(rig);

    // Outside it, content stays in the process unless asked for.
    let plain = OtlpReceiver::start();
    let endpoint = plain.url();
    let rig = plain_rig(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), PROMPT_DELAY]);
    let text = private_invocation(&rig, &plain, "plain-1", 1);
    assert!(text.contains("invoke_agent calculator"), "{text}");
    for secret in [PRIVATE_PROMPT, PRIVATE_CODE, PRIVATE_ANSWER] {
        assert!(
            !text.contains(secret),
            "{secret:?} exported without content capture: {text}"
        );
    }
    assert_eq!(plain.state()["requests"][0]["signed"], false);
}

// ---- 4. collector faults -----------------------------------------------------------------

/// An exporter that gives up quickly: a request waits 300 ms at most, a batch 1.5 s.
fn impatient(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.to_string()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "300".into()),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1500".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".into()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "16".into()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4".into()),
    ]
}

fn start(env: &[(&'static str, String)]) -> Rig {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    plain_rig(&env)
}

/// The first loss warning (reported at once; later ones at most every 30 s).
fn loss_warning(rig: &Rig) -> Value {
    rig.bin
        .wait_for_log("the losing-spans warning", |l| l["message"] == LOSING)
}

/// The collector misbehaves (`mode` of the receiver) while invocations run: each answers 200,
/// `/ping` stays fast while an export hangs on the collector, and the loss is logged with its
/// counts.
fn collector_fault(mode: &str, extra: Value) -> (Value, Value) {
    let receiver = OtlpReceiver::start();
    receiver.fault(mode, None, extra);
    let rig = start(&impatient(&receiver.traces_url()));
    rig.mock.set_default(Reply::text("Fine."));
    for i in 0..12 {
        invoke_in(&rig, &format!("{mode}-{i}"), "Hi", &[]);
        assert_pings_fast(&rig, 1, mode);
    }
    eventually("an export attempt", Duration::from_secs(10), || {
        receiver.state()["attempts"].as_u64().unwrap() >= 1
    });
    assert_pings_fast(&rig, 10, mode);
    let warning = loss_warning(&rig);
    assert_eq!(warning["level"], "WARNING", "{warning}");
    assert_eq!(warning["endpoint"], receiver.traces_url());
    let (dropped, failed) = (
        warning["dropped_total"].as_u64().unwrap(),
        warning["failed_total"].as_u64().unwrap(),
    );
    assert!(failed >= 1, "{mode}: a lost batch is counted: {warning}");
    assert!(
        dropped + failed <= 12 * 4,
        "{mode}: counts no more than there were: {warning}"
    );
    assert!(
        !warning["last_error"].as_str().unwrap_or_default().is_empty(),
        "{warning}"
    );
    // Still serving after the loss.
    rig.mock.push(Reply::text("Still here."));
    invoke_in(&rig, &format!("{mode}-after"), "Hi", &[]);
    (warning, receiver.state())
}

#[test]
fn a_slow_collector_never_slows_invocations_or_ping() {
    let (warning, state) = collector_fault("slow", json!({"delay": 3}));
    // The 300 ms timeout cut each request short and the batch was retried until 1.5 s.
    assert!(state["attempts"].as_u64().unwrap() >= 2, "{state}");
    assert!(
        warning["last_error"].as_str().unwrap().contains("timed out"),
        "{warning}"
    );
}

#[test]
fn a_collector_answering_500_loses_batches_without_retrying_them() {
    let (warning, state) = collector_fault("500", json!({}));
    assert!(
        warning["last_error"].as_str().unwrap().contains("500"),
        "{warning}"
    );
    assert_eq!(state["requests"], json!([]), "{state}");
}

#[test]
fn a_throttling_collector_is_retried_and_then_given_up_on() {
    let (warning, state) = collector_fault("429", json!({"retry_after": 1}));
    assert!(
        warning["last_error"].as_str().unwrap().contains("429"),
        "{warning}"
    );
    assert!(
        state["attempts"].as_u64().unwrap() >= 2,
        "retried after Retry-After: {state}"
    );
}

#[test]
fn a_collector_closing_connections_never_slows_invocations_or_ping() {
    let (_, state) = collector_fault("close", json!({}));
    assert!(state["attempts"].as_u64().unwrap() >= 2, "retried: {state}");
}

/// 96 KiB of prompt per invocation, held (content capture on) by the agent's, the cycle's and
/// the chat span's events: queued without bound, 150 invocations would hold over 40 MiB.
fn big_prompt() -> String {
    "All work and no play makes Jack a dull boy. ".repeat(96 * 1024 / 44)
}

#[test]
fn collector_down_drops_and_counts_spans_with_memory_bounded_and_sigterm_prompt() {
    let mut env = impatient(&dead_endpoint());
    env.retain(|(k, _)| *k != "OTEL_BSP_EXPORT_TIMEOUT");
    // Drops happen long before the first batch is given up (3 s), so the first warning counts them.
    env.push(("OTEL_BSP_EXPORT_TIMEOUT", "3000".into()));
    env.push((
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "true".into(),
    ));
    env.push(("DRAIN_TIMEOUT", "1s".into()));
    let mut rig = start(&env);
    rig.mock.set_default(Reply::text("Noted."));
    let prompt = big_prompt();
    for i in 0..10 {
        invoke_in(&rig, &format!("warm-{i}"), &prompt, &[]);
    }
    let pid = rig.bin.pid();
    let before = proc_kb(pid, "VmRSS");
    std::thread::scope(|s| {
        for t in 0..3 {
            let (rig, prompt) = (&rig, &prompt);
            s.spawn(move || {
                for i in 0..50 {
                    invoke_in(rig, &format!("down-{t}-{i}"), prompt, &[]);
                }
            });
        }
        s.spawn(|| assert_pings_fast(&rig, 20, "collector down"));
    });
    let after = proc_kb(pid, "VmRSS");
    eprintln!("collector down: VmRSS {before} kB -> {after} kB over 150 invocations");
    assert!(
        after < before + 16 * 1024,
        "VmRSS grew from {before} kB to {after} kB: the queue is not bounded"
    );

    let warning = loss_warning(&rig);
    let dropped = warning["dropped"].as_u64().unwrap();
    assert!(
        dropped >= 100,
        "spans dropped at the full queue are counted: {warning}"
    );
    assert!(
        warning["last_error"].as_str().unwrap().contains("connection"),
        "{warning}"
    );

    // Shutdown does not wait on a dead collector past its budget: DRAIN_TIMEOUT (1 s) for the
    // drain, then at most min(DRAIN_TIMEOUT, 5 s) for the flush.
    let t = Instant::now();
    rig.bin.signal(15);
    let status = rig
        .bin
        .wait_exit(Duration::from_secs(10))
        .expect("exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "exit took {:?}",
        t.elapsed()
    );
    // The exit reports what was lost since the last warning: every span is accounted for.
    let last = rig
        .bin
        .logs()
        .into_iter()
        .rfind(|l| l["message"] == LOSING)
        .unwrap();
    let total = last["dropped_total"].as_u64().unwrap() + last["failed_total"].as_u64().unwrap();
    assert_eq!(
        total,
        160 * 4,
        "160 invocations of four spans, none exported: {last}"
    );
}

#[test]
fn sigterm_flushes_the_queued_spans_before_the_process_exits() {
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.url();
    // Nothing is sent for a minute: only the shutdown flush can deliver.
    let mut rig = plain_rig(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ("DRAIN_TIMEOUT", "3s"),
    ]);
    rig.mock.set_default(Reply::text("Queued."));
    invoke_in(&rig, "flush-1", "Hi", &[]);
    invoke_in(&rig, "flush-2", "Hi", &[]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.state()["attempts"], 0, "sent before shutdown");

    let t = Instant::now();
    rig.bin.signal(15);
    let status = rig
        .bin
        .wait_exit(Duration::from_secs(15))
        .expect("exit after SIGTERM");
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "drain and flush took {took:?}");
    // The process is gone: whatever the receiver holds was sent before it exited.
    let spans: Vec<Value> = receiver.spans().iter().map(console_form).collect();
    assert_eq!(receiver.state()["errors"], json!([]));
    assert_eq!(spans.len(), 8, "two invocations of four spans each: {spans:#?}");
    assert_eq!(
        spans.iter().filter(|s| s["name"] == "POST /invocations").count(),
        2
    );
}
