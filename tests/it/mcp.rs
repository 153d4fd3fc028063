//! MCP client and provider against real servers: our server on the official Python SDK
//! (tests/peers/mcp_server.py: stdio, Streamable HTTP with SSE and with JSON replies), npm
//! server-everything (stdio and streamableHttp), and a hand-written stdio server for pagination,
//! JSON-RPC errors, silence and garbage (tests/peers/raw_mcp_server.py).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentcore_rt::tools::mcp::{McpConfig, McpStartError, McpToolProvider};
use agentcore_rt::tools::{Tool, ToolContext, ToolProvider};
use agentcore_rt::types::CancelToken;
use agentcore_rt::types::{ToolResult, ToolUse};
use serde_json::{Value, json};

use crate::support::{TempDir, alive, fixture_json, node_modules, peer_python, repo_root};

// ---- helpers ------------------------------------------------------------------------------

fn peer_script(name: &str) -> String {
    repo_root().join("tests/peers").join(name).display().to_string()
}

/// `{"command": <venv python>, "args": [mcp_server.py, "stdio"]}` plus `extra` keys.
fn python_stdio(extra: Value) -> Value {
    let mut entry = json!({
        "command": peer_python().display().to_string(),
        "args": [peer_script("mcp_server.py"), "stdio"],
        "startup_timeout": 60,
    });
    merge(&mut entry, extra);
    entry
}

fn raw_stdio(mode: &str, extra: Value) -> Value {
    let mut entry = json!({
        "command": peer_python().display().to_string(),
        "args": [peer_script("raw_mcp_server.py"), mode],
        "startup_timeout": 60,
    });
    merge(&mut entry, extra);
    entry
}

fn everything_path() -> String {
    node_modules()
        .join("@modelcontextprotocol/server-everything/dist/index.js")
        .display()
        .to_string()
}

fn merge(entry: &mut Value, extra: Value) {
    if let (Value::Object(entry), Value::Object(extra)) = (entry, extra) {
        entry.extend(extra);
    }
}

fn env_lookup(name: &str) -> Option<String> {
    match name {
        "MCP_TEST_SECRET" => Some("s3cret".into()),
        _ => std::env::var(name).ok(),
    }
}

fn config(servers: Value) -> McpConfig {
    let text = json!({ "mcpServers": servers }).to_string();
    McpConfig::from_str_with_env(&text, &env_lookup).unwrap()
}

/// Shuts the provider down when the test ends, even on a failed assertion.
struct Running(McpToolProvider);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl std::ops::Deref for Running {
    type Target = McpToolProvider;
    fn deref(&self) -> &McpToolProvider {
        &self.0
    }
}

fn start(servers: Value) -> Running {
    Running(McpToolProvider::start(config(servers)).unwrap())
}

fn start_err(servers: Value) -> McpStartError {
    McpToolProvider::start(config(servers)).unwrap_err()
}

fn find<'a>(tools: &'a [Arc<dyn Tool>], name: &str) -> &'a Arc<dyn Tool> {
    tools.iter().find(|t| t.spec().name == name).unwrap_or_else(|| {
        let names: Vec<_> = tools.iter().map(|t| t.spec().name.clone()).collect();
        panic!("no tool {name} in {names:?}")
    })
}

fn call(tools: &[Arc<dyn Tool>], name: &str, input: Value) -> ToolResult {
    call_with(tools, name, input, &CancelToken::new())
}

fn call_with(tools: &[Arc<dyn Tool>], name: &str, input: Value, cancel: &CancelToken) -> ToolResult {
    let tool_use = ToolUse {
        tool_use_id: format!("call_{name}"),
        name: name.to_string(),
        input,
    };
    find(tools, name).call(
        &tool_use,
        &ToolContext {
            session_id: "s",
            cancel,
            trace: None,
        },
    )
}

