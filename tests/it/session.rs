//! The session store and the conversation window against Strands 1.62: its session fixtures, its
//! recorded turns (`vectors/strands-openai-requests.json`), and the real library
//! (`tests/peers/strands_session.py`, run with `.venv-strands`).

use std::collections::VecDeque;
use std::error::Error as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use agentcore_rt::agent::conversation::{SlidingWindow, UnableToTrim, fix_broken_tool_pairs};
use agentcore_rt::session::{
    AgentSnapshot, FileSessionStore, MemorySessionStore, SessionError, SessionErrorKind, SessionStore,
    validate_session_id,
};
use agentcore_rt::types::{Message, Role};
use serde_json::{Value, json};

use crate::support::strands::*;
use crate::support::{TempDir, repo_root};

const LONG_WAIT: Duration = Duration::from_secs(30);

// ---- file helpers ----------------------------------------------------------------------------

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o700)).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}

fn snapshot_file(root: &Path, sid: &str, rel: &str) -> String {
    read(&root.join(format!("session_{sid}")).join(rel))
}

fn temp_files(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|p| p.contains(".strands_"))
        .collect()
}

// ---- the real Strands --------------------------------------------------------------------------

/// Runs `tests/peers/strands_session.py` with the Strands venv, JSON in, JSON out, 120 s at most.
fn strands(args: &[&str], input: &Value) -> Value {
    let python = repo_root().join(".venv-strands/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/install-test-peers.sh",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/peers/strands_session.py"))
        .args(args)
        .env("OTEL_SDK_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = serde_json::to_vec(input).unwrap();
    let writer = thread::spawn(move || stdin.write_all(&body));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("strands_session.py {args:?} did not finish in 120 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap().unwrap();
    let (out, err) = (out.join().unwrap().unwrap(), err.join().unwrap().unwrap());
    assert!(status.success(), "strands_session.py {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("strands_session.py output: {e}: {out}"))
}

// ---- replaying the recorded turns ---------------------------------------------------------------

/// One invocation of the agent, as far as the session and the window see it.
struct Turn {
    handle: agentcore_rt::session::AgentSession,
    window: SlidingWindow,
    snapshot: AgentSnapshot,
    messages: Vec<Message>,
}

impl Turn {
    /// What Strands does on MessageAdded: append the file, then sync agent.json.
    fn append(&mut self, message: Message) {
        self.handle.append_message(&message).unwrap();
        self.messages.push(message);
        self.sync();
    }

    fn sync(&mut self) {
        self.snapshot.conversation_manager_state = self.window.state();
        self.handle.sync_agent(&self.snapshot).unwrap();
    }
}

/// Plays `scenario` turn by turn through our store and window: restore on a new handle, append
/// the turn's new messages in the order the recorded model replies produced them (a context
/// overflow reply runs `reduce_context` and syncs, as Strands does before retrying), trim at the
/// end and sync. Checks the restored and final messages and the window state of every turn.
fn replay(scenario: &str, root: &Path) -> Vec<String> {
    let store = FileSessionStore::new(root);
    let sid = session_id(scenario);
    let mut files_before = 0;
    let mut first_session_json = Vec::new();
    for (t, turn) in turns(scenario).iter().enumerate() {
        let what = format!("scenario {scenario} turn {t}");
        let _lock = store.lock(&sid, LONG_WAIT).unwrap();
        let mut handle = store.open_agent(&sid, "default").unwrap();
        let mut window = SlidingWindow::new(window_size(scenario));
        let initial = AgentSnapshot::new(json!({}), window.state());
        let (snapshot, messages) = match handle.restore(&initial).unwrap() {
            Some(restored) => {
                window.restore(&restored.conversation_manager_state).unwrap();
                let mut messages = restored.messages.clone();
                fix_broken_tool_pairs(&mut messages);
                (restored.snapshot(), messages)
            }
            None => (initial, Vec::new()),
        };
        assert_eq!(
            text_of(&messages),
            recorded_text(&turn["messages_restored_on_new_agent"]),
            "{what}: restored"
        );

        let after = messages_of(&turn["agent_messages_after"]);
        let removed_after = turn["conversation_manager_state"]["removed_message_count"]
            .as_u64()
            .unwrap() as usize;
        let files_after = removed_after + after.len();
        let new = files_after - files_before;
        assert!(
            new <= after.len(),
            "{what}: the window dropped messages of this turn"
        );
        let mut queue: VecDeque<Message> = after[after.len() - new..].iter().cloned().collect();

        let mut run = Turn {
            handle,
            window,
            snapshot,
            messages,
        };
        for reply in turn["script"].as_array().unwrap() {
            // User messages (the prompt, tool results, the structured-output prompt) precede the
            // model call this reply answers.
            while queue.front().is_some_and(|m| m.role == Role::User) {
                run.append(queue.pop_front().unwrap());
            }
            if let Some(error) = reply.get("error") {
                if error["code"] == "context_length_exceeded" {
                    run.window.reduce_context(&mut run.messages, true).unwrap();
                    run.sync();
                    continue;
                }
                break; // any other model error ends the invocation
            }
            match queue.pop_front() {
                Some(reply) => run.append(reply),
                None => break, // a scripted reply the agent never asked for
            }
        }
        while let Some(message) = queue.pop_front() {
            run.append(message);
        }
        run.window.apply_management(&mut run.messages);
        run.sync();

        assert_eq!(
            text_of(&run.messages),
            recorded_text(&turn["agent_messages_after"]),
            "{what}: messages after"
        );
        assert_eq!(
            run.window.state(),
            turn["conversation_manager_state"],
            "{what}: window state"
        );
        files_before = files_after;
        if t == 0 {
            first_session_json = fs::read(root.join(format!("session_{sid}/session.json"))).unwrap();
        }
    }
    let session_json = fs::read(root.join(format!("session_{sid}/session.json"))).unwrap();
    assert_eq!(
        session_json, first_session_json,
        "scenario {scenario}: session.json was rewritten"
    );
    files(&root.join(format!("session_{sid}")))
}

#[test]
fn replaying_every_scenario_writes_strands_files_byte_for_byte() {
    for scenario in SCENARIOS {
        let root = TempDir::new("session-replay");
        let ours = replay(scenario, root.path());
        let dir = root.path().join(format!("session_{}", session_id(scenario)));
        let theirs = files(&fixture(scenario));
        let ours_without_lock: Vec<String> = ours.into_iter().filter(|p| p != ".agentcore.lock").collect();
        assert_eq!(ours_without_lock, theirs, "scenario {scenario}: file set");
        for rel in &theirs {
            let (mine, strands) = (read(&dir.join(rel)), read(&fixture(scenario).join(rel)));
            assert!(!mine.ends_with('\n'), "{rel}: trailing newline");
            assert_eq!(
                without_timestamps(&mine),
                without_timestamps(&strands),
                "scenario {scenario}: {rel}"
            );
        }
        for (rel, (is_dir, mode)) in tree(&dir) {
            assert_eq!(
                mode,
                if is_dir { 0o700 } else { 0o600 },
                "scenario {scenario}: mode of {rel}"
            );
        }
        assert!(dir.join("multi_agents").is_dir());
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    }
}

#[test]
fn agent_json_keeps_created_at_and_is_rewritten_only_on_change() {
    let root = TempDir::new("session-agent-json");
    let store = FileSessionStore::new(root.path());
    let mut handle = store.open_agent("s", "default").unwrap();
    let window = SlidingWindow::new(4);
    let initial = AgentSnapshot::new(json!({}), window.state());
    assert!(handle.restore(&initial).unwrap().is_none());
    let agent_json = root.path().join("session_s/agents/agent_default/agent.json");
    let created = read(&agent_json);

    // The first sync of a handle always writes (new updated_at), later identical ones do not.
    wait_for_clock_tick();
    handle.sync_agent(&initial).unwrap();
    let first_sync = read(&agent_json);
    assert_ne!(first_sync, created);
    assert_eq!(field(&first_sync, "created_at"), field(&created, "created_at"));
    wait_for_clock_tick();
    handle.append_message(&Message::user_text("hi")).unwrap();
    handle.sync_agent(&initial).unwrap();
    assert_eq!(read(&agent_json), first_sync);

    let changed = AgentSnapshot::new(json!({"k": "ü"}), initial.conversation_manager_state.clone());
    handle.sync_agent(&changed).unwrap();
    let rewritten = read(&agent_json);
    assert_ne!(field(&rewritten, "updated_at"), field(&first_sync, "updated_at"));
    assert_eq!(field(&rewritten, "created_at"), field(&created, "created_at"));
    assert!(
        rewritten.contains("\"k\": \"ü\""),
        "non-ASCII written raw: {rewritten}"
    );

    // A new handle restores created_at and keeps it too.
    let mut again = store.open_agent("s", "default").unwrap();
    let restored = again.restore(&initial).unwrap().unwrap();
    assert_eq!(restored.state, json!({"k": "ü"}));
    wait_for_clock_tick();
    again.sync_agent(&restored.snapshot()).unwrap();
    assert_eq!(
        field(&read(&agent_json), "created_at"),
        field(&created, "created_at")
    );
}

fn field(json_text: &str, key: &str) -> String {
    serde_json::from_str::<Value>(json_text).unwrap()[key]
        .as_str()
        .unwrap()
        .to_string()
}

/// Timestamps have microsecond resolution; wait until the clock has visibly moved.
fn wait_for_clock_tick() {
    let start = std::time::SystemTime::now();
    while std::time::SystemTime::now()
        .duration_since(start)
        .unwrap_or_default()
        < Duration::from_micros(2)
    {
        std::hint::spin_loop();
    }
}

// ---- restoring what Strands wrote ----------------------------------------------------------------

/// The fixture session as it stood at the end of turn `t`: the message files written by then
/// and that turn's window state in agent.json.
fn session_at_turn(scenario: &str, t: usize, root: &Path) {
    let dir = root.join(format!("session_{}", session_id(scenario)));
    copy_tree(&fixture(scenario), &dir);
    let turn = &turns(scenario)[t];
    let removed = turn["conversation_manager_state"]["removed_message_count"]
        .as_u64()
        .unwrap();
    let written = removed + turn["agent_messages_after"].as_array().unwrap().len() as u64;
    let messages = dir.join("agents/agent_default/messages");
    for entry in fs::read_dir(&messages).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let index: u64 = name
            .trim_start_matches("message_")
            .trim_end_matches(".json")
            .parse()
            .unwrap();
        if index >= written {
            fs::remove_file(messages.join(name)).unwrap();
        }
    }
    let agent_json = dir.join("agents/agent_default/agent.json");
    let mut agent: Value = serde_json::from_str(&read(&agent_json)).unwrap();
    agent["conversation_manager_state"] = turn["conversation_manager_state"].clone();
    fs::write(&agent_json, serde_json::to_string_pretty(&agent).unwrap()).unwrap();
}

#[test]
fn fixtures_restore_to_what_strands_restored() {
    for scenario in SCENARIOS {
        let turns = turns(scenario);
        for t in 0..turns.len() {
            let root = TempDir::new("session-restore");
            session_at_turn(scenario, t, root.path());
            let store = FileSessionStore::new(root.path());
            let mut handle = store.open_agent(&session_id(scenario), "default").unwrap();
            let window = SlidingWindow::new(window_size(scenario));
            let mut restored = handle
                .restore(&AgentSnapshot::new(json!({}), window.state()))
                .unwrap()
                .unwrap();
            // The agent repairs what the store restored, as Strands' restore does.
            fix_broken_tool_pairs(&mut restored.messages);
            // What the next Agent restored; after the last turn, the history it ended with.
            let expected = match turns.get(t + 1) {
                Some(next) => &next["messages_restored_on_new_agent"],
                None => &turns[t]["agent_messages_after"],
            };
            assert_eq!(
                text_of(&restored.messages),
                recorded_text(expected),
                "scenario {scenario} after turn {t}"
            );
            assert_eq!(
                restored.conversation_manager_state,
                turns[t]["conversation_manager_state"]
            );
            assert_eq!(restored.state, json!({}));
            assert_eq!(
                restored.snapshot().internal_state,
                AgentSnapshot::default_internal_state()
            );
        }
    }
}

#[test]
fn restore_applies_redaction_and_repairs_tool_pairs() {
    let root = TempDir::new("session-redact");
    session_at_turn("B", 0, root.path());
    let messages = root
        .path()
        .join("session_scenario-b/agents/agent_default/messages");
    // Redact the prompt, and drop the tool result so the tool call dangles mid-history.
    let m0 = messages.join("message_0.json");
    let mut record: Value = serde_json::from_str(&read(&m0)).unwrap();
    record["redact_message"] = json!({"role": "user", "content": [{"text": "[REDACTED]"}]});
    fs::write(&m0, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    let m2 = messages.join("message_2.json");
    let mut record: Value = serde_json::from_str(&read(&m2)).unwrap();
    record["message"]["content"] = json!([{"text": "no result here"}]);
    record["unknown_key"] = json!("ignored");
    fs::write(&m2, serde_json::to_string_pretty(&record).unwrap()).unwrap();

    let store = FileSessionStore::new(root.path());
    let mut handle = store.open_agent("scenario-b", "default").unwrap();
    let mut restored = handle
        .restore(&AgentSnapshot::new(json!({}), SlidingWindow::new(20).state()))
        .unwrap()
        .unwrap();
    fix_broken_tool_pairs(&mut restored.messages);
    let got = serde_json::to_value(&restored.messages).unwrap();
    assert_eq!(
        got[0],
        json!({"role": "user", "content": [{"text": "[REDACTED]"}]})
    );
    assert_eq!(got[1]["content"][0]["toolUse"]["toolUseId"], "call_add_1");
    assert_eq!(
        got[2]["content"],
        json!([{"toolResult": {"toolUseId": "call_add_1", "status": "error",
        "content": [{"text": "Tool was interrupted."}]}}])
    );
    assert_eq!(got[3]["content"], json!([{"text": "no result here"}]));
    assert_eq!(got.as_array().unwrap().len(), 5);

    // The repair lives in memory only, and appending continues after the last file.
    handle.append_message(&Message::user_text("next")).unwrap();
    assert!(messages.join("message_4.json").exists());
    assert_eq!(files(&messages).len(), 5);
}

// ---- the window against the recorded turns and the real library ---------------------------------

#[test]
fn window_state_per_turn_matches_scenarios_d_and_e() {
    // `replay` checks messages and state after every turn; here the expected trims themselves.
    let states = |s: &str| -> Vec<u64> {
        turns(s)
            .iter()
            .map(|t| {
                t["conversation_manager_state"]["removed_message_count"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(states("D"), [0, 4, 4, 6]);
    assert_eq!(states("E"), [0, 0, 4, 4]);
    for scenario in ["D", "E"] {
        let root = TempDir::new("session-window");
        replay(scenario, root.path());
        let agent: Value = serde_json::from_str(&snapshot_file(
            root.path(),
            &session_id(scenario),
            "agents/agent_default/agent.json",
        ))
        .unwrap();
        assert_eq!(
            agent["conversation_manager_state"]["removed_message_count"],
            states(scenario)[3]
        );
    }
    // E turn 1: the first overflow shortened the tool result in memory (exact Strands text) ...
    let e1 = recorded(&turns("E")[1]["agent_messages_after"]);
    let text = e1[2]["content"][0]["toolResult"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains("...\n\n... [truncated: 691 chars removed] ...\n\n..."),
        "{text}"
    );
    // ... but the file kept the full text, which the next turn restored.
    let e2 = recorded(&turns("E")[2]["messages_restored_on_new_agent"]);
    assert_eq!(
        e2[2]["content"][0]["toolResult"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1091
    );
}

/// A small deterministic generator of awkward histories (xorshift, fixed seed).
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn history(&mut self) -> Value {
        let len = 1 + self.next(9);
        let mut calls: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for i in 0..len {
            let role = if self.next(5) == 0 {
                ["user", "assistant"][self.next(2) as usize]
            } else {
                ["user", "assistant"][(i % 2) as usize]
            };
            let mut content = Vec::new();
            for _ in 0..self.next(3) + 1 {
                content.push(match self.next(7) {
                    0 | 1 => json!({"text": format!("t{i}")}),
                    2 | 3 => {
                        let id = format!("c{}", self.next(4));
                        calls.push(id.clone());
                        json!({"toolUse": {"toolUseId": id, "name": "f", "input": {"i": i}}})
                    }
                    4 | 5 => {
                        let id = match calls.last() {
                            Some(id) if self.next(3) > 0 => id.clone(),
                            _ => format!("c{}", self.next(4)),
                        };
                        let item = match self.next(4) {
                            0 => json!({"text": "é".repeat(150) + &"x".repeat(300)}),
                            1 => json!({"image": {"format": "png", "source": {"bytes": {"__bytes_encoded__": true, "data": "AAECAwQFBgcICQ=="}}}}),
                            _ => json!({"text": "ok"}),
                        };
                        json!({"toolResult": {"toolUseId": id, "status": "success", "content": [item, {"json": {"n": 1}}]}})
                    }
                    _ => json!({"image": {"format": "jpeg", "source": {"bytes": {"__bytes_encoded__": true, "data": "/9j/"}}}}),
                });
            }
            out.push(json!({"role": role, "content": content}));
        }
        Value::Array(out)
    }
}

fn without_tracking_ids(messages: &mut [Message]) {
    for m in messages {
        m.tracking_id = None;
    }
}

#[test]
fn window_matches_real_strands_on_generated_histories() {
    let mut generator = Gen(0x5eed_1234_abcd_0001);
    let mut cases = Vec::new();
    for _ in 0..300 {
        let steps: Vec<&str> = (0..3)
            .map(|_| ["apply", "overflow"][generator.next(2) as usize])
            .collect();
        cases.push(json!({"window": generator.next(7), "messages": generator.history(), "steps": steps}));
    }
    let expected = strands(&["window"], &Value::Array(cases.clone()));
    for (case, expected) in cases.iter().zip(expected.as_array().unwrap()) {
        let mut window = SlidingWindow::new(case["window"].as_u64().unwrap() as usize);
        let mut messages: Vec<Message> = serde_json::from_value(case["messages"].clone()).unwrap();
        for (step, want) in case["steps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(expected.as_array().unwrap())
        {
            let error = if step == "overflow" {
                window.reduce_context(&mut messages, true).err()
            } else {
                window.apply_management(&mut messages);
                None
            };
            let context = format!("case {case}\nstep {step}");
            assert_eq!(
                text_of(&messages),
                serde_json::to_string(&want["messages"]).unwrap(),
                "{context}"
            );
            assert_eq!(window.state(), want["state"], "{context}");
            let want_error = want["error"].as_str();
            assert_eq!(
                error
                    .map(|e: UnableToTrim| format!("ContextWindowOverflowException: {e}"))
                    .as_deref(),
                want_error,
                "{context}"
            );
        }
    }
}

#[test]
fn tool_pair_repair_matches_real_strands_on_generated_histories() {
    let mut generator = Gen(0xfeed_0042_1357_9bdf);
    let cases: Vec<Value> = (0..400).map(|_| generator.history()).collect();
    let expected = strands(&["fix"], &Value::Array(cases.clone()));
    for (case, want) in cases.iter().zip(expected.as_array().unwrap()) {
        let mut messages: Vec<Message> = serde_json::from_value(case.clone()).unwrap();
        fix_broken_tool_pairs(&mut messages);
        without_tracking_ids(&mut messages);
        let mut want: Vec<Message> = serde_json::from_value(want.clone()).unwrap();
        without_tracking_ids(&mut want);
        assert_eq!(text_of(&messages), text_of(&want), "case {case}");
    }
}

// ---- interop with the real Strands -----------------------------------------------------------------

/// A history with tool calls, plain and MCP tool results, images, non-ASCII text and reasoning.
fn rich_history() -> Vec<Message> {
    let png = json!({"format": "png", "source": {"bytes": {"__bytes_encoded__": true,
        "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4//8/AAX+Av6n1qToAAAAAElFTkSuQmCC"}}});
    let usage = json!({"usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
        "metrics": {"latencyMs": 0, "timeToFirstByteMs": 42}});
    let id = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    let v = json!([
        {"role": "user", "content": [{"text": "Grüße! What is 2 + 3? 🙂"}], "tracking_id": id(0)},
        {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "use tools"}}},
            {"toolUse": {"toolUseId": "call_1", "name": "add", "input": {"a": 2, "b": 3.5, "big": 12345678901234567890u64}}},
            {"toolUse": {"toolUseId": "call_2", "name": "shot", "input": {}}}], "metadata": usage, "tracking_id": id(1)},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "call_1", "status": "success", "content": [{"text": "5.5"}]}},
            {"toolResult": {"status": "success", "toolUseId": "call_2", "content": [{"text": "here"}, {"image": png}],
                "structuredContent": {"result": 42}, "metadata": {"io.modelcontextprotocol/serverInfo": {"name": "calc", "version": ""}},
                "isError": false}}], "tracking_id": id(2)},
        {"role": "assistant", "content": [{"text": "It is 5.5 and a picture."}], "metadata": usage, "tracking_id": id(3)},
        {"role": "user", "content": [{"text": "And this image?"}, {"image": png}], "tracking_id": id(4)},
        {"role": "assistant", "content": [{"text": "One pixel."}], "metadata": usage, "tracking_id": id(5)},
        {"role": "user", "content": [{"text": "Bye"}], "tracking_id": id(6)},
        {"role": "assistant", "content": [{"text": "Bye!\n\"quoted\"\t\u{1}"}], "metadata": usage, "tracking_id": id(7)}
    ]);
    serde_json::from_value(v).unwrap()
}

#[test]
fn strands_restores_exactly_what_we_wrote() {
    let root = TempDir::new("session-interop-ours");
    let store = FileSessionStore::new(root.path());
    let mut window = SlidingWindow::new(5);
    let mut handle = store.open_agent("interop-ours", "default").unwrap();
    let mut snapshot = AgentSnapshot::new(json!({"user": "ünï", "n": 1.5}), window.state());
    assert!(handle.restore(&snapshot).unwrap().is_none());
    let mut messages = Vec::new();
    for message in rich_history() {
        handle.append_message(&message).unwrap();
        messages.push(message);
        handle.sync_agent(&snapshot).unwrap();
    }
    // 8 messages, window 5: start 3 is an assistant message, 4 a plain user message -> 4 removed.
    assert_eq!(
        window.apply_management(&mut messages),
        agentcore_rt::agent::conversation::Reduction::Removed(4)
    );
    snapshot.conversation_manager_state = window.state();
    handle.sync_agent(&snapshot).unwrap();

    let theirs = strands(
        &["restore", root.path().to_str().unwrap(), "interop-ours", "5"],
        &json!(null),
    );
    assert_eq!(
        serde_json::to_string(&theirs["messages"]).unwrap(),
        text_of(&messages)
    );
    assert_eq!(theirs["conversation_manager_state"], window.state());
    assert_eq!(theirs["state"], json!({"user": "ünï", "n": 1.5}));

    // Untrimmed: the full history, tool results and images included.
    let root = TempDir::new("session-interop-full");
    let store = FileSessionStore::new(root.path());
    let mut handle = store.open_agent("full", "default").unwrap();
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::new(20).state());
    handle.restore(&snapshot).unwrap();
    for message in rich_history() {
        handle.append_message(&message).unwrap();
    }
    handle.sync_agent(&snapshot).unwrap();
    let theirs = strands(
        &["restore", root.path().to_str().unwrap(), "full", "20"],
        &json!(null),
    );
    assert_eq!(
        serde_json::to_string(&theirs["messages"]).unwrap(),
        text_of(&rich_history())
    );
    // Strands did not write anything while restoring, so every file is still ours.
    assert!(temp_files(root.path()).is_empty());
}

