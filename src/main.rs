//! The `agentcore-rt` binary: serve (default), `healthcheck`, `--help`, `--version`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use agentcore_rt::agent::Agent;
use agentcore_rt::app::agent_entrypoint;
use agentcore_rt::config::{AgentConfig, ServerConfig};
use agentcore_rt::model::openai::OpenAiModel;
use agentcore_rt::session::FileSessionStore;
use agentcore_rt::structured::OutputSchema;
use agentcore_rt::tools::mcp::{McpToolProvider, load_config};
use agentcore_rt::{App, logging as log};

const HELP: &str = "\
agentcore-rt: an AWS Bedrock AgentCore-compatible agent runtime

USAGE:
    agentcore-rt [serve]      serve POST /invocations, GET /ping and /ws (default)
    agentcore-rt healthcheck  GET /ping on 127.0.0.1:$PORT; exit 0 when healthy
    agentcore-rt --help       this text
    agentcore-rt --version    the version

Configuration is read from the environment; see the README for every variable:
  OPENAI_API_KEY, OPENAI_BASE_URL, MODEL_ID, MODEL_PARAMS, SYSTEM_PROMPT, SESSION_DIR,
  WINDOW_SIZE, MAX_CYCLES, STRUCTURED_OUTPUT_SCHEMA, MCP_CONFIG, PORT, HOST,
  WORKER_THREADS, MAX_BODY_BYTES, ...
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => serve(),
        ["healthcheck"] => healthcheck(),
        ["-h" | "--help" | "help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["-V" | "--version" | "version"] => {
            println!("agentcore-rt {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("agentcore-rt: unknown arguments {other:?}\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A start-up failure: logged, printed, and the process exits with 2.
fn startup_error(message: &str) -> ExitCode {
    log::error("cannot start").str("error", message).emit();
    log::flush();
    eprintln!("agentcore-rt: {message}");
    ExitCode::from(2)
}

fn serve() -> ExitCode {
    install_panic_logger();
    match env_var("LOG_LEVEL")
        .filter(|l| !l.trim().is_empty())
        .map(|l| log::parse_level(l.trim()))
    {
        None => {}
        Some(Ok(level)) => log::set_min_level(level),
        Some(Err(why)) => return startup_error(&format!("invalid LOG_LEVEL: {why}")),
    }
    let config = match ServerConfig::from_env(&env_var) {
        Ok(c) => c,
        Err(e) => return startup_error(&e.to_string()),
    };
    let agent_config = match AgentConfig::from_env(&env_var) {
        Ok(c) => c,
        Err(e) => return startup_error(&e.to_string()),
    };
    let agent = match build_agent(&agent_config) {
        Ok(agent) => agent,
        Err(message) => return startup_error(&message),
    };
    let addr = config.addr;
    let mut app = App::new();
    app.config(config);
    if let Some(agent) = &agent {
        let agent = Arc::clone(agent);
        app.on_shutdown(move || agent.shutdown());
    }
    agent_entrypoint::install(&mut app, agent);
    match app.run(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error("server failed").str("error", &e.to_string()).emit();
            log::flush();
            eprintln!("agentcore-rt: {e}");
            ExitCode::from(1)
        }
    }
}

/// Builds the default entrypoint's agent; `None` when no model is configured.
fn build_agent(config: &AgentConfig) -> Result<Option<Arc<Agent>>, String> {
    let Some(model_config) = config.model.clone() else {
        log::warn(agent_entrypoint::NO_MODEL_MESSAGE).emit();
        return Ok(None);
    };
    let model_id = model_config.model_id.clone();
    let base_url = model_config.base_url.clone();
    let model = OpenAiModel::new(model_config).map_err(|e| format!("model configuration: {e}"))?;
    let mut builder = Agent::builder(Arc::new(model))
        .window_size(config.window_size)
        .max_cycles(config.max_cycles)
        .structured_output_max_attempts(config.structured_output_max_attempts)
        .session_store(FileSessionStore::new(&config.session_dir).with_fsync(config.session_fsync))
        .session_lock_wait(config.session_lock_wait);
    if let Some(prompt) = &config.system_prompt {
        builder = builder.system_prompt(prompt.clone());
    }
    if let Some(path) = &config.structured_output_schema {
        let invalid = |why: String| format!("invalid STRUCTURED_OUTPUT_SCHEMA={}: {why}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let schema: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let schema = OutputSchema::from_json_schema(schema).map_err(|e| invalid(e.to_string()))?;
        builder = builder.structured_output(schema);
    }
    if let Some(path) = &config.mcp_config {
        let started = std::time::Instant::now();
        let mcp =
            load_config(path, &env_var).map_err(|e| format!("invalid MCP_CONFIG={}: {e}", path.display()))?;
        for warning in &mcp.warnings {
            log::warn("MCP_CONFIG").str("warning", warning).emit();
        }
        let provider =
            McpToolProvider::start(mcp).map_err(|e| format!("MCP_CONFIG={}: {e}", path.display()))?;
        log::info("MCP servers ready")
            .float("startupMs", started.elapsed().as_secs_f64() * 1000.0)
            .emit();
        builder = builder.tool_provider(Arc::new(provider));
    }
    let agent = builder.build().map_err(|e| e.to_string())?;
    log::info("agent ready")
        .str("model", &model_id)
        .str(
            "baseUrl",
            &agentcore_rt::config::redact_url_credentials(&base_url),
        )
        .str("sessionDir", &config.session_dir.display().to_string())
        .emit();
    Ok(Some(Arc::new(agent)))
}

/// Panics are caught per request; this makes sure the message reaches the log as JSON.
fn install_panic_logger() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        log::error("panic")
            .str("panic", &message)
            .str("location", &location)
            .emit();
    }));
}

/// The scratch image's HEALTHCHECK: there is no shell or wget in it, so the binary asks itself.
fn healthcheck() -> ExitCode {
    let port = match ServerConfig::from_env(&env_var) {
        Ok(c) => c.addr.port(),
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::from(2);
        }
    };
    // 127.0.0.1, not localhost: a scratch image may have no /etc/hosts.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match ping(addr) {
        Ok(status) => {
            println!("{status}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::from(1)
        }
    }
}

fn ping(addr: SocketAddr) -> Result<String, String> {
    let timeout = Duration::from_secs(2);
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut response = Vec::with_capacity(512);
    stream
        .take(64 * 1024)
        .read_to_end(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let status_ok = text.starts_with("HTTP/1.1 200 ") || text.starts_with("HTTP/1.0 200 ");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let healthy = body.contains("\"status\":\"Healthy\"") || body.contains("\"status\":\"HealthyBusy\"");
    if status_ok && healthy {
        Ok(body.to_string())
    } else {
        Err(format!(
            "unexpected answer: {}",
            text.lines().next().unwrap_or("")
        ))
    }
}