/// The stored JSON text of a result (key order included).
fn stored(result: &ToolResult) -> String {
    serde_json::to_string(result).unwrap()
}

fn text_of(result: &ToolResult) -> String {
    serde_json::to_value(result).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn pid_of(tools: &[Arc<dyn Tool>]) -> u32 {
    text_of(&call(tools, "pid", json!({}))).parse().unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP MCP server process, killed on drop.
struct HttpPeer {
    child: Child,
    url: String,
}

impl HttpPeer {
    fn python(mode: &str) -> HttpPeer {
        let port = free_port();
        let mut cmd = Command::new(peer_python());
        cmd.args([peer_script("mcp_server.py"), mode.to_string(), port.to_string()]);
        HttpPeer::spawn(cmd, port)
    }

    fn python_on(mode: &str, port: u16) -> HttpPeer {
        let mut cmd = Command::new(peer_python());
        cmd.args([peer_script("mcp_server.py"), mode.to_string(), port.to_string()]);
        HttpPeer::spawn(cmd, port)
    }

    fn everything() -> HttpPeer {
        let port = free_port();
        let mut cmd = Command::new("node");
        cmd.args([everything_path(), "streamableHttp".to_string()])
            .env("PORT", port.to_string());
        HttpPeer::spawn(cmd, port)
    }

    fn spawn(mut cmd: Command, port: u16) -> HttpPeer {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut peer = HttpPeer {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                peer.child.try_wait().unwrap().is_none(),
                "HTTP peer exited before listening"
            );
            assert!(Instant::now() < deadline, "HTTP peer did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        peer
    }

    fn port(&self) -> u16 {
        self.url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/mcp")
            .parse()
            .unwrap()
    }
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- our Python server: specs, content mapping, errors ----------------------------------------

const PEER_INFO: &str =
    r#""metadata":{"io.modelcontextprotocol/serverInfo":{"name":"peer-test","version":""}}"#;

/// Everything a well-behaved server must do the same on every transport.
fn check_python_server(tools: &[Arc<dyn Tool>]) {
    let add = find(tools, "add").spec();
    assert_eq!(add.description, "Add two integers.");
    assert_eq!(
        add.input_schema,
        json!({"properties":{"a":{"title":"A","type":"integer"},"b":{"title":"B","type":"integer"}},
               "required":["a","b"],"type":"object","title":"addArguments"})
    );
    // Fixture F's shape: status first, structuredContent, metadata with serverInfo, isError.
    assert_eq!(
        stored(&call(tools, "add", json!({"a": 2, "b": 3}))),
        format!(
            r#"{{"status":"success","toolUseId":"call_add","content":[{{"text":"5"}}],"structuredContent":{{"result":5}},{PEER_INFO},"isError":false}}"#
        )
    );
    assert_eq!(
        stored(&call(tools, "fail", json!({"msg": "boom"}))),
        format!(
            r#"{{"status":"error","toolUseId":"call_fail","content":[{{"text":"Error executing tool fail"}}],{PEER_INFO},"isError":true}}"#
        )
    );
    let png =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    let media = serde_json::to_value(call(tools, "media", json!({}))).unwrap();
    assert_eq!(
        media["content"],
        json!([
            {"text": "caption"},
            {"image": {"format": "png", "source": {"bytes": {"__bytes_encoded__": true, "data": png}}}},
            {"text": "embedded text"},
            {"text": "{\"k\": \"v\"}"},
            {"image": {"format": "gif", "source": {"bytes": {"__bytes_encoded__": true, "data": png}}}},
        ])
    );
    assert_eq!(media["status"], json!("success"));
    assert_eq!(
        serde_json::to_string(
            &serde_json::to_value(call(tools, "with_meta", json!({}))).unwrap()["metadata"]
        )
        .unwrap(),
        r#"{"trace":"abc","io.modelcontextprotocol/serverInfo":{"name":"peer-test","version":""}}"#
    );
}

#[test]
fn python_stdio_specs_results_and_errors() {
    let provider = start(json!({ "py": python_stdio(json!({})) }));
    let tools = provider.tools_for("s1").unwrap();
    check_python_server(&tools);

    // Unknown tool, Python SDK form: an isError result.
    assert_eq!(
        text_of(&call(&tools, "forget", json!({"name": "echo"}))),
        "forgotten"
    );
    assert_eq!(
        stored(&call(&tools, "echo", json!({"text": "hi"}))),
        format!(
            r#"{{"status":"error","toolUseId":"call_echo","content":[{{"text":"Unknown tool: echo"}}],{PEER_INFO},"isError":true}}"#
        )
    );
    // Server-to-client requests: ping is answered, roots/list refused (the server's call fails
    // with our error instead of waiting forever).
    assert_eq!(text_of(&call(&tools, "ping_client", json!({}))), "pong");
    assert_eq!(
        stored(&call(&tools, "ask_roots", json!({}))),
        r#"{"status":"error","toolUseId":"call_ask_roots","content":[{"text":"Tool execution failed: Method not found"}]}"#
    );
    // A flood of long stderr lines neither blocks the server nor us.
    assert_eq!(
        text_of(&call(
            &tools,
            "spam_stderr",
            json!({"lines": 20000, "width": 3000})
        )),
        "spammed"
    );
    assert_eq!(text_of(&call(&tools, "add", json!({"a": 1, "b": 1}))), "2");
    // Concurrent calls on one server get their own answers.
    std::thread::scope(|scope| {
        for i in 0..8 {
            let tools = &tools;
            scope.spawn(move || {
                assert_eq!(
                    text_of(&call(tools, "add", json!({"a": i, "b": 100}))),
                    (i + 100).to_string()
                );
            });
        }
    });
    provider.invocation_finished("s1");
}

#[test]
fn config_file_is_read_and_checked() {
    let dir = TempDir::new("mcp-config");
    let path = dir.path().join("mcp.json");
    let err = agentcore_rt::tools::mcp::load_config(&path, &env_lookup).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read MCP config {}: No such file or directory (os error 2)",
            path.display()
        )
    );
    // The OS error is kept as the cause.
    let cause = std::error::Error::source(&err).expect("a cause");
    assert!(cause.downcast_ref::<std::io::Error>().is_some(), "{cause:?}");
    std::fs::write(
        &path,
        r#"{"mcpServers": {"x": {"command": "c", "url": "http://h/mcp"}}}"#,
    )
    .unwrap();
    let err = agentcore_rt::tools::mcp::load_config(&path, &env_lookup).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MCP config: mcpServers.x.transport: both `command` and `url` are set: say which with `transport`"
    );
    std::fs::write(
        &path,
        json!({"mcpServers": {"py": python_stdio(json!({"prefix": "p"}))}}).to_string(),
    )
    .unwrap();
    let config = agentcore_rt::tools::mcp::load_config(&path, &env_lookup).unwrap();
    let provider = Running(McpToolProvider::start(config).unwrap());
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(text_of(&call(&tools, "p_add", json!({"a": 1, "b": 2}))), "3");
}

#[test]
fn env_is_interpolated_and_not_inherited_and_cwd_is_set() {
    let dir = TempDir::new("mcp-cwd");
    let provider = start(json!({ "py": python_stdio(json!({
        "env": {"GREETING": "hello ${MCP_TEST_SECRET}"},
        "cwd": dir.path().display().to_string(),
    })) }));
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(
        text_of(&call(&tools, "env", json!({"name": "GREETING"}))),
        "hello s3cret"
    );
    if let Ok(home) = std::env::var("HOME") {
        assert_eq!(text_of(&call(&tools, "env", json!({"name": "HOME"}))), home);
    }
    // Only HOME, LOGNAME, PATH, SHELL, TERM, USER are inherited (as the Python SDK does).
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    assert_eq!(
        text_of(&call(&tools, "env", json!({"name": "CARGO_MANIFEST_DIR"}))),
        "<unset>"
    );
    let cwd = PathBuf::from(text_of(&call(&tools, "cwd", json!({}))));
    assert_eq!(cwd.canonicalize().unwrap(), dir.path().canonicalize().unwrap());
}

#[test]
fn the_inherited_environment_comes_from_the_config_lookup() {
    // Not from the process: the lookup the config was read with is the environment.
    let lookup = |name: &str| match name {
        "HOME" => Some("/nowhere/home".to_string()),
        "PATH" => std::env::var("PATH").ok(),
        "SHELL" => Some("() { exported; }".to_string()),
        _ => None,
    };
    let text = json!({ "mcpServers": { "py": python_stdio(json!({})) } }).to_string();
    let config = McpConfig::from_str_with_env(&text, &lookup).unwrap();
    let provider = Running(McpToolProvider::start(config).unwrap());
    let tools = provider.tools_for("s").unwrap();
    let env = |name: &str| text_of(&call(&tools, "env", json!({ "name": name })));
    assert_eq!(env("HOME"), "/nowhere/home");
    assert_eq!(env("USER"), "<unset>");
    assert_eq!(env("SHELL"), "<unset>", "exported shell functions are left out");
}

#[test]
fn prefix_and_filters_shape_the_tool_list() {
    let provider = start(json!({ "py": python_stdio(json!({
        "prefix": "calc",
        "tool_filters": {"allowed": ["add", "e"], "rejected": ["env"]},
    })) }));
    let tools = provider.tools_for("s").unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.spec().name.clone()).collect();
    assert_eq!(names, ["calc_add", "calc_echo"]);
    // The prefixed tool still calls the server's own name.
    assert_eq!(
        text_of(&call(&tools, "calc_add", json!({"a": 20, "b": 22}))),
        "42"
    );
}