#[test]
fn we_restore_exactly_what_strands_wrote_and_it_reads_our_appends() {
    let root = TempDir::new("session-interop-theirs");
    let mut history = serde_json::to_value(rich_history()).unwrap();
    for m in history.as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("tracking_id");
    }
    let written = strands(
        &["write", root.path().to_str().unwrap(), "interop-theirs", "5"],
        &json!({"messages": history, "state": {"k": [1, 2]}, "trim": true}),
    );
    assert_eq!(written["conversation_manager_state"]["removed_message_count"], 4);

    let store = FileSessionStore::new(root.path());
    let mut window = SlidingWindow::new(5);
    let mut handle = store.open_agent("interop-theirs", "default").unwrap();
    let restored = handle
        .restore(&AgentSnapshot::new(json!({}), window.state()))
        .unwrap()
        .unwrap();
    assert_eq!(
        text_of(&restored.messages),
        serde_json::to_string(&written["messages"]).unwrap()
    );
    assert_eq!(restored.state, json!({"k": [1, 2]}));
    window.restore(&restored.conversation_manager_state).unwrap();
    assert_eq!(window.removed_message_count, 4);

    // Continue the conversation here; Strands then restores our messages after its own.
    let mut messages = restored.messages.clone();
    let mut snapshot = restored.snapshot();
    for message in [
        Message::user_text("Noch eine Frage"),
        Message::new(Role::Assistant, vec![]),
    ] {
        handle.append_message(&message).unwrap();
        messages.push(message);
        handle.sync_agent(&snapshot).unwrap();
    }
    window.apply_management(&mut messages);
    snapshot.conversation_manager_state = window.state();
    handle.sync_agent(&snapshot).unwrap();
    assert!(
        root.path()
            .join("session_interop-theirs/agents/agent_default/messages/message_9.json")
            .exists()
    );

    let theirs = strands(
        &["restore", root.path().to_str().unwrap(), "interop-theirs", "5"],
        &json!(null),
    );
    assert_eq!(
        serde_json::to_string(&theirs["messages"]).unwrap(),
        text_of(&messages)
    );
    assert_eq!(theirs["conversation_manager_state"], window.state());
}

