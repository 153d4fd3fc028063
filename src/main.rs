//! The `agentcore-rt` binary: serve (default), `healthcheck`, `--help`, `--version`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use std::error::Error;
use std::sync::Arc;

use agentcore_rt::agent::Agent;
use agentcore_rt::aws::{DefaultCredentialsChain, ProvideCredentials};
use agentcore_rt::config::{AgentConfig, McpServerSettings, Protocol, ServerConfig};
use agentcore_rt::config::{ExporterChoice, TelemetryConfig};
use agentcore_rt::protocols::a2a::{A2aServer, Card};
use agentcore_rt::protocols::mcp::agent_tools;
use agentcore_rt::telemetry::console::ConsoleSink;
use agentcore_rt::telemetry::export::{ExportError, OtlpExporter};
use agentcore_rt::telemetry::{SpanSink, Tracer};
use agentcore_rt::{App, logging as log};

const HELP: &str = "\
agentcore-rt: an AWS Bedrock AgentCore-compatible agent runtime

USAGE:
    agentcore-rt [serve] [--protocol P]  serve the agent (default); GET /ping on every protocol
    agentcore-rt healthcheck [--protocol P]
                                         GET /ping on 127.0.0.1:<the port>; exit 0 when healthy
    agentcore-rt --help                  this text
    agentcore-rt --version               the version

PROTOCOLS (--protocol or PROTOCOL; the flag wins):
    http   POST /invocations, /ws on port 8080 (default)
    mcp    an MCP server: Streamable HTTP on POST /mcp, port 8000
    a2a    an A2A agent: JSON-RPC 2.0 on /, port 9000 (A2A_PORT overrides it, PORT does not)
    agui   AG-UI events on /invocations and /ws, port 8080

Configuration is read from the environment; see the README for every variable:
  OPENAI_API_KEY, OPENAI_BASE_URL, MODEL_ID, MODEL_PARAMS, SYSTEM_PROMPT, SESSION_DIR,
  WINDOW_SIZE, MAX_CYCLES, STRUCTURED_OUTPUT_SCHEMA, MCP_CONFIG, PROTOCOL, EVENT_FORMAT, PORT, A2A_PORT,
  HOST, WORKER_THREADS, MAX_BODY_BYTES, ...