#[test]
fn list_changed_refreshes_the_tool_list() {
    let provider = start(json!({ "py": python_stdio(json!({})) }));
    let tools = provider.tools_for("s").unwrap();
    assert!(!tools.iter().any(|t| t.spec().name == "extra"));
    assert_eq!(text_of(&call(&tools, "grow", json!({}))), "grown");
    provider.invocation_finished("s");
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(
        find(&tools, "extra").spec().description,
        "Added at run time by grow."
    );
    assert_eq!(text_of(&call(&tools, "extra", json!({}))), "extra!");
}

#[test]
fn call_timeout_and_cancellation_give_error_results_and_the_server_lives_on() {
    let provider = start(json!({ "py": python_stdio(json!({"call_timeout": 1})) }));
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(
        stored(&call(&tools, "slow", json!({"seconds": 30}))),
        r#"{"status":"error","toolUseId":"call_slow","content":[{"text":"Tool execution failed: Request 'tools/call' timed out"}]}"#
    );
    let cancelled = CancelToken::new();
    let flag = cancelled.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        flag.cancel();
    });
    let result = call_with(&tools, "slow", json!({"seconds": 30}), &cancelled);
    canceller.join().unwrap();
    assert_eq!(
        stored(&result),
        r#"{"status":"error","toolUseId":"call_slow","content":[{"text":"Tool execution cancelled locally; remote execution may have continued"}],"cancelled":true}"#
    );
    assert_eq!(
        text_of(&call(&tools, "echo", json!({"text": "still here"}))),
        "still here"
    );
}