// ---- errors ------------------------------------------------------------------------------------

fn kind(result: Result<impl std::fmt::Debug, SessionError>) -> SessionErrorKind {
    result.expect_err("expected an error").kind
}

/// A session with one agent and three messages, written by us.
fn small_session(root: &Path, sid: &str) -> PathBuf {
    let store = FileSessionStore::new(root);
    let mut handle = store.open_agent(sid, "default").unwrap();
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::default().state());
    handle.restore(&snapshot).unwrap();
    for text in ["one", "two", "three"] {
        handle.append_message(&Message::user_text(text)).unwrap();
    }
    handle.sync_agent(&snapshot).unwrap();
    root.join(format!("session_{sid}"))
}

fn restore(root: &Path, sid: &str) -> Result<Option<agentcore_rt::session::RestoredAgent>, SessionError> {
    let store = FileSessionStore::new(root);
    let mut handle = store.open_agent(sid, "default")?;
    handle.restore(&AgentSnapshot::new(json!({}), SlidingWindow::default().state()))
}

#[test]
fn corrupt_files_are_errors_that_touch_nothing() {
    let root = TempDir::new("session-corrupt");
    let dir = small_session(root.path(), "s");
    let before = tree(&dir);
    let m1 = dir.join("agents/agent_default/messages/message_1.json");
    fs::write(&m1, "{\"message\": {\"role\": \"user\", \"content\": [").unwrap();
    let err = restore(root.path(), "s").unwrap_err();
    assert_eq!(err.path.as_deref(), Some(m1.as_path()));
    assert_eq!(err.session_id, "s");
    match &err.kind {
        SessionErrorKind::Corrupt { detail, .. } => {
            assert!(detail.starts_with("invalid JSON: EOF while parsing"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.source().is_some_and(|s| s.is::<serde_json::Error>()),
        "{err:?}"
    );
    assert_eq!(tree(&dir), before);
    assert_eq!(read(&m1), "{\"message\": {\"role\": \"user\", \"content\": [");

    fs::write(&m1, r#"{"message": {"role": "robot", "content": []}}"#).unwrap();
    assert!(
        matches!(kind(restore(root.path(), "s")), SessionErrorKind::Corrupt { detail, .. } if detail.contains("robot"))
    );
    fs::write(&m1, "[".repeat(100_000)).unwrap();
    assert!(
        matches!(kind(restore(root.path(), "s")), SessionErrorKind::Corrupt { detail, .. } if detail.contains("nested"))
    );
    fs::write(&m1, b"\xff\xfe").unwrap();
    assert!(
        matches!(kind(restore(root.path(), "s")), SessionErrorKind::Corrupt { detail, .. } if detail.contains("UTF-8"))
    );

    let root = TempDir::new("session-corrupt-agent");
    let dir = small_session(root.path(), "s");
    let agent_json = dir.join("agents/agent_default/agent.json");
    let mut agent: Value = serde_json::from_str(&read(&agent_json)).unwrap();
    agent["conversation_manager_state"]["removed_message_count"] = json!("two");
    fs::write(&agent_json, agent.to_string()).unwrap();
    assert!(matches!(
        kind(restore(root.path(), "s")),
        SessionErrorKind::Corrupt { .. }
    ));
    agent["conversation_manager_state"] =
        json!({"__name__": "SummarizingConversationManager", "removed_message_count": 0});
    fs::write(&agent_json, agent.to_string()).unwrap();
    assert_eq!(
        kind(restore(root.path(), "s")),
        SessionErrorKind::ManagerMismatch {
            expected: "SlidingWindowConversationManager".into(),
            found: "SummarizingConversationManager".into()
        }
    );
    agent.as_object_mut().unwrap().remove("state");
    fs::write(&agent_json, agent.to_string()).unwrap();
    assert!(
        matches!(kind(restore(root.path(), "s")), SessionErrorKind::Corrupt { detail, .. } if detail.contains("state"))
    );

    // A stray message file name, a missing agent.json with messages present, a missing messages dir.
    let root = TempDir::new("session-corrupt-names");
    let dir = small_session(root.path(), "s");
    let messages = dir.join("agents/agent_default/messages");
    fs::write(messages.join("message_x.json"), "{}").unwrap();
    assert!(matches!(
        kind(restore(root.path(), "s")),
        SessionErrorKind::Corrupt { .. }
    ));
    fs::remove_file(messages.join("message_x.json")).unwrap();
    fs::write(messages.join(".strands_abc.tmp"), "half").unwrap(); // a crashed writer's temp file is ignored
    assert_eq!(restore(root.path(), "s").unwrap().unwrap().messages.len(), 3);
    fs::remove_file(dir.join("agents/agent_default/agent.json")).unwrap();
    assert!(
        matches!(kind(restore(root.path(), "s")), SessionErrorKind::Corrupt { detail, .. } if detail.contains("3 message files"))
    );
    assert!(
        !dir.join("agents/agent_default/agent.json").exists(),
        "no silent reset"
    );
}

#[test]
fn symlinks_are_refused_for_files_and_directories() {
    let root = TempDir::new("session-symlink");
    let dir = small_session(root.path(), "s");
    let outside = root.path().join("outside.json");
    let messages = dir.join("agents/agent_default/messages");
    let m2 = messages.join("message_2.json");
    fs::rename(&m2, &outside).unwrap();
    symlink(&outside, &m2).unwrap();
    let err = restore(root.path(), "s").unwrap_err();
    assert_eq!(
        (err.kind, err.path),
        (SessionErrorKind::SymlinkRefused, Some(m2.clone()))
    );
    fs::remove_file(&m2).unwrap();
    fs::rename(&outside, &m2).unwrap();

    // Writing onto a link (planted where the next message goes) is refused; the target is untouched.
    let store = FileSessionStore::new(root.path());
    let mut handle = store.open_agent("s", "default").unwrap();
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::default().state());
    handle.restore(&snapshot).unwrap();
    fs::write(&outside, "precious").unwrap();
    symlink(&outside, messages.join("message_3.json")).unwrap();
    assert_eq!(
        kind(handle.append_message(&Message::user_text("x"))),
        SessionErrorKind::SymlinkRefused
    );
    assert_eq!(read(&outside), "precious");
    fs::remove_file(messages.join("message_3.json")).unwrap();

    let agent_json = dir.join("agents/agent_default/agent.json");
    fs::rename(&agent_json, &outside).unwrap();
    symlink(&outside, &agent_json).unwrap();
    assert_eq!(kind(restore(root.path(), "s")), SessionErrorKind::SymlinkRefused);
    assert_eq!(
        kind(handle.sync_agent(&AgentSnapshot::new(
            json!({"x": 1}),
            SlidingWindow::default().state()
        ))),
        SessionErrorKind::SymlinkRefused
    );
    fs::remove_file(&agent_json).unwrap();
    fs::rename(&outside, &agent_json).unwrap();

    // Linked directories: messages, agent, session.
    let elsewhere = root.path().join("elsewhere");
    for linked in [messages.clone(), dir.join("agents/agent_default"), dir.clone()] {
        fs::rename(&linked, &elsewhere).unwrap();
        symlink(&elsewhere, &linked).unwrap();
        assert_eq!(
            kind(restore(root.path(), "s")),
            SessionErrorKind::SymlinkRefused,
            "{}",
            linked.display()
        );
        fs::remove_file(&linked).unwrap();
        fs::rename(&elsewhere, &linked).unwrap();
    }
    assert_eq!(restore(root.path(), "s").unwrap().unwrap().messages.len(), 3);

    // The lock file too.
    let lock = dir.join(".agentcore.lock");
    let _ = fs::remove_file(&lock);
    symlink(&outside, &lock).unwrap();
    assert_eq!(
        kind(store.lock("s", Duration::ZERO)),
        SessionErrorKind::SymlinkRefused
    );
}

#[test]
fn io_errors_keep_their_kind_and_leave_no_temp_files() {
    let root = TempDir::new("session-io");
    let dir = small_session(root.path(), "s");
    let store = FileSessionStore::new(root.path());
    let mut handle = store.open_agent("s", "default").unwrap();
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::default().state());
    handle.restore(&snapshot).unwrap();

    // agent.json replaced by a non-empty directory: the rename fails after the temp file was written.
    let agent_json = dir.join("agents/agent_default/agent.json");
    let saved = read(&agent_json);
    fs::remove_file(&agent_json).unwrap();
    fs::create_dir_all(agent_json.join("x")).unwrap();
    let error = handle.sync_agent(&snapshot).unwrap_err();
    match &error.kind {
        SessionErrorKind::Io { kind, .. } => assert_eq!(*kind, std::io::ErrorKind::IsADirectory),
        other => panic!("{other:?}"),
    }
    // The OS error itself is kept, as the source.
    let source = error.source().and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(
        source.map(std::io::Error::kind),
        Some(std::io::ErrorKind::IsADirectory)
    );
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    fs::remove_dir_all(&agent_json).unwrap();
    fs::write(&agent_json, saved).unwrap();

    // The messages directory replaced by a file.
    let messages = dir.join("agents/agent_default/messages");
    fs::rename(&messages, root.path().join("moved")).unwrap();
    fs::write(&messages, "not a dir").unwrap();
    match kind(handle.append_message(&Message::user_text("x"))) {
        SessionErrorKind::Io { kind, .. } => assert_eq!(kind, std::io::ErrorKind::NotADirectory),
        other => panic!("{other:?}"),
    }
    fs::remove_file(&messages).unwrap();
    fs::rename(root.path().join("moved"), &messages).unwrap();

    // A read-only directory (only meaningful without root's override of permissions).
    fs::set_permissions(&messages, fs::Permissions::from_mode(0o500)).unwrap();
    let privileged = fs::write(messages.join("probe"), "x").is_ok();
    if !privileged {
        match kind(handle.append_message(&Message::user_text("x"))) {
            SessionErrorKind::Io { kind, .. } => assert_eq!(kind, std::io::ErrorKind::PermissionDenied),
            other => panic!("{other:?}"),
        }
    }
    let _ = fs::remove_file(messages.join("probe"));
    fs::set_permissions(&messages, fs::Permissions::from_mode(0o700)).unwrap();
    handle.append_message(&Message::user_text("works again")).unwrap();
    assert!(messages.join("message_3.json").exists());
    assert_eq!(temp_files(&dir), Vec::<String>::new());
}

#[test]
fn message_files_are_never_replaced() {
    let root = TempDir::new("session-no-replace");
    let dir = small_session(root.path(), "s");
    let store = FileSessionStore::new(root.path());
    let snapshot = AgentSnapshot::new(json!({}), SlidingWindow::default().state());
    let mut first = store.open_agent("s", "default").unwrap();
    first.restore(&snapshot).unwrap();
    let mut second = store.open_agent("s", "default").unwrap();
    second.restore(&snapshot).unwrap();
    first.append_message(&Message::user_text("from first")).unwrap();
    // The second handle ignored the lock and is one message behind: it must not overwrite.
    let err = second
        .append_message(&Message::user_text("from second"))
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            SessionErrorKind::Io {
                kind: std::io::ErrorKind::AlreadyExists,
                ..
            }
        ),
        "{err}"
    );
    assert!(read(&dir.join("agents/agent_default/messages/message_3.json")).contains("from first"));
}

