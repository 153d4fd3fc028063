//! The S3 session store against a real S3 implementation (moto 5.2.5 in server mode,
//! `tests/peers/s3_server.py`, started here) and real Strands 1.62's `S3SessionManager`
//! (`tests/peers/strands_s3_session.py`, boto3 at the same server).

use agentcore_rt::agent::conversation::SlidingWindow;
use agentcore_rt::session::{AgentSnapshot, SessionErrorKind, SessionStore};
use agentcore_rt::types::Message;
use serde_json::{Value, json};

use crate::support::mock_openai::{MockOpenAi, Reply};
use crate::support::s3::{S3Peer, WAIT, binary_env, invoke, strands};
use crate::support::server::Binary;

fn history() -> Vec<Message> {
    serde_json::from_value(json!([
        {"role": "user", "content": [{"text": "Grüße! What is 2 + 3? 🙂"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "call_1", "name": "add",
            "input": {"a": 2, "b": 3.5, "big": 12345678901234567890u64}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "call_1", "status": "success",
            "content": [{"text": "5.5"}]}}]},
        {"role": "assistant", "content": [{"text": "It is 5.5.\n\"quoted\"\t\u{1}"}]}
    ]))
    .unwrap()
}

fn text(messages: &[Message]) -> String {
    serde_json::to_string(messages).unwrap()
}

#[test]
fn our_session_continues_in_strands_and_back_with_tool_calls() {
    let peer = S3Peer::start();
    peer.bucket("interop");
    let store = peer.store("interop", "/tenant/a/");
    let window = SlidingWindow::new(20);
    let snapshot = AgentSnapshot::new(json!({"user": "ünï"}), window.state());
    let mut opened = store.open("s 1", "default", WAIT, &snapshot).unwrap();
    assert!(opened.restored.is_none());
    for m in history() {
        opened.writer.append_message(&m).unwrap();
        opened.writer.sync_agent(&snapshot).unwrap();
    }
    drop(opened);
    // Strands' keys, under the stripped prefix.
    let record = peer
        .object(
            "interop",
            "tenant/a/session_s 1/agents/agent_default/messages/message_3.json",
        )
        .expect("message_3.json where Strands puts it");
    assert!(
        record.starts_with("{\n  \"message\": {\n    \"role\": \"assistant\""),
        "{record}"
    );
    assert!(
        peer.object("interop", "tenant/a/session_s 1/session.json")
            .is_some()
    );

    let more: Value = json!([
        {"role": "user", "content": [{"text": "and again?"}]},
        {"role": "assistant", "content": [{"text": "5.5 again"}]}
    ]);
    let theirs = strands(&peer, "interop", "tenant/a", "s 1", 20, &more);
    assert_eq!(
        serde_json::to_string(&theirs["messages"]).unwrap(),
        text(&history())
    );
    assert_eq!(theirs["state"], json!({"user": "ünï"}));

    // The same store (it remembers the session: the HEAD of the next key notices Strands'
    // messages) and a fresh one (cold) both restore all six.
    let mut all = history();
    all.extend(serde_json::from_value::<Vec<Message>>(more).unwrap());
    for store in [&store, &peer.store("interop", "tenant/a")] {
        let opened = store.open("s 1", "default", WAIT, &snapshot).unwrap();
        assert_eq!(text(&opened.restored.unwrap().messages), text(&all));
    }
    // And we continue where Strands stopped: message_6, which Strands then reads.
    let mut opened = store.open("s 1", "default", WAIT, &snapshot).unwrap();
    let last: Message =
        serde_json::from_value(json!({"role": "user", "content": [{"text": "bye"}]})).unwrap();
    opened.writer.append_message(&last).unwrap();
    opened.writer.sync_agent(&snapshot).unwrap();
    drop(opened);
    all.push(last);
    let theirs = strands(&peer, "interop", "tenant/a", "s 1", 20, &json!([]));
    assert_eq!(serde_json::to_string(&theirs["messages"]).unwrap(), text(&all));
}