";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let protocol = match take_protocol(&mut args) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("agentcore-rt: {why}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    // `--protocol` is PROTOCOL given on the command line: it wins over the environment's.
    let env = move |name: &str| match (&protocol, name) {
        (Some(p), "PROTOCOL") => Some(p.clone()),
        _ => std::env::var(name).ok(),
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["serve"] => serve(&env),
        ["healthcheck"] => healthcheck(&env),
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

/// Removes `--protocol P` / `--protocol=P` from `args` and returns `P` (checked later, with
/// the rest of the configuration, so that its error names the variable).
fn take_protocol(args: &mut Vec<String>) -> Result<Option<String>, String> {
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        if let Some(value) = args[i].strip_prefix("--protocol=") {
            found = Some(value.to_string());
            args.remove(i);
        } else if args[i] == "--protocol" {
            if i + 1 >= args.len() {
                return Err("--protocol needs a value (http, mcp, a2a or agui)".into());
            }
            found = Some(args.remove(i + 1));
            args.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(found)
}

/// A start-up failure: logged, printed, and the process exits with 2.
fn startup_error(error: &dyn Error) -> ExitCode {
    let message = error_chain(error);
    log::error("cannot start").str("error", &message).emit();
    log::flush();
    eprintln!("agentcore-rt: {message}");
    ExitCode::from(2)
}

/// `error` and every cause under it, as one line: `top: cause: root cause`. A cause whose text
/// the line already holds (many errors quote their cause in their own message) is not repeated.
fn error_chain(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

/// An error that is only a message (a bad LOG_LEVEL).
#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}

fn serve(env_var: &dyn Fn(&str) -> Option<String>) -> ExitCode {
    // The library only emits through the `log` facade; the binary is what writes JSON lines.
    // Installed at `info` first so an invalid LOG_LEVEL is itself logged.
    if let Err(e) = log::JsonLogger::new().install(Some(log::Level::Info)) {
        eprintln!("agentcore-rt: cannot install the logger: {e}");
        return ExitCode::from(2);
    }
    install_panic_logger();
    match env_var("LOG_LEVEL")
        .filter(|l| !l.trim().is_empty())
        .map(|l| log::parse_level(l.trim()))
    {
        None => {}
        Some(Ok(level)) => log::set_min_level(level),
        Some(Err(why)) => return startup_error(&Message(format!("invalid LOG_LEVEL: {why}"))),
    }
    let config = match ServerConfig::from_env(env_var) {
        Ok(c) => c,
        Err(e) => return startup_error(&e),
    };
    let agent_config = match AgentConfig::from_env(env_var) {
        Ok(c) => c,
        Err(e) => return startup_error(&e),
    };
    let telemetry = match TelemetryConfig::from_env(env_var) {
        Ok(c) => c,
        Err(e) => return startup_error(&e),
    };
    let (tracer, span_sink) = match tracer_from(telemetry, env_var) {
        Ok(t) => t,
        Err(e) => return startup_error(&e),
    };
    // MCP servers are probed in the background: the port listens (and /ping answers) at once,
    // invocations wait for the tools, and a probe that fails still stops the process.
    let (agent, startup) = match Agent::from_config_in_background(&agent_config, env_var) {
        Ok(Some((mut agent, startup))) => {
            agent.set_tracer(tracer.clone());
            (Some(Arc::new(agent)), startup)
        }
        Ok(None) => (None, None),
        Err(e) => return startup_error(&e),
    };
    if let Some(startup) = startup {
        let watcher = std::thread::Builder::new().name("startup".into()).spawn(move || {
            if let Err(e) = startup.wait() {
                // Logged and printed as any start-up failure; the exit code is that one's (2).
                let _ = startup_error(&e);
                std::process::exit(2);
            }
        });
        if let Err(e) = watcher {
            return startup_error(&e);
        }
    }
    let addr = config.addr;
    let protocol = config.protocol;
    let drain_timeout = config.drain_timeout;
    let mut app = App::new();
    app.config(config);
    app.tracer(tracer);
    if let Some(agent) = &agent {
        let agent = Arc::clone(agent);
        app.on_shutdown(move || agent.shutdown());
    }
    match protocol {
        Protocol::Mcp => {
            let settings = match McpServerSettings::from_env(env_var) {
                Ok(s) => s,
                Err(e) => return startup_error(&e),
            };
            app.mcp(agent_tools::server(agent, &settings));
        }
        Protocol::A2a => {
            app.a2a(A2aServer::for_agent(Card::from_env(env_var), agent));
        }
        _ => agentcore_rt::protocols::install_agent(&mut app, agent),
    }
    let served = app.run(addr);
    // After the drain, the spans the last requests ended are flushed: for at most
    // DRAIN_TIMEOUT, and 5 s, so that the default drain (10 s) and the flush together fit
    // AgentCore's 15 s of termination grace.
    if let Some(sink) = span_sink {
        sink.shutdown(drain_timeout.min(Duration::from_secs(5)));
        // The exporter's last report is logged after the server's final flush: lines are
        // written by the logger's thread, which exit would cut short.
        log::flush();
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        // A protocol that cannot be mounted is a start-up failure like a bad setting.
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => startup_error(&e),
        Err(e) => {
            let message = error_chain(&e);
            log::error("server failed").str("error", &message).emit();
            log::flush();
            eprintln!("agentcore-rt: {message}");
            ExitCode::from(1)
        }
    }
}

/// The tracer and its sink from the telemetry settings: spans go to the console exporter, the
/// OTLP exporter, or nowhere (then the tracer is disabled and costs nothing).
fn tracer_from(
    telemetry: TelemetryConfig,
    env_var: &dyn Fn(&str) -> Option<String>,
) -> Result<(Tracer, Option<Arc<dyn SpanSink>>), ExportError> {
    let TelemetryConfig { tracer, exporter } = telemetry;
    let sink: Option<Arc<dyn SpanSink>> = match exporter {
        ExporterChoice::Console => Some(Arc::new(ConsoleSink::new())),
        ExporterChoice::Otlp(otlp) => {
            // The chain is only asked when an export is signed (the X-Ray endpoint), and then
            // at each export: credentials that appear after start-up are picked up.
            let credentials: Arc<dyn ProvideCredentials> =
                Arc::new(DefaultCredentialsChain::from_env(env_var));
            Some(OtlpExporter::start_with_credentials(otlp, credentials)?)
        }
        ExporterChoice::Off => None,
    };
    Ok((Tracer::new(tracer, sink.clone()), sink))
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
fn healthcheck(env_var: &dyn Fn(&str) -> Option<String>) -> ExitCode {
    let port = match ServerConfig::from_env(env_var) {
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