#[test]
fn invalid_ids_are_refused_before_touching_the_disk() {
    let root = TempDir::new("session-ids");
    let store = FileSessionStore::new(root.path().join("store"));
    let long = "x".repeat(250);
    for id in ["../x", "a/b", "", "a\0b", ".", "..", "tab\there", long.as_str()] {
        assert!(validate_session_id(id).is_err(), "{id:?}");
        assert!(matches!(
            kind(store.open_agent(id, "default")),
            SessionErrorKind::InvalidId { what: "session", .. }
        ));
        assert!(matches!(
            kind(store.lock(id, Duration::ZERO)),
            SessionErrorKind::InvalidId { what: "session", .. }
        ));
        assert!(matches!(
            kind(store.open_agent("ok", id)),
            SessionErrorKind::InvalidId { what: "agent", .. }
        ));
    }
    assert!(!root.path().join("store").exists());
    // Ids Strands accepts keep their `session_<id>` directory.
    let longest = "x".repeat(247);
    for id in ["ok-id_1.2", "a b", "ünï", "a\\b", longest.as_str()] {
        store.open_agent(id, "default").unwrap();
        assert!(
            root.path()
                .join("store")
                .join(format!("session_{id}/session.json"))
                .is_file(),
            "{id}"
        );
    }
}