#[test]
fn a_warm_turn_lists_nothing() {
    let peer = S3Peer::start();
    peer.bucket("warm");
    peer.requests();
    let store = peer.store("warm", "p");
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::new(20).state());
    let turn = |n: usize| {
        let mut opened = store.open("w", "default", WAIT, &snapshot).unwrap();
        let restored = opened.restored.as_ref().map_or(0, |r| r.messages.len());
        assert_eq!(restored, n * 2);
        for m in &history()[..2] {
            opened.writer.append_message(m).unwrap();
            opened.writer.sync_agent(&snapshot).unwrap();
        }
    };
    turn(0);
    // A new session: the lease taken (PUT) and released (DELETE); session.json and agent.json
    // looked for, created; the turn's writes.
    let cold = peer.requests();
    assert_eq!(cold, json!({"GET": 2, "LIST": 2, "PUT": 6, "DELETE": 1}));
    turn(1);
    let warm = peer.requests();
    // The lease, two messages and the first sync of the turn (the second finds nothing
    // changed), the lease released.
    assert_eq!(
        warm,
        json!({"GET": 1, "HEAD": 1, "PUT": 4, "DELETE": 1}),
        "cold turn was {cold}"
    );
    turn(2);
    assert_eq!(peer.requests(), warm);
    // Another replica (nothing remembered): the lease, session.json, agent.json, one LIST, a
    // GET per message.
    let other = peer.store("warm", "p");
    let opened = other.open("w", "default", WAIT, &snapshot).unwrap();
    assert_eq!(opened.restored.as_ref().unwrap().messages.len(), 6);
    drop(opened);
    assert_eq!(
        peer.requests(),
        json!({"GET": 8, "LIST": 1, "PUT": 1, "DELETE": 1})
    );
}

#[test]
fn two_writers_of_one_message_index_one_wins_nothing_is_lost() {
    let peer = S3Peer::start();
    peer.bucket("race");
    // Two replicas: two stores, each with its own memory of the session.
    let a = peer.store("race", "");
    let b = peer.store("race", "");
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::new(20).state());
    drop(a.open("r", "default", WAIT, &snapshot).unwrap());
    let mut first = a.open("r", "default", WAIT, &snapshot).unwrap();
    // The lease would make `b` wait: remove it from under `a` (as an operator could), so both
    // write at once and only the conditional writes stand between them.
    peer.delete_object("race", "session_r/.agentcore.lease");
    let mut second = b.open("r", "default", WAIT, &snapshot).unwrap();
    let (x, y) = (&history()[0], &history()[3]);
    first.writer.append_message(x).unwrap();
    let err = second.writer.append_message(y).unwrap_err();
    assert!(matches!(err.kind, SessionErrorKind::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("message_0.json"), "{err}");
    first.writer.sync_agent(&snapshot).unwrap();
    // agent.json changed under the loser too: its If-Match fails as well.
    let err = second.writer.sync_agent(&snapshot).unwrap_err();
    assert!(matches!(err.kind, SessionErrorKind::Conflict { .. }), "{err:?}");
    drop((first, second));
    for store in [&a, &b] {
        let opened = store.open("r", "default", WAIT, &snapshot).unwrap();
        assert_eq!(
            text(&opened.restored.unwrap().messages),
            text(std::slice::from_ref(x))
        );
    }
}

#[test]
fn a_replaced_message_is_what_every_replica_restores() {
    let peer = S3Peer::start();
    peer.bucket("replace");
    let a = peer.store("replace", "p");
    let b = peer.store("replace", "p");
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::new(20).state());
    let (kept, old, new) = (&history()[0], &history()[1], &history()[3]);
    // Both replicas remember the session (warm) before one of them replaces a message.
    for store in [&a, &b] {
        let mut opened = store.open("x", "default", WAIT, &snapshot).unwrap();
        if opened.restored.is_none() {
            opened.writer.append_message(kept).unwrap();
            opened.writer.append_message(old).unwrap();
            opened.writer.sync_agent(&snapshot).unwrap();
        }
    }
    let mut opened = a.open("x", "default", WAIT, &snapshot).unwrap();
    // Synced already, and b remembers that record: only the replacement makes the next sync
    // write agent.json again, which is what tells b its remembered record is stale.
    opened.writer.sync_agent(&snapshot).unwrap();
    // `b` reads the session while `a` holds it: the lease removed from under `a` (as in the
    // race above), since the lease alone would make `b` wait.
    peer.delete_object("replace", "p/session_x/.agentcore.lease");
    drop(b.open("x", "default", WAIT, &snapshot).unwrap());
    let err = opened.writer.replace_message(1, kept, new).unwrap_err();
    assert!(matches!(err.kind, SessionErrorKind::Conflict { .. }), "{err:?}");
    opened.writer.replace_message(1, old, new).unwrap();
    opened.writer.sync_agent(&snapshot).unwrap();
    drop(opened);
    let record: Value = serde_json::from_str(
        &peer
            .object(
                "replace",
                "p/session_x/agents/agent_default/messages/message_1.json",
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["message_id"], 1);
    assert_ne!(record["created_at"], record["updated_at"]);
    for store in [&a, &b] {
        let opened = store.open("x", "default", WAIT, &snapshot).unwrap();
        assert_eq!(
            text(&opened.restored.unwrap().messages),
            text(&[kept.clone(), new.clone()])
        );
    }
}

