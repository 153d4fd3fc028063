//! The S3 store's lease (`session_<id>/.agentcore.lease`) between replicas, against moto's S3
//! (`tests/peers/s3_server.py`): a second replica waits and then gets `LockTimeout` (the 409 of
//! the file store), a released lease is taken at once, a stale one is taken over by exactly one
//! waiter, a renewed one is not, and a holder whose lease was taken over cannot write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use agentcore_rt::agent::conversation::SlidingWindow;
use agentcore_rt::session::{AgentSnapshot, SessionErrorKind, SessionStore};
use agentcore_rt::types::Message;
use serde_json::{Value, json};

use crate::support::s3::{S3Peer, WAIT, strands};

fn said(text: &str, role: &str) -> Message {
    serde_json::from_value(json!({"role": role, "content": [{"text": text}]})).unwrap()
}

fn snapshot() -> AgentSnapshot {
    AgentSnapshot::new(json!({}), SlidingWindow::new(20).state())
}

#[test]
fn a_second_replica_waits_for_the_lease_then_gets_it_when_released() {
    let peer = S3Peer::start();
    peer.bucket("lease");
    let a = peer.store("lease", "p");
    let b = Arc::new(peer.store("lease", "p"));
    let mut held = a.open("s", "default", WAIT, &snapshot()).unwrap();
    held.writer.append_message(&said("hi", "user")).unwrap();
    held.writer.append_message(&said("hello", "assistant")).unwrap();
    held.writer.sync_agent(&snapshot()).unwrap();

    let lease: Value =
        serde_json::from_str(&peer.object("lease", "p/session_s/.agentcore.lease").unwrap()).unwrap();
    assert!(lease["owner"].as_str().unwrap().starts_with("pid "), "{lease}");
    assert_eq!(lease["duration_ms"], 30_000);
    // Strands reads the session with the lease beside session.json and is not disturbed.
    let theirs = strands(&peer, "lease", "p", "s", 20, &json!([]));
    assert_eq!(theirs["messages"].as_array().unwrap().len(), 2, "{theirs}");

    let started = Instant::now();
    let err = b
        .open("s", "default", Duration::from_millis(400), &snapshot())
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(
        matches!(err.kind, SessionErrorKind::LockTimeout { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(".agentcore.lease"), "{err}");

    let waiter = {
        let b = Arc::clone(&b);
        thread::spawn(move || {
            let opened = b.open("s", "default", WAIT, &snapshot()).unwrap();
            (Instant::now(), opened.restored.unwrap().messages.len())
        })
    };
    thread::sleep(Duration::from_millis(300));
    let released = Instant::now();
    drop(held);
    let (taken, restored) = waiter.join().unwrap();
    assert_eq!(restored, 2);
    // The waiter polls at most a second apart.
    assert!(
        taken - released < Duration::from_millis(1500),
        "{:?}",
        taken - released
    );
    assert_eq!(
        peer.object("lease", "p/session_s/.agentcore.lease"),
        None,
        "released"
    );
}

#[test]
fn a_stale_lease_is_taken_over_by_one_waiter_at_a_time() {
    let peer = S3Peer::start();
    peer.bucket("stale");
    // A replica that died holding the lease (1 s, never renewed).
    peer.put_object(
        "stale",
        "session_d/.agentcore.lease",
        &json!({"owner": "dead", "lease": "x", "renewals": 0, "duration_ms": 1000}).to_string(),
    );
    let written = Instant::now();
    let in_use = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(3));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let store = peer.store_with_lease("stale", "", Duration::from_secs(5));
            let (in_use, barrier) = (Arc::clone(&in_use), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut opened = store.open("d", "default", WAIT, &snapshot()).unwrap();
                let at = written.elapsed();
                assert!(!in_use.swap(true, Ordering::SeqCst), "two holders at once");
                opened.writer.append_message(&said("turn", "user")).unwrap();
                opened.writer.sync_agent(&snapshot()).unwrap();
                thread::sleep(Duration::from_millis(100));
                in_use.store(false, Ordering::SeqCst);
                at
            })
        })
        .collect();
    let mut times: Vec<Duration> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
    times.sort();
    // Stale once a whole second passed by the server's clock (to whole seconds), or once a
    // waiter saw it unchanged for its duration.
    assert!(times[0] >= Duration::from_secs(1), "{times:?}");
    assert!(times[0] < Duration::from_secs(3), "{times:?}");
    eprintln!("stale lease taken over after {:?}", times[0]);
    let opened = peer
        .store("stale", "")
        .open("d", "default", WAIT, &snapshot())
        .unwrap();
    assert_eq!(opened.restored.as_ref().unwrap().messages.len(), 3);
    drop(opened);

    // Long dead by the server's clock (`Date` less `Last-Modified`): taken over at once,
    // without watching it for a duration first.
    peer.put_object(
        "stale",
        "session_d/.agentcore.lease",
        &json!({"owner": "dead", "lease": "z", "renewals": 0, "duration_ms": 1000}).to_string(),
    );
    let r = peer.signed("GET", "stale", "session_d/.agentcore.lease", &[], b"");
    assert!(
        r.header("date").is_some() && r.header("last-modified").is_some(),
        "{:?}",
        r.headers
    );
    thread::sleep(Duration::from_millis(2050));
    let started = Instant::now();
    drop(
        peer.store("stale", "")
            .open("d", "default", WAIT, &snapshot())
            .unwrap(),
    );
    assert!(
        // A waiter judging by its own watch needs a whole second (the lease's duration).
        started.elapsed() < Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_renewed_lease_outlives_its_duration_and_one_taken_over_stops_its_writer() {
    let peer = S3Peer::start();
    peer.bucket("renew");
    let short = Duration::from_secs(1);
    let a = peer.store_with_lease("renew", "", short);
    let b = peer.store_with_lease("renew", "", short);
    let mut held = a.open("r", "default", WAIT, &snapshot()).unwrap();
    // Renewed every third of a second: a waiter never finds it stale.
    let err = b
        .open("r", "default", Duration::from_millis(2500), &snapshot())
        .unwrap_err();
    assert!(
        matches!(err.kind, SessionErrorKind::LockTimeout { .. }),
        "{err:?}"
    );
    held.writer.append_message(&said("still mine", "user")).unwrap();
    let lease: Value =
        serde_json::from_str(&peer.object("renew", "session_r/.agentcore.lease").unwrap()).unwrap();
    assert!(lease["renewals"].as_u64().unwrap() >= 5, "{lease}");

    // Another holder replaces it (a takeover while this one was partitioned, say).
    let theirs = json!({"owner": "other", "lease": "y", "renewals": 0, "duration_ms": 60_000}).to_string();
    peer.put_object("renew", "session_r/.agentcore.lease", &theirs);
    thread::sleep(Duration::from_millis(1000));
    let err = held.writer.append_message(&said("too late", "user")).unwrap_err();
    assert!(matches!(err.kind, SessionErrorKind::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("taken over"), "{err}");
    drop(held);
    // Released conditionally: the new holder's lease stays.
    assert_eq!(
        peer.object("renew", "session_r/.agentcore.lease").as_deref(),
        Some(theirs.as_str())
    );
    peer.delete_object("renew", "session_r/.agentcore.lease");
    let opened = b.open("r", "default", WAIT, &snapshot()).unwrap();
    let texts: Vec<String> = opened
        .restored
        .unwrap()
        .messages
        .iter()
        .map(|m| {
            serde_json::to_value(m).unwrap()["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, ["still mine"]);
}

/// A request for a session another replica is serving waits `SESSION_LOCK_TIMEOUT`, then gets
/// the file store's 409 (same status, `error_type`, wording), and the session is free again
/// once the first request ends.
#[test]
fn another_replica_answers_the_file_stores_409_after_session_lock_timeout() {
    use crate::support::TempDir;
    use crate::support::mock_openai::{Gate, MockOpenAi, Reply};
    use crate::support::s3::binary_env;
    use crate::support::server::{Binary, post_json};

    let peer = S3Peer::start();
    peer.bucket("busy");
    let model = MockOpenAi::start();
    let gates = [Gate::new(), Gate::new()];
    {
        let gates = gates.clone();
        model.respond_with(move |r| match r.last_user_text() {
            Some("slow-s3") => Some(Reply::text("done").after(&gates[0])),
            Some("slow-file") => Some(Reply::text("done").after(&gates[1])),
            _ => Some(Reply::text("ok")),
        });
    }
    let (endpoint, base_url) = (peer.endpoint(), model.base_url());
    let mut env = binary_env(&endpoint, &base_url, "s3://busy/p");
    env.push(("SESSION_LOCK_TIMEOUT", "500ms"));
    let a = Binary::start(&env);
    let b = Binary::start(&env);
    let dir = TempDir::new("busy-file");
    let file = Binary::start(&[
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", "sk-x"),
        ("SESSION_DIR", dir.path().to_str().unwrap()),
        ("SESSION_LOCK_TIMEOUT", "500ms"),
    ]);
    let body = |q: &str| json!({"prompt": q, "session_id": "busy"}).to_string();

    let mut answers = Vec::new();
    for (slow, holder, other, gate) in [
        ("slow-s3", &a, &b, &gates[0]),
        ("slow-file", &file, &file, &gates[1]),
    ] {
        let held = {
            let (addr, body) = (holder.addr, body(slow));
            thread::spawn(move || post_json(addr, "/invocations", &body))
        };
        let asked = Instant::now();
        while !model.requests().iter().any(|r| r.last_user_text() == Some(slow)) {
            assert!(
                asked.elapsed() < Duration::from_secs(10),
                "{slow} never reached the model"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        let r = post_json(other.addr, "/invocations", &body("quick"));
        let waited = started.elapsed();
        gate.open();
        assert_eq!(held.join().unwrap().status, 200);
        assert!(waited >= Duration::from_millis(500), "{slow}: {waited:?}");
        answers.push((r.status, r.json()));
    }
    let (s3, file) = (&answers[0], &answers[1]);
    assert_eq!(s3.0, 409, "{}", s3.1);
    assert_eq!(file.0, 409, "{}", file.1);
    assert_eq!(s3.1["error_type"], file.1["error_type"]);
    for (_, answer) in [s3, file] {
        let text = answer["error"].as_str().unwrap();
        assert!(
            text.contains("session is busy: lock not acquired within 500 ms"),
            "{text}"
        );
    }
    assert!(
        s3.1["error"].as_str().unwrap().contains(".agentcore.lease"),
        "{}",
        s3.1
    );
    // Free again: the other replica serves the session now.
    assert_eq!(post_json(b.addr, "/invocations", &body("after")).status, 200);
}