#[test]
fn session_directory_without_session_json() {
    let root = TempDir::new("session-missing-record");
    let store = FileSessionStore::new(root.path());
    // An empty leftover (what `lock` creates) is taken over.
    drop(store.lock("empty", Duration::ZERO).unwrap());
    assert!(!root.path().join("session_empty/session.json").exists());
    store.open_agent("empty", "default").unwrap();
    let record: Value = serde_json::from_str(&read(&root.path().join("session_empty/session.json"))).unwrap();
    assert_eq!(record["session_id"], "empty");
    assert_eq!(record["session_type"], "AGENT");
    // With agent data it is refused, and nothing is created or reset.
    let dir = small_session(root.path(), "s");
    fs::remove_file(dir.join("session.json")).unwrap();
    let before = tree(&dir);
    let err = store.open_agent("s", "default").unwrap_err();
    assert_eq!(
        (err.kind, err.path),
        (SessionErrorKind::MissingSessionRecord, Some(dir.clone()))
    );
    assert_eq!(tree(&dir), before);
}

// ---- the writer lock -------------------------------------------------------------------------------

#[test]
fn lock_serialises_threads() {
    let root = TempDir::new("session-lock-threads");
    let store = FileSessionStore::new(root.path());
    let (held_tx, held_rx) = mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let holder = {
        let (store, done) = (store.clone(), done.clone());
        thread::spawn(move || {
            let _lock = store.lock("s", LONG_WAIT).unwrap();
            held_tx.send(()).unwrap();
            let mut handle = store.open_agent("s", "default").unwrap();
            handle
                .restore(&AgentSnapshot::new(json!({}), SlidingWindow::default().state()))
                .unwrap();
            for i in 0..20 {
                handle
                    .append_message(&Message::user_text(format!("m{i}")))
                    .unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    held_rx.recv_timeout(LONG_WAIT).unwrap();
    let busy = store.lock("s", Duration::ZERO).unwrap_err();
    assert!(
        matches!(busy.kind, SessionErrorKind::LockTimeout { .. }),
        "{busy}"
    );
    assert!(busy.to_string().contains("session is busy"));
    let _lock = store.lock("s", LONG_WAIT).unwrap();
    assert!(
        done.load(Ordering::SeqCst),
        "lock acquired while the holder was still writing"
    );
    holder.join().unwrap();
}

#[test]
fn concurrent_locked_writers_keep_indices_dense() {
    let root = TempDir::new("session-lock-dense");
    let store = FileSessionStore::new(root.path());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            thread::spawn(move || {
                for i in 0..8 {
                    let _lock = store.lock("s", LONG_WAIT).unwrap();
                    let mut handle = store.open_agent("s", "default").unwrap();
                    let mut window = SlidingWindow::new(6);
                    let initial = AgentSnapshot::new(json!({}), window.state());
                    let mut messages = match handle.restore(&initial).unwrap() {
                        Some(r) => {
                            window.restore(&r.conversation_manager_state).unwrap();
                            r.messages
                        }
                        None => Vec::new(),
                    };
                    for message in [
                        Message::user_text(format!("w{w}-{i}")),
                        Message::new(Role::Assistant, vec![]),
                    ] {
                        handle.append_message(&message).unwrap();
                        messages.push(message);
                    }
                    window.apply_management(&mut messages);
                    handle
                        .sync_agent(&AgentSnapshot::new(json!({}), window.state()))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let names = files(&root.path().join("session_s/agents/agent_default/messages"));
    let mut expected: Vec<String> = (0..64).map(|n| format!("message_{n}.json")).collect();
    expected.sort();
    assert_eq!(names, expected);
    let restored = restore(root.path(), "s").unwrap().unwrap();
    assert_eq!(restored.conversation_manager_state["removed_message_count"], 58);
    assert_eq!(restored.messages.len(), 6);
}

#[test]
fn lock_excludes_another_process() {
    let root = TempDir::new("session-lock-process");
    let store = FileSessionStore::new(root.path());
    let path = store.lock("s", Duration::ZERO).unwrap().path().to_path_buf();
    // util-linux flock(1) holds the lock until we close its stdin.
    let mut child = Command::new("flock")
        .arg("-x")
        .arg(&path)
        .args(["-c", "echo held; read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux is needed for this test");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    assert_eq!(rx.recv_timeout(LONG_WAIT).unwrap(), "held\n");
    assert!(matches!(
        kind(store.lock("s", Duration::from_millis(100))),
        SessionErrorKind::LockTimeout { .. }
    ));
    drop(child.stdin.take());
    let _lock = store.lock("s", LONG_WAIT).unwrap();
    let deadline = Instant::now() + LONG_WAIT;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "flock child did not exit");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The store remembers how many message files a session has, so restoring a long session
/// does not list its directory every turn; a file written by another writer (another
/// process, Strands) or a gap must still be seen.
#[test]
fn remembered_message_counts_notice_other_writers_and_gaps() {
    let root = TempDir::new("session-counts");
    let ours = FileSessionStore::new(root.path());
    let theirs = FileSessionStore::new(root.path()); // another process: its own memory
    let initial = AgentSnapshot::new(json!({}), SlidingWindow::new(20).state());
    let texts = |store: &FileSessionStore| -> Vec<String> {
        let mut handle = store.open_agent("s", "default").unwrap();
        let restored = handle
            .restore(&initial)
            .unwrap()
            .map(|r| r.messages)
            .unwrap_or_default();
        restored.iter().map(|m| m.text_for_result()).collect()
    };
    let append = |store: &FileSessionStore, text: &str| {
        let mut handle = store.open_agent("s", "default").unwrap();
        handle.restore(&initial).unwrap();
        handle.append_message(&Message::user_text(text)).unwrap();
        handle.sync_agent(&initial).unwrap();
    };
    append(&ours, "one");
    append(&ours, "two");
    assert_eq!(texts(&ours), ["one\n", "two\n"]);
    // Another writer appends: the remembered count no longer holds and is not used.
    append(&theirs, "three");
    assert_eq!(texts(&ours), ["one\n", "two\n", "three\n"]);
    append(&ours, "four");
    assert_eq!(texts(&theirs), ["one\n", "two\n", "three\n", "four\n"]);
    assert_eq!(texts(&ours), ["one\n", "two\n", "three\n", "four\n"]);
    // A gap (a file removed by hand): listing again, the next message goes after the last.
    let messages = root.path().join("session_s/agents/agent_default/messages");
    fs::remove_file(messages.join("message_1.json")).unwrap();
    assert_eq!(texts(&ours), ["one\n", "three\n", "four\n"]);
    append(&ours, "five");
    assert!(messages.join("message_4.json").exists());
    assert_eq!(texts(&ours), ["one\n", "three\n", "four\n", "five\n"]);
}

// ---- the stores behind SessionStore ---------------------------------------------------------------

/// What the loop relies on, for any store: a new agent restores to `None`; the session is one
/// writer's until its writer drops (others time out); a restore skips `removed_message_count`
/// messages and returns the stored state; other sessions and agent ids are separate.
fn store_contract(store: &dyn SessionStore) {
    let window = SlidingWindow::default().state();
    let initial = AgentSnapshot::new(json!({}), window.clone());
    let opened = store.open("s", "default", LONG_WAIT, &initial).unwrap();
    assert!(opened.restored.is_none());
    let mut writer = opened.writer;
    for text in ["one", "two", "three"] {
        writer.append_message(&Message::user_text(text)).unwrap();
    }
    let mut state = window.clone();
    state["removed_message_count"] = json!(1);
    let snapshot = AgentSnapshot::new(json!({"k": "v"}), state.clone());
    writer.sync_agent(&snapshot).unwrap();

    let busy = store
        .open("s", "default", Duration::from_millis(30), &initial)
        .unwrap_err();
    assert!(
        matches!(busy.kind, SessionErrorKind::LockTimeout { .. }),
        "{busy}"
    );
    let busy = store
        .open("s", "other-agent", Duration::ZERO, &initial)
        .unwrap_err();
    assert!(
        matches!(busy.kind, SessionErrorKind::LockTimeout { .. }),
        "{busy}"
    );
    let elsewhere = store.open("t", "default", Duration::ZERO, &initial).unwrap();
    assert!(elsewhere.restored.is_none());
    drop(elsewhere);

    // Released by another thread's drop while this one waits.
    let waiter = thread::scope(|scope| {
        let waiter = scope.spawn(|| store.open("s", "default", LONG_WAIT, &initial));
        thread::sleep(Duration::from_millis(20));
        drop(writer);
        waiter.join().unwrap()
    });
    let restored = waiter.unwrap().restored.unwrap();
    let texts: Vec<String> = restored.messages.iter().map(Message::text_for_result).collect();
    assert_eq!(texts, ["two\n", "three\n"]);
    assert_eq!(restored.state, json!({"k": "v"}));
    assert_eq!(restored.conversation_manager_state, state);

    let other = store.open("s", "other-agent", LONG_WAIT, &initial);
    assert!(
        other.unwrap().restored.is_none(),
        "another agent id is another record"
    );
    let invalid = store.open("a/b", "default", LONG_WAIT, &initial).unwrap_err();
    assert!(matches!(
        invalid.kind,
        SessionErrorKind::InvalidId { what: "session", .. }
    ));
    let invalid = store.open("s", "", LONG_WAIT, &initial).unwrap_err();
    assert!(matches!(
        invalid.kind,
        SessionErrorKind::InvalidId { what: "agent", .. }
    ));
}

#[test]
fn both_stores_keep_the_contract_the_loop_relies_on() {
    let root = TempDir::new("session-store-contract");
    store_contract(&FileSessionStore::new(root.path()));
    store_contract(&MemorySessionStore::new());
    // The file store's writer held the lock file, and wrote the usual files.
    let dir = root.path().join("session_s");
    assert!(dir.join(".agentcore.lock").exists());
    assert_eq!(files(&dir.join("agents/agent_default/messages")).len(), 3);
    store_contract(&Arc::new(MemorySessionStore::new()));
}