// ---- lifecycles ----------------------------------------------------------------------------

#[test]
fn crash_mid_call_fails_the_call_then_restarts_on_next_use() {
    let provider = start(json!({ "py": python_stdio(json!({})) }));
    let tools = provider.tools_for("s").unwrap();
    let first = pid_of(&tools);
    assert_eq!(
        stored(&call(&tools, "crash", json!({}))),
        r#"{"status":"error","toolUseId":"call_crash","content":[{"text":"Tool execution failed: Connection closed"}]}"#
    );
    wait_until("the crashed server to be reaped", Duration::from_secs(10), || {
        !alive(first)
    });
    // The same tool object, used again in the same invocation: a new process serves it.
    let second = pid_of(&tools);
    assert_ne!(first, second);
    assert_eq!(text_of(&call(&tools, "add", json!({"a": 1, "b": 2}))), "3");
    assert_eq!(provider.session_pids("s"), vec![("py".to_string(), second)]);
}

#[test]
fn per_session_reuse_isolation_and_shutdown() {
    let provider = start(json!({ "py": python_stdio(json!({})) }));
    // Two sessions at once: two processes.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| provider.tools_for("a").unwrap());
        let b = scope.spawn(|| provider.tools_for("b").unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    let (pid_a, pid_b) = (pid_of(&a), pid_of(&b));
    assert_ne!(pid_a, pid_b);
    provider.invocation_finished("a");
    // The session's next invocation reuses its process.
    let again = provider.tools_for("a").unwrap();
    assert_eq!(pid_of(&again), pid_a);
    assert_eq!(provider.session_pids("a"), vec![("py".to_string(), pid_a)]);
    // A grandchild in the server's process group is stopped with it.
    let grandchild: u32 = text_of(&call(&b, "spawn_child", json!({}))).parse().unwrap();
    assert!(alive(grandchild));
    provider.shutdown();
    // Our children are reaped before shutdown returns; the grandchild was SIGKILLed, which
    // takes effect asynchronously.
    for pid in [pid_a, pid_b] {
        assert!(!alive(pid), "pid {pid} outlived shutdown");
    }
    wait_until("the grandchild to die", Duration::from_secs(10), || {
        !alive(grandchild)
    });
    assert!(provider.tools_for("c").is_err());
    assert_eq!(
        stored(&call(&b, "echo", json!({"text": "x"}))),
        r#"{"status":"error","toolUseId":"call_echo","content":[{"text":"Tool execution failed: MCP server 'py' has been stopped"}]}"#
    );
    provider.shutdown();
}

#[test]
fn idle_sessions_are_reaped_busy_ones_are_not() {
    let provider = start(json!({ "py": python_stdio(json!({"idle_timeout": 1})) }));
    let a = provider.tools_for("a").unwrap();
    let b = provider.tools_for("b").unwrap();
    let (pid_a, pid_b) = (pid_of(&a), pid_of(&b));
    provider.invocation_finished("a");
    wait_until("session a's server to be reaped", Duration::from_secs(60), || {
        !alive(pid_a)
    });
    assert!(provider.session_pids("a").is_empty());
    // Session b is inside an invocation (no invocation_finished yet): never reaped.
    assert!(alive(pid_b));
    assert_eq!(pid_of(&b), pid_b);
    // Session a's next invocation starts a new process.
    let fresh = provider.tools_for("a").unwrap();
    assert_ne!(pid_of(&fresh), pid_a);
}

/// Seconds since boot at which `pid` started (`/proc/<pid>/stat` field 22, in USER_HZ = 100 ticks).
fn started_at(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    fields[19].parse::<f64>().unwrap() / 100.0
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn probed_instance_serves_the_first_session() {
    let provider = start(json!({ "py": python_stdio(json!({})) }));
    let after_start = uptime();
    // The start-up probe's process is handed to the first session instead of spawning another.
    let tools = provider.tools_for("first").unwrap();
    assert!(started_at(pid_of(&tools)) <= after_start);
    // The next session gets a process of its own, started after start-up.
    let other = provider.tools_for("second").unwrap();
    assert!(started_at(pid_of(&other)) >= after_start - 0.01);
}

#[test]
fn shared_serves_every_session_from_one_process() {
    let provider = start(json!({ "py": python_stdio(json!({"lifecycle": "shared"})) }));
    let a = provider.tools_for("a").unwrap();
    let b = provider.tools_for("b").unwrap();
    let pid = pid_of(&a);
    assert_eq!(pid_of(&b), pid);
    provider.invocation_finished("a");
    provider.invocation_finished("b");
    assert!(alive(pid));
    provider.shutdown();
    assert!(!alive(pid));
}

#[test]
fn per_request_starts_and_stops_with_the_invocation() {
    let provider = start(json!({ "py": python_stdio(json!({"lifecycle": "per-request"})) }));
    let tools = provider.tools_for("a").unwrap();
    let first = pid_of(&tools);
    assert_eq!(provider.session_pids("a"), vec![("py".to_string(), first)]);
    provider.invocation_finished("a");
    assert!(!alive(first), "per-request server outlived its invocation");
    let tools = provider.tools_for("a").unwrap();
    let second = pid_of(&tools);
    assert_ne!(first, second);
    provider.invocation_finished("a");
    assert!(!alive(second));
}

// ---- start-up ------------------------------------------------------------------------------

#[test]
fn duplicate_tool_names_are_a_start_up_error() {
    let err = start_err(json!({ "a": python_stdio(json!({})), "b": python_stdio(json!({})) }));
    assert_eq!(
        err,
        McpStartError::DuplicateTool {
            tool: "add".into(),
            first_server: "a".into(),
            second_server: "b".into()
        }
    );
    // `-` and `_` count as equal.
    let err = start_err(json!({
        "a": raw_stdio("paged", json!({"prefix": "x-y"})),
        "b": raw_stdio("paged", json!({"prefix": "x_y"})),
    }));
    assert_eq!(
        err.to_string(),
        "duplicate tool name 'x_y_t00': offered by MCP servers 'a' and 'b' (set `prefix` or `tool_filters` on one of them)"
    );
    // Prefixes make them distinct.
    let provider = start(json!({ "a": python_stdio(json!({})), "b": python_stdio(json!({"prefix": "b"})) }));
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(text_of(&call(&tools, "b_add", json!({"a": 1, "b": 1}))), "2");
    assert_eq!(text_of(&call(&tools, "add", json!({"a": 2, "b": 2}))), "4");
}

#[test]
fn failing_servers_and_continue_on_error() {
    let dir = TempDir::new("mcp-late");
    let late = dir.path().join("late-server");
    let err = start_err(json!({ "gone": {"command": late.display().to_string()} }));
    assert_eq!(
        err.to_string(),
        format!(
            "MCP server 'gone' failed to start: cannot start `{}`: No such file or directory (os error 2)",
            late.display()
        )
    );
    // The chain goes down to the OS error of the spawn.
    let mut cause: &dyn std::error::Error = &err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    assert!(cause.downcast_ref::<std::io::Error>().is_some(), "{cause:?}");
    // With continue_on_error the runtime starts without it, and picks it up once it works.
    let provider = start(json!({
        "gone": {"command": late.display().to_string(), "continue_on_error": true},
        "py": python_stdio(json!({"prefix": "p"})),
    }));
    let tools = provider.tools_for("s").unwrap();
    assert!(tools.iter().all(|t| t.spec().name.starts_with("p_")));
    provider.invocation_finished("s");
    std::fs::write(
        &late,
        format!(
            "#!/bin/sh\nexec '{}' '{}' stdio\n",
            peer_python().display(),
            peer_script("mcp_server.py")
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&late).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&late, perms).unwrap();
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(text_of(&call(&tools, "add", json!({"a": 3, "b": 4}))), "7");
}

#[test]
fn silent_and_garbage_servers_fail_start_up_instead_of_hanging() {
    let err = start_err(json!({ "mute": raw_stdio("silent", json!({"startup_timeout": 1})) }));
    assert_eq!(
        err.to_string(),
        "MCP server 'mute' failed to start: Request 'initialize' timed out"
    );
    // Only non-JSON on stdout: the connection is dropped well before the 60 s start-up timeout.
    let err = start_err(json!({ "junk": raw_stdio("garbage", json!({})) }));
    assert_eq!(
        err.to_string(),
        "MCP server 'junk' failed to start: Connection closed: server wrote more than 20 lines on stdout \
         that are not JSON-RPC"
    );
    // A server that exits at once: the error says how it ended.
    let err =
        start_err(json!({ "quits": {"command": "sh", "args": ["-c", "echo no such module >&2; exit 3"]} }));
    assert_eq!(
        err.to_string(),
        "MCP server 'quits' failed to start: Connection closed: server closed its stdout; it exited (exit status: 3)"
    );
}

// ---- the raw server: pagination, JSON-RPC errors, banner, server ping, CRLF ------------------

#[test]
fn pagination_jsonrpc_errors_and_a_chatty_server() {
    let provider = start(json!({ "raw": raw_stdio("paged", json!({})) }));
    let tools = provider.tools_for("s").unwrap();
    let names: Vec<_> = tools.iter().map(|t| t.spec().name.clone()).collect();
    let mut expected: Vec<String> = (0..25).map(|i| format!("t{i:02}")).collect();
    expected.push("vanished".into());
    assert_eq!(names, expected);
    assert_eq!(find(&tools, "t03").spec().description, "Tool which performs t03");
    assert_eq!(find(&tools, "t24").spec().description, "Tool number 24");
    assert_eq!(
        stored(&call(&tools, "t05", json!({}))),
        r#"{"status":"success","toolUseId":"call_t05","content":[{"text":"called t05"}],"metadata":{"io.modelcontextprotocol/serverInfo":{"name":"raw","version":"0.1"}},"isError":false}"#
    );
    // Unknown tool, low-level server form: a JSON-RPC error.
    assert_eq!(
        stored(&call(&tools, "vanished", json!({}))),
        r#"{"status":"error","toolUseId":"call_vanished","content":[{"text":"Tool execution failed: Unknown tool: vanished"}]}"#
    );
}

// ---- Streamable HTTP -----------------------------------------------------------------------

#[test]
fn python_http_sse_and_json_modes() {
    for mode in ["http-sse", "http-json"] {
        let peer = HttpPeer::python(mode);
        let provider = start(
            json!({ "py": {"url": peer.url, "headers": {"X-Test": "${MCP_TEST_SECRET}"}, "call_timeout": 20} }),
        );
        let tools = provider.tools_for("s").unwrap();
        check_python_server(&tools);
        assert_eq!(text_of(&call(&tools, "ping_client", json!({}))), "pong", "{mode}");
        // The server's pid: the HTTP server itself.
        assert_eq!(pid_of(&tools), peer.child.id(), "{mode}");
        assert_eq!(provider.session_pids("s"), vec![], "{mode}");
        // list_changed arrives on the GET stream, independently of the call's reply.
        assert_eq!(text_of(&call(&tools, "grow", json!({}))), "grown");
        provider.invocation_finished("s");
        let mut grown = Vec::new();
        wait_until("the extra tool to be listed", Duration::from_secs(30), || {
            grown = provider.tools_for("s").unwrap();
            provider.invocation_finished("s");
            grown.iter().any(|t| t.spec().name == "extra")
        });
        assert_eq!(text_of(&call(&grown, "extra", json!({}))), "extra!");
    }
}

#[test]
fn http_session_expiry_reinitializes_once() {
    let peer = HttpPeer::python("http-json");
    let port = peer.port();
    let provider = start(json!({ "py": {"url": peer.url, "lifecycle": "shared"} }));
    let tools = provider.tools_for("s").unwrap();
    assert_eq!(pid_of(&tools), peer.child.id());
    // A restarted server knows nothing of our session: 404, then a new session.
    drop(peer);
    let peer = HttpPeer::python_on("http-json", port);
    assert_eq!(pid_of(&tools), peer.child.id());
    assert_eq!(text_of(&call(&tools, "add", json!({"a": 5, "b": 6}))), "11");
}

#[test]
fn http_server_dying_mid_call_gives_an_error_result() {
    let peer = HttpPeer::python("http-sse");
    let provider = start(json!({ "py": {"url": peer.url} }));
    let tools = provider.tools_for("s").unwrap();
    let result = call(&tools, "crash", json!({}));
    assert_eq!(result.status, agentcore_rt::types::ToolStatus::Error);
    assert!(
        text_of(&result).starts_with("Tool execution failed: "),
        "{}",
        stored(&result)
    );
    drop(peer);
}

// ---- npm server-everything -----------------------------------------------------------------

fn check_everything(tools: &[Arc<dyn Tool>]) {
    let names: Vec<_> = tools.iter().map(|t| t.spec().name.clone()).collect();
    for name in [
        "echo",
        "get-sum",
        "get-structured-content",
        "get-tiny-image",
        "trigger-long-running-operation",
    ] {
        assert!(names.contains(&name.to_string()), "{name} missing from {names:?}");
    }
    let info = r#""metadata":{"io.modelcontextprotocol/serverInfo":{"name":"mcp-servers/everything","title":"Everything Reference Server","version":"2.0.0"}}"#;
    // TS servers leave out isError on success; the stored result still says false.
    assert_eq!(
        stored(&call(tools, "echo", json!({"message": "hi"}))),
        format!(
            r#"{{"status":"success","toolUseId":"call_echo","content":[{{"text":"Echo: hi"}}],{info},"isError":false}}"#
        )
    );
    let structured = serde_json::to_value(call(
        tools,
        "get-structured-content",
        json!({"location": "New York"}),
    ))
    .unwrap();
    assert_eq!(
        structured["structuredContent"],
        json!({"temperature": 33, "conditions": "Cloudy", "humidity": 82})
    );
    // The TypeScript SDK's error form: an isError result with the "MCP error -32602: ..." text
    // (the same form it uses for an unknown tool).
    let bad = serde_json::to_value(call(tools, "echo", json!({}))).unwrap();
    assert_eq!(bad["status"], json!("error"));
    assert_eq!(bad["isError"], json!(true));
    assert!(
        bad["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("MCP error -32602: Input validation error")
    );
    // Image content, against the recorded transcript's bytes.
    let recorded = fixture_json("vectors/mcp-everything-content.json");
    let png = recorded["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| {
            let content = t["msg"]["result"]["content"].as_array()?;
            content
                .iter()
                .find(|c| c["type"] == "image")
                .map(|c| c["data"].as_str().unwrap().to_string())
        })
        .unwrap();
    let image = serde_json::to_value(call(tools, "get-tiny-image", json!({}))).unwrap();
    assert_eq!(
        image["content"][1],
        json!({"image": {"format": "png", "source": {"bytes": {"__bytes_encoded__": true, "data": png}}}})
    );
    let long = call(
        tools,
        "trigger-long-running-operation",
        json!({"duration": 0.2, "steps": 2}),
    );
    assert_eq!(
        long.status,
        agentcore_rt::types::ToolStatus::Success,
        "{}",
        stored(&long)
    );
}

#[test]
fn everything_stdio() {
    let provider = start(
        json!({ "everything": {"command": "node", "args": [everything_path(), "stdio"], "startup_timeout": 60} }),
    );
    let tools = provider.tools_for("s").unwrap();
    check_everything(&tools);
}

#[test]
fn everything_streamable_http() {
    let peer = HttpPeer::everything();
    let provider = start(json!({ "everything": {"url": peer.url, "startup_timeout": 60} }));
    let tools = provider.tools_for("s").unwrap();
    check_everything(&tools);
}
