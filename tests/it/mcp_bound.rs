//! Many sessions on one server: the bound on live per-session MCP instances (`max_instances`,
//! least recently used idle one stopped first) and a shutdown that stops many instances within
//! `DRAIN_TIMEOUT`, against the real binary and a real stdio server
//! (tests/peers/faulty_mcp_server.py, stdlib only, so hundreds of them are cheap).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::mock_openai::{MockOpenAi, Reply};
use crate::support::server::{Binary, post_json};
use crate::support::{TempDir, alive, peer_python, repo_root};

fn server_entry(mode: &str, extra: Value) -> Value {
    let script = repo_root().join("tests/peers/faulty_mcp_server.py");
    let mut entry = json!({
        "command": peer_python().display().to_string(),
        "args": [script.display().to_string(), mode],
        "startup_timeout": 60,
    });
    if let (Value::Object(entry), Value::Object(extra)) = (&mut entry, extra) {
        entry.extend(extra);
    }
    entry
}

/// The binary with one stdio MCP server `f`; a model that calls `echo` when asked `call`.
struct Rig {
    bin: Binary,
    _dirs: (TempDir, TempDir),
    _mock: MockOpenAi,
}

fn rig(test: &str, entry: Value) -> Rig {
    let config = TempDir::new(&format!("bound-{test}"));
    let path = config.path().join("mcp.json");
    std::fs::write(&path, json!({"mcpServers": {"f": entry}}).to_string()).unwrap();
    let mock = MockOpenAi::start();
    mock.respond_with(|req| {
        let messages = req.json.as_ref()?["messages"].as_array()?.clone();
        let last = messages.last()?;
        if last["role"] == "tool" {
            return Some(Reply::text(&format!(
                "tool said: {}",
                last["content"].as_str().unwrap_or_default()
            )));
        }
        if req.last_user_text()? == "call" {
            return Some(Reply::tool_calls(&[("call_1", "echo", r#"{"text":"hi"}"#)]));
        }
        Some(Reply::text("ok"))
    });
    let sessions = TempDir::new(&format!("bound-{test}-sessions"));
    let dir = sessions.path().display().to_string();
    let path = path.display().to_string();
    let bin = Binary::start(&[
        ("OPENAI_BASE_URL", &mock.base_url()),
        ("OPENAI_API_KEY", "sk-bound-test"),
        ("SESSION_DIR", &dir),
        ("MCP_CONFIG", &path),
    ]);
    Rig {
        bin,
        _dirs: (config, sessions),
        _mock: mock,
    }
}

fn ask(addr: SocketAddr, session: &str, query: &str) -> String {
    let r = post_json(
        addr,
        "/invocations",
        &json!({"query": query, "session_id": session}).to_string(),
    );
    assert_eq!(r.status, 200, "{session}: {}", r.text());
    r.json()["response"].as_str().unwrap().trim_end().to_string()
}

/// Live (not zombie) child processes of `pid`.
fn children(pid: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        if fields.get(1) == Some(&pid.to_string().as_str()) && fields.first() != Some(&"Z") {
            out.insert(child);
        }
    }
    out
}

fn mcp_messages(bin: &Binary) -> Vec<(String, String)> {
    bin.logs()
        .iter()
        .filter(|l| l["server"] == "f")
        .map(|l| {
            (
                l["level"].as_str().unwrap_or_default().to_string(),
                l["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn per_session_instances_are_bounded_least_recently_used_idle_one_stopped_first() {
    let rig = rig("lru", server_entry("envcheck", json!({"max_instances": 3})));
    let (bin, addr) = (&rig.bin, rig.bin.addr);
    let mut pid_of = std::collections::HashMap::new();
    let mut known = BTreeSet::new();
    for session in ["s1", "s2", "s3", "s4", "s5"] {
        assert_eq!(ask(addr, session, "call"), "tool said: hi");
        let now = children(bin.pid());
        assert!(
            now.len() <= 3,
            "{} live children after {session}: {now:?}",
            now.len()
        );
        let new: Vec<u32> = now.difference(&known).copied().collect();
        // The start-up probe's process serves s1; every later session starts one.
        assert!(new.len() <= 1, "{session}: {new:?}");
        if let Some(pid) = new.first() {
            pid_of.insert(session, *pid);
        }
        known = now;
    }
    // s4 pushed out s1 (least recently used), s5 pushed out s2.
    for gone in ["s1", "s2"] {
        assert!(!alive(pid_of[gone]), "{gone}'s instance still runs");
    }
    for kept in ["s3", "s4", "s5"] {
        assert!(alive(pid_of[kept]), "{kept}'s instance was stopped");
    }
    // s3 is used again: now s4 is the least recently used one.
    assert_eq!(ask(addr, "s3", "call"), "tool said: hi");
    // The evicted session still works: a new instance, which pushes out s4.
    assert_eq!(ask(addr, "s1", "call"), "tool said: hi");
    let now = children(bin.pid());
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(!alive(pid_of["s4"]));
    assert!(alive(pid_of["s3"]) && alive(pid_of["s5"]));
    let logs = mcp_messages(bin);
    for (victim, for_session) in [("s1", "s4"), ("s2", "s5"), ("s4", "s1")] {
        let expected = format!("stopping the instance of session {victim} (least recently used");
        assert!(
            logs.iter().any(|(level, m)| level == "INFO"
                && m.starts_with("max_instances 3 reached")
                && m.contains(&expected)
                && m.contains(&format!("to make room for session {for_session}; 3 live"))),
            "no eviction line for {victim}: {logs:#?}"
        );
    }
    // Our own stop is not a warning.
    assert!(
        !logs
            .iter()
            .any(|(level, m)| level == "WARNING" && m.contains("closed its stdout")),
        "{logs:#?}"
    );
}

#[test]
fn shutdown_stops_many_stubborn_instances_within_the_drain_timeout() {
    // 160 instances of a server that ignores stdin closing and SIGTERM: each stop waits out both
    // grace periods (2 s + 2 s) before SIGKILL. Stopped 32 at a time this took 5 x 4 s.
    const SESSIONS: usize = 160;
    let mut rig = rig(
        "drain",
        server_entry("stubborn", json!({"max_instances": SESSIONS + 10})),
    );
    let addr = rig.bin.addr;
    std::thread::scope(|scope| {
        for client in 0..8 {
            scope.spawn(move || {
                for i in (client..SESSIONS).step_by(8) {
                    assert_eq!(ask(addr, &format!("many-{i}"), "hello"), "ok");
                }
            });
        }
    });
    let pids = children(rig.bin.pid());
    assert_eq!(pids.len(), SESSIONS, "one instance per session");
    let started = Instant::now();
    rig.bin.signal(15);
    // DRAIN_TIMEOUT is 10 s by default; the issue's bound.
    let status = rig.bin.wait_exit(Duration::from_secs(10));
    let took = started.elapsed();
    assert!(status.is_some(), "still running {took:?} after SIGTERM");
    assert!(status.unwrap().success(), "{status:?}");
    let survivors: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(survivors.is_empty(), "survived shutdown: {survivors:?}");
    let logs = mcp_messages(&rig.bin);
    assert!(
        !logs
            .iter()
            .any(|(level, m)| level == "WARNING" && m.contains("closed its stdout")),
        "{logs:#?}"
    );
}

#[test]
fn when_every_instance_is_busy_a_new_session_starts_over_the_bound_and_the_excess_goes_after() {
    use crate::support::mock_openai::Gate;
    let rig = rig("busy", server_entry("envcheck", json!({"max_instances": 2})));
    let (bin, addr) = (&rig.bin, rig.bin.addr);
    // Each invocation calls `echo` (so its session holds an instance), then waits on the gate:
    // three invocations in flight, each holding its instance, with room for two.
    let gate = Gate::new();
    let held = gate.clone();
    rig._mock.respond_with(move |req| {
        let messages = req.json.as_ref()?["messages"].as_array()?.clone();
        if messages.last()?["role"] == "tool" {
            return Some(Reply::text("released").after(&held));
        }
        Some(Reply::tool_calls(&[("call_1", "echo", r#"{"text":"hi"}"#)]))
    });
    std::thread::scope(|scope| {
        let clients: Vec<_> = ["b1", "b2", "b3"]
            .into_iter()
            .map(|session| scope.spawn(move || ask(addr, session, "hold")))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while children(bin.pid()).len() < 3 {
            assert!(
                Instant::now() < deadline,
                "three instances never ran: {:?}",
                mcp_messages(bin)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Nothing was stopped to make room: every instance is in use.
        let logs = mcp_messages(bin);
        assert!(
            logs.iter().any(|(level, m)| level == "WARNING"
                && m.starts_with("max_instances 2 reached and every instance is in use")
                && m.contains("over the bound (3 live)")),
            "{logs:#?}"
        );
        gate.open();
        for client in clients {
            assert_eq!(client.join().unwrap(), "released");
        }
    });
    // Once the invocations ended, the instance over the bound was stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    while children(bin.pid()).len() > 2 {
        assert!(Instant::now() < deadline, "still {:?}", children(bin.pid()));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(children(bin.pid()).len(), 2);
}
