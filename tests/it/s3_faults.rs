//! Faults between the binary and the S3 server (moto, `tests/peers/s3_server.py`), injected by
//! a proxy (`tests/it/support/fault_proxy.rs`): transient ones are retried and the turn
//! succeeds with nothing written twice; persistent ones end the turn with a 503 naming the store,
//! and the session always loads afterwards (here, in real Strands, and from S3 read directly:
//! whole objects only).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::fault_proxy::{Fault, FaultProxy, Target};
use crate::support::mock_openai::{MockOpenAi, RecordedRequest, Reply};
use crate::support::s3::{S3Peer, binary_env, invoke, stored_messages, strands};
use crate::support::server::Binary;

fn echo(request: &RecordedRequest) -> Option<Reply> {
    Some(Reply::text(&format!(
        "ack:{}",
        request.last_user_text().unwrap_or_default()
    )))
}

fn start(peer: &S3Peer, model: &MockOpenAi, proxy: &FaultProxy) -> Binary {
    let (endpoint, base_url) = (proxy.endpoint(), model.base_url());
    let mut env = binary_env(&endpoint, &base_url, "s3://faulty/p");
    env.extend([("S3_TIMEOUT", "300ms"), ("SESSION_LEASE_DURATION", "2s")]);
    let _ = peer;
    Binary::start(&env)
}

fn pairs(turns: &[&str]) -> Vec<(String, String)> {
    turns
        .iter()
        .flat_map(|t| {
            [
                ("user".to_string(), t.to_string()),
                ("assistant".to_string(), format!("ack:{t}")),
            ]
        })
        .collect()
}

#[test]
fn transient_s3_faults_are_retried_and_nothing_is_written_twice() {
    let peer = S3Peer::start();
    peer.bucket("faulty");
    let model = MockOpenAi::start();
    model.respond_with(echo);
    let proxy = FaultProxy::start(peer.addr);
    let bin = start(&peer, &model, &proxy);

    let cases: Vec<(&str, Target, Fault, usize)> = vec![
        ("slowdown burst", Target::any(), Fault::SlowDown, 3),
        (
            "stalled message write",
            Target::new("PUT", "/messages/"),
            Fault::Stall(Duration::from_secs(2)),
            1,
        ),
        ("dropped connections", Target::any(), Fault::Drop, 3),
        (
            "message written, answer lost",
            Target::new("PUT", "/messages/"),
            Fault::LoseAnswer,
            1,
        ),
        (
            "agent.json written, answer lost",
            Target::new("PUT", "agent.json"),
            Fault::LoseAnswer,
            1,
        ),
        (
            "lease taken, answer lost",
            Target::new("PUT", ".agentcore.lease"),
            Fault::LoseAnswer,
            1,
        ),
        (
            "lease released, answer lost",
            Target::new("DELETE", ".agentcore.lease"),
            Fault::LoseAnswer,
            1,
        ),
        (
            "session.json read stalled",
            Target::new("GET", "session.json"),
            Fault::Stall(Duration::from_secs(2)),
            1,
        ),
    ];
    let mut turns = Vec::new();
    for (i, (what, target, fault, times)) in cases.into_iter().enumerate() {
        // A new session for the cold-path faults, the same one otherwise.
        let session = if what.starts_with("session.json") {
            "cold"
        } else {
            "f"
        };
        let query = format!("t{i}");
        proxy.next(target, fault, times);
        let r = invoke(&bin, &query, session);
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        assert_eq!(r.json()["response"], format!("ack:{query}\n"), "{what}");
        assert_eq!(proxy.pending(), 0, "{what}: the fault was not met");
        if session == "f" {
            turns.push(query);
        }
    }
    let turns: Vec<&str> = turns.iter().map(String::as_str).collect();
    assert_eq!(stored_messages(&peer, "faulty", "p", "f"), pairs(&turns));
    assert_eq!(stored_messages(&peer, "faulty", "p", "cold").len(), 2);
    assert!(
        peer.keys("faulty", "p/")
            .iter()
            .all(|k| !k.ends_with(".agentcore.lease"))
    );
    let (injected, forwarded) = proxy.counts();
    eprintln!("{injected} faults injected, {forwarded} requests forwarded");
}

#[test]
fn persistent_s3_faults_fail_the_turn_with_a_503_naming_the_store_and_the_session_still_loads() {
    let peer = S3Peer::start();
    peer.bucket("faulty");
    let model = MockOpenAi::start();
    model.respond_with(echo);
    let proxy = FaultProxy::start(peer.addr);
    let bin = start(&peer, &model, &proxy);
    assert_eq!(invoke(&bin, "before", "s").status, 200);

    let failing = |what: &str, query: &str, target: Target, fault: Fault, says: &str| {
        proxy.always(target, fault);
        let started = Instant::now();
        let r = invoke(&bin, query, "s");
        proxy.clear();
        let text = r.text();
        assert_eq!(r.status, 503, "{what}: {text}");
        assert!(
            text.contains("S3 session store")
                && text.contains("s3://faulty/p/session_s/")
                && text.contains(says),
            "{what}: {text}"
        );
        assert!(text.contains("after 4 attempts"), "{what}: {text}");
        eprintln!("{what}: 503 after {:?}", started.elapsed());
    };
    failing(
        "throttled throughout",
        "p1",
        Target::any(),
        Fault::SlowDown,
        "SlowDown",
    );
    // The user message is written, then agent.json never answers: the turn stops there.
    failing(
        "agent.json stalls",
        "p2",
        Target::new("PUT", "agent.json"),
        Fault::Stall(Duration::from_secs(2)),
        "timed out",
    );
    failing(
        "message writes dropped",
        "p3",
        Target::new("PUT", "/messages/"),
        Fault::Drop,
        "PUT failed",
    );

    // Faults gone: the next turn loads the session, the whole objects of the failed turns in it.
    let r = invoke(&bin, "after", "s");
    assert_eq!(r.status, 200, "{}", r.text());
    let mut expected = pairs(&["before"]);
    expected.push(("user".into(), "p2".into()));
    expected.extend(pairs(&["after"]));
    assert_eq!(stored_messages(&peer, "faulty", "p", "s"), expected);
    let theirs = strands(&peer, "faulty", "p", "s", 20, &json!([]));
    assert_eq!(
        theirs["messages"].as_array().unwrap().len(),
        expected.len(),
        "{theirs}"
    );
}
