//! Scale-out: three instances of the real binary on one bucket (moto's S3,
//! `tests/peers/s3_server.py`) behind a round-robin proxy. 200 turns over 10 sessions, 8 in
//! flight, every turn sent together with another of its session so two replicas take it at the
//! same moment; then `kill -9` of a replica in the middle of a turn.
//!
//! The mock model answers `ack:<prompt> after:<the previous prompt it was shown>`, so the
//! stored history proves each turn ran on the whole history before it (the lease serialised the
//! replicas), and S3 read directly proves every acknowledged turn is there once, whole, in order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mock_openai::{Gate, MockOpenAi, RecordedRequest, Reply};
use crate::support::rr_proxy::RoundRobin;
use crate::support::s3::{S3Peer, binary_env, stored_messages, strands};
use crate::support::server::{Binary, Conn, post_json};

const SESSIONS: usize = 10;
const ROUNDS: usize = 10;
const IN_FLIGHT: usize = 8;

/// The user prompts of a model request, oldest first.
fn prompts(request: &RecordedRequest) -> Vec<String> {
    let Some(messages) = request.json.as_ref().and_then(|j| j["messages"].as_array()) else {
        return Vec::new();
    };
    messages
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| match &m["content"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => parts[0]["text"].as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

fn answer(request: &RecordedRequest) -> String {
    let p = prompts(request);
    let last = p.last().cloned().unwrap_or_default();
    let before = p
        .len()
        .checked_sub(2)
        .map_or("none".to_string(), |i| p[i].clone());
    format!("ack:{last} after:{before}")
}

struct Turn {
    session: usize,
    query: String,
    sent: Instant,
    acked: Instant,
}

#[test]
fn three_replicas_behind_a_balancer_lose_nothing_and_a_killed_one_leaves_its_lease_to_be_taken_over() {
    let started = Instant::now();
    let peer = S3Peer::start();
    peer.bucket("scale");
    let model = MockOpenAi::start();
    let hang = Gate::new();
    {
        let hang = hang.clone();
        model.respond_with(move |request| {
            let text = answer(request);
            Some(if text.starts_with("ack:hang") {
                Reply::text(&text).after(&hang)
            } else {
                Reply::text(&text)
            })
        });
    }
    let (endpoint, base_url) = (peer.endpoint(), model.base_url());
    let mut env = binary_env(&endpoint, &base_url, "s3://scale/p");
    // 5 s: short enough for the takeover below to be quick, long enough that a renewal starved
    // on a loaded 2-core CI machine (moto serves one request at a time) does not expire a lease
    // mid-turn (2 s did: a turn answered 409 "lease expired" in one CI run).
    env.extend([("SESSION_LEASE_DURATION", "5s"), ("WINDOW_SIZE", "4")]);
    let mut replicas: Vec<Binary> = (0..3).map(|_| Binary::start(&env)).collect();
    let proxy = RoundRobin::start(replicas.iter().map(|b| b.addr).collect());

    // Turns in pairs of one session: two workers take the two at once, through the proxy to
    // two replicas.
    let queue: Vec<(usize, String)> = (0..ROUNDS)
        .flat_map(|r| (0..SESSIONS).flat_map(move |s| ["a", "b"].map(|x| (s, format!("s{s}-r{r}{x}")))))
        .collect();
    let queue = Arc::new(queue);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Mutex::new(Vec::<Turn>::new()));
    let load = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (queue, next, done, addr) = (
                Arc::clone(&queue),
                Arc::clone(&next),
                Arc::clone(&done),
                proxy.addr,
            );
            thread::spawn(move || {
                while let Some((session, query)) = queue.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let sent = Instant::now();
                    let body = json!({"prompt": query, "session_id": format!("s{session}")}).to_string();
                    let r = post_json(addr, "/invocations", &body);
                    assert_eq!(r.status, 200, "{query}: {}", r.text());
                    let said = r.json()["response"].as_str().unwrap_or_default().to_string();
                    assert!(
                        said.starts_with(&format!("ack:{query} after:")),
                        "{query}: {said}"
                    );
                    done.lock().unwrap().push(Turn {
                        session: *session,
                        query: query.clone(),
                        sent,
                        acked: Instant::now(),
                    });
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let load = load.elapsed();
    let turns = std::mem::take(&mut *done.lock().unwrap());
    assert_eq!(turns.len(), SESSIONS * ROUNDS * 2);

    let mut by_session: HashMap<usize, Vec<&Turn>> = HashMap::new();
    for t in &turns {
        by_session.entry(t.session).or_default().push(t);
    }
    let mut contended = 0;
    for (session, acked) in &by_session {
        let stored = stored_messages(&peer, "scale", "p", &format!("s{session}"));
        assert_eq!(stored.len(), acked.len() * 2, "s{session}: {stored:?}");
        let mut order = Vec::new();
        let mut before = "none".to_string();
        for pair in stored.chunks(2) {
            let (user, assistant) = (&pair[0], &pair[1]);
            assert_eq!(user.0, "user", "s{session}: {stored:?}");
            assert_eq!(assistant.0, "assistant", "s{session}: {stored:?}");
            // The model was shown the turn stored just before: nothing was missed or stale.
            assert_eq!(
                assistant.1,
                format!("ack:{} after:{before}", user.1),
                "s{session}"
            );
            before = user.1.clone();
            order.push(user.1.clone());
        }
        // Each acknowledged turn once.
        let mut sorted = order.clone();
        sorted.sort();
        let mut expected: Vec<String> = acked.iter().map(|t| t.query.clone()).collect();
        expected.sort();
        assert_eq!(sorted, expected, "s{session}");
        // In order: a turn acknowledged before another was sent is stored before it.
        let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, q)| (q.as_str(), i)).collect();
        for x in acked {
            for y in acked {
                if x.acked < y.sent {
                    assert!(
                        position[x.query.as_str()] < position[y.query.as_str()],
                        "{} then {}",
                        x.query,
                        y.query
                    );
                } else if x.query < y.query && y.acked >= x.sent {
                    contended += 1;
                }
            }
        }
    }
    assert!(
        contended > 0,
        "no two turns of a session were ever in flight together"
    );
    assert!(
        peer.keys("scale", "p/")
            .iter()
            .all(|k| !k.ends_with(".agentcore.lease")),
        "every lease released"
    );
    eprintln!("200 turns in {load:?} ({contended} pairs of one session in flight together)");

    // kill -9 of replica 1 while it holds s0 in the middle of a turn (the model is answering).
    let victim = replicas.remove(1);
    let stalled = thread::spawn({
        let addr = victim.addr;
        move || {
            let body = json!({"prompt": "hang", "session_id": "s0"}).to_string();
            let mut c = Conn::open(addr);
            c.send(
                format!(
                    "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            c.try_read_response(false).map(|r| r.status)
        }
    });
    let asked = Instant::now();
    while !model
        .requests()
        .iter()
        .any(|r| prompts(r).last().map(String::as_str) == Some("hang"))
    {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the stalled turn never reached the model"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let lease: Value =
        serde_json::from_str(&peer.object("scale", "p/session_s0/.agentcore.lease").unwrap()).unwrap();
    assert!(
        lease["owner"]
            .as_str()
            .unwrap()
            .starts_with(&format!("pid {} ", victim.pid())),
        "{lease}"
    );
    victim.signal(9);
    let killed = Instant::now();
    assert!(
        stalled.join().unwrap().is_err(),
        "the killed replica's turn was not acknowledged"
    );
    drop(victim);

    let r = post_json(
        proxy.addr,
        "/invocations",
        &json!({"prompt": "after", "session_id": "s0"}).to_string(),
    );
    let takeover = killed.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    // The model saw the killed turn's prompt: it was stored (whole) before the model was called.
    assert_eq!(r.json()["response"], "ack:after after:hang\n");
    // Stale at most 5 s after the last renewal (+1 s of date rounding), then a poll (<= 1 s)
    // and the turn; room left for a loaded CI machine. A lease never released would not be
    // taken before SESSION_LOCK_TIMEOUT (15 min).
    assert!(takeover < Duration::from_secs(10), "{takeover:?}");
    assert!(
        replicas.iter().any(|b| b
            .logs()
            .iter()
            .any(|l| l["message"] == "took over a stale session lease")),
        "a surviving replica took the lease over"
    );
    eprintln!("lease of the killed replica taken over {takeover:?} after kill -9 (lease 5s)");

    let stored = stored_messages(&peer, "scale", "p", "s0");
    let n = by_session[&0].len() * 2;
    assert_eq!(stored.len(), n + 3, "{stored:?}");
    assert_eq!(stored[n], ("user".to_string(), "hang".to_string()));
    assert_eq!(stored[n + 1], ("user".to_string(), "after".to_string()));
    assert_eq!(
        stored[n + 2],
        ("assistant".to_string(), "ack:after after:hang".to_string())
    );
    // Real Strands restores the session, the killed turn included: the window's tail (the
    // offset our window recorded), as stored.
    let theirs = strands(&peer, "scale", "p", "s0", 1000, &json!([]));
    let restored: Vec<(String, String)> = theirs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_string(),
                m["content"][0]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(restored.len() >= 3, "{theirs}");
    assert_eq!(restored, stored[stored.len() - restored.len()..]);
    hang.open();
    eprintln!("scale-out test took {:?}", started.elapsed());
}