#[test]
fn the_binary_keeps_sessions_in_s3_that_strands_continues_and_back() {
    let peer = S3Peer::start();
    peer.bucket("bin");
    let model = MockOpenAi::start();
    model.push_all([
        Reply::text("first answer"),
        Reply::text("second answer"),
        Reply::text("third"),
    ]);
    let endpoint = peer.endpoint();
    let base_url = model.base_url();
    let bin = Binary::start(&binary_env(&endpoint, &base_url, "s3://bin/runtime/"));
    for q in ["one", "two"] {
        let r = invoke(&bin, q, "shared-session");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let more = json!([
        {"role": "user", "content": [{"text": "from strands"}]},
        {"role": "assistant", "content": [{"text": "strands answer"}]}
    ]);
    let theirs = strands(&peer, "bin", "runtime", "shared-session", 20, &more);
    let texts: Vec<&str> = theirs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "first answer", "two", "second answer"]);

    let r = invoke(&bin, "three", "shared-session");
    assert_eq!(r.status, 200, "{}", r.text());
    let last = model.requests().pop().unwrap().body_text();
    for said in ["one", "second answer", "from strands", "strands answer", "three"] {
        assert!(
            last.contains(said),
            "{said:?} missing from the model request: {last}"
        );
    }
    let theirs = strands(&peer, "bin", "runtime", "shared-session", 20, &json!([]));
    assert_eq!(theirs["messages"].as_array().unwrap().len(), 8);
}

#[test]
fn an_unreachable_store_is_a_503_naming_it_and_bad_settings_stop_start_up() {
    let peer = S3Peer::start();
    peer.bucket("gone");
    let model = MockOpenAi::start();
    model.set_default(Reply::text("ok"));
    let endpoint = peer.endpoint();
    let base_url = model.base_url();
    let bin = Binary::start(&binary_env(&endpoint, &base_url, "s3://gone"));
    assert_eq!(invoke(&bin, "hi", "s").status, 200);
    drop(peer);
    let r = invoke(&bin, "again", "s");
    assert_eq!(r.status, 503, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains("S3 session store") && text.contains("s3://gone/"),
        "{text}"
    );
    assert!(!text.contains("testing"), "{text}");

    for (var, value) in [
        ("SESSION_STORE", "gs://x"),
        ("AWS_ENDPOINT_URL_S3", "localhost:9"),
        ("S3_FORCE_PATH_STYLE", "maybe"),
        ("SESSION_LEASE_DURATION", "500ms"),
        ("SESSION_LEASE_DURATION", "2h"),
        ("S3_TIMEOUT", "50ms"),
        ("S3_MAX_ATTEMPTS", "0"),
    ] {
        let mut env = binary_env("http://127.0.0.1:9", &base_url, "s3://bkt");
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
        let (out, err) = Binary::try_start(&env).err().expect("start-up must fail");
        assert!(format!("{out}{err}").contains(var), "{var}: {out}{err}");
    }
}

#[test]
fn past_a_thousand_keys_with_a_trimmed_window_both_restore_the_same_tail() {
    let peer = S3Peer::start();
    peer.bucket("many");
    let store = peer.store("many", "p");
    let mut snapshot = AgentSnapshot::new(json!({}), SlidingWindow::new(20).state());
    let mut opened = store.open("long", "default", WAIT, &snapshot).unwrap();
    let said = |i: usize| -> Message {
        let role = if i.is_multiple_of(2) { "user" } else { "assistant" };
        serde_json::from_value(json!({"role": role, "content": [{"text": format!("m{i}")}]})).unwrap()
    };
    for i in 0..1004 {
        opened.writer.append_message(&said(i)).unwrap();
    }
    // The window dropped all but the last 4 (as SlidingWindow records it).
    snapshot.conversation_manager_state["removed_message_count"] = json!(1000);
    opened.writer.sync_agent(&snapshot).unwrap();
    drop(opened);
    let tail: Vec<Message> = (1000..1004).map(said).collect();

    // A replica that never saw it: ListObjectsV2 twice (1,000 keys a page), then 4 GETs.
    let other = peer.store("many", "p");
    peer.requests();
    let mut opened = other.open("long", "default", WAIT, &snapshot).unwrap();
    assert_eq!(text(&opened.restored.as_ref().unwrap().messages), text(&tail));
    let counts = peer.requests();
    assert_eq!(counts["LIST"], json!(2), "{counts}");
    // The next index comes from the whole listing, not from the window.
    opened.writer.append_message(&said(1004)).unwrap();
    drop(opened);
    assert!(
        peer.object(
            "many",
            "p/session_long/agents/agent_default/messages/message_1004.json"
        )
        .is_some()
    );

    let theirs = strands(&peer, "many", "p", "long", 20, &json!([]));
    let mut expected = tail;
    expected.push(said(1004));
    assert_eq!(
        serde_json::to_string(&theirs["messages"]).unwrap(),
        text(&expected)
    );
    assert_eq!(
        theirs["conversation_manager_state"]["removed_message_count"],
        json!(1000)
    );
}
