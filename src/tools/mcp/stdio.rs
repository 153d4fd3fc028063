//! The stdio transport: the server is a child process speaking newline-delimited JSON-RPC on
//! stdin/stdout, logging on stderr.
//!
//! Three threads per server: a writer (so a server that stops reading stdin can block only that
//! thread, never a caller, who waits with a timeout), a stdout reader that routes messages, and a
//! stderr reader that turns lines into log lines, truncated and rate-limited, and always keeps
//! draining so a chatty server never blocks on a full pipe.
//!
//! The child runs without a shell, in its own process group, with the environment the Python
//! SDK gives it: only HOME, LOGNAME, PATH, SHELL, TERM and USER are inherited (read with the
//! config, see `Transport::Stdio`), plus the configured `env`. Stopping it follows the SDK and the spec: close stdin, wait, SIGTERM the
//! group, wait, SIGKILL the group, and reap it, so neither `npx`/`uvx` grandchildren nor zombies
//! are left behind. If the runtime itself is killed, the server sees EOF on stdin; in a
//! container, the runtime is PID 1 and its death ends everything anyway. (PR_SET_PDEATHSIG is
//! not used: it fires when the *thread* that spawned the child exits, and our spawning threads
//! are workers that come and go.)

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::dispatch::Dispatch;
use super::error::McpError;
use super::jsonrpc::{self, MAX_MESSAGE_BYTES};
use super::log::{Level, log};
use crate::sync::lock;

/// After stdin closes, how long a server may take to exit on its own (Python SDK: 2 s).
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// After SIGTERM, how long before SIGKILL (Python SDK: 2 s).
const TERM_GRACE: Duration = Duration::from_secs(2);
/// After SIGKILL, how long we wait to reap before giving up on an unkillable process.
const KILL_REAP: Duration = Duration::from_secs(2);

/// Non-JSON lines on stdout we tolerate (start-up banners) before declaring the server broken.
const MAX_GARBAGE_LINES: usize = 20;

/// Stderr lines longer than this are cut.
const STDERR_LINE_MAX: usize = 2000;
/// Stderr lines logged in a burst, and per second after it; the rest are counted and dropped.
const STDERR_BURST: f64 = 200.0;
const STDERR_PER_SECOND: f64 = 50.0;

type Writer = Arc<Mutex<Option<mpsc::Sender<Vec<u8>>>>>;

/// A running server process.
pub(crate) struct StdioConn {
    server: String,
    pid: u32,
    child: Arc<Mutex<Option<Child>>>,
    writer: Writer,
}

impl StdioConn {
    /// Spawns `command args` with exactly the environment `env` (later pairs win) and starts
    /// its reader and writer threads.
    pub(crate) fn spawn<'a>(
        server: &str,
        command: &str,
        args: &[String],
        env: impl Iterator<Item = &'a (String, String)>,
        cwd: Option<&Path>,
        dispatch: Arc<Dispatch>,
    ) -> Result<StdioConn, McpError> {
        let mut cmd = Command::new(command);
        cmd.args(args).env_clear();
        cmd.envs(env.map(|(k, v)| (k, v)));
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            let place = cwd.map(|c| format!(" in {}", c.display())).unwrap_or_default();
            McpError::caused(format!("cannot start `{command}`{place}: {e}"), e)
        })?;
        let pid = child.id();
        log(Level::Info, server, &format!("started `{command}` (pid {pid})"));
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            kill_and_reap(server, &mut child);
            return Err(McpError::other("child process has no stdio pipes"));
        };
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let conn = StdioConn {
            server: server.to_string(),
            pid,
            child: Arc::new(Mutex::new(Some(child))),
            writer: Arc::new(Mutex::new(Some(tx))),
        };
        let started = spawn_thread(format!("mcp-{server}-in"), move || write_loop(stdin, rx))
            .and_then(|_| {
                let (dispatch, writer, child) = (dispatch.clone(), conn.writer.clone(), conn.child.clone());
                spawn_thread(format!("mcp-{server}-out"), move || {
                    read_loop(stdout, &dispatch, &writer, &child)
                })
            })
            .and_then(|_| {
                let server = server.to_string();
                spawn_thread(format!("mcp-{server}-err"), move || stderr_loop(stderr, &server))
            });
        if let Err(e) = started {
            conn.close();
            dispatch.close();
            return Err(McpError::caused(format!("cannot start I/O threads: {e}"), e));
        }
        Ok(conn)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Queues one message for stdin.
    pub(crate) fn send(&self, message: &Value) -> Result<(), McpError> {
        let mut line =
            serde_json::to_vec(message).map_err(|e| McpError::caused(format!("cannot encode: {e}"), e))?;
        line.push(b'\n');
        let writer = lock(&self.writer);
        match writer.as_ref() {
            Some(tx) => tx.send(line).map_err(|_| McpError::Closed),
            None => Err(McpError::Closed),
        }
    }

    /// Stops the server: stdin closed, then SIGTERM, then SIGKILL to its process group, each
    /// after a grace period; always reaped. Idempotent.
    pub(crate) fn close(&self) {
        lock(&self.writer).take();
        let mut guard = lock(&self.child);
        let Some(child) = guard.as_mut() else { return };
        let status = match wait_exit(child, EXIT_GRACE) {
            Some(status) => Some(status),
            None => {
                signal_group(self.pid, libc::SIGTERM);
                match wait_exit(child, TERM_GRACE) {
                    Some(status) => Some(status),
                    None => {
                        signal_group(self.pid, libc::SIGKILL);
                        wait_exit(child, KILL_REAP)
                    }
                }
            }
        };
        match status {
            Some(status) => {
                // Descendants that outlived the leader (a daemonised grandchild) go too. The
                // group id cannot be reused while any member lives, so this hits only them.
                signal_group(self.pid, libc::SIGKILL);
                log(
                    Level::Info,
                    &self.server,
                    &format!("stopped (pid {}, {status})", self.pid),
                );
                *guard = None;
            }
            None => log(
                Level::Error,
                &self.server,
                &format!("pid {} survived SIGKILL; abandoning it", self.pid),
            ),
        }
    }
}

impl Drop for StdioConn {
    /// A connection dropped without `close` (a replaced or leaked instance) still leaves no
    /// process behind: kill at once rather than block a dropping thread on grace periods.
    fn drop(&mut self) {
        lock(&self.writer).take();
        let mut guard = lock(&self.child);
        if let Some(child) = guard.as_mut() {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                signal_group(self.pid, libc::SIGKILL);
                let _ = wait_exit(child, KILL_REAP);
            }
            signal_group(self.pid, libc::SIGKILL);
            *guard = None;
        }
    }
}

fn spawn_thread(name: String, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new().name(name).spawn(body).map(|_| ())
}

fn write_loop(mut stdin: ChildStdin, rx: mpsc::Receiver<Vec<u8>>) {
    for line in rx {
        if stdin.write_all(&line).and_then(|()| stdin.flush()).is_err() {
            break;
        }
    }
    // Dropping stdin here is the server's EOF.
}

fn read_loop(stdout: impl Read, dispatch: &Dispatch, writer: &Writer, child: &Mutex<Option<Child>>) {
    let server = dispatch.server().to_string();
    let reply = |message: Value| {
        if let Ok(mut line) = serde_json::to_vec(&message) {
            line.push(b'\n');
            if let Some(tx) = lock(writer).as_ref() {
                let _ = tx.send(line);
            }
        }
    };
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::new();
    let mut garbage = 0usize;
    // `Some(reason)`: the server broke the protocol and is killed; `None`: stdout just ended.
    let (ended, fatal) = loop {
        match read_line_limited(&mut reader, &mut line, MAX_MESSAGE_BYTES) {
            Ok(LineRead::Eof) => break ("server closed its stdout".to_string(), false),
            Ok(LineRead::TooLong) => {
                break (
                    format!("server wrote a stdout line longer than {MAX_MESSAGE_BYTES} bytes"),
                    true,
                );
            }
            Ok(LineRead::Line) => {}
            Err(e) => break (format!("reading the server's stdout failed: {e}"), false),
        }
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match jsonrpc::parse(text) {
            Ok(messages) => {
                for message in messages {
                    dispatch.handle(message, &reply);
                }
            }
            Err(e) => {
                garbage += 1;
                let shown: String = String::from_utf8_lossy(text).chars().take(200).collect();
                log(
                    Level::Warn,
                    &server,
                    &format!("ignoring a line on stdout that is not JSON-RPC ({e}): {shown}"),
                );
                if garbage > MAX_GARBAGE_LINES {
                    break (
                        format!(
                            "server wrote more than {MAX_GARBAGE_LINES} lines on stdout that are not JSON-RPC"
                        ),
                        true,
                    );
                }
            }
        }
    };
    drop(reader);
    // `close` takes the writer before it stops the process: an end of stdout after that is the
    // stop we asked for (and `close` logs it), not the server going away on its own.
    let stopped_by_us = lock(writer).is_none();
    let reason = match reap_after_eof(&server, child, fatal) {
        Some(status) if !fatal => format!("{ended}; it exited ({status})"),
        _ => ended,
    };
    let level = match (fatal, stopped_by_us) {
        (true, _) => Level::Error,
        (false, true) => Level::Debug,
        (false, false) => Level::Warn,
    };
    log(level, &server, &reason);
    // After reaping, so a start-up failure can say how the process ended.
    dispatch.close_with(reason);
}

/// After stdout ended: reap the process if it is exiting (a crash), so it does not linger as a
/// zombie until the next use; kill it if it broke the protocol. Returns its exit status.
fn reap_after_eof(server: &str, child: &Mutex<Option<Child>>, kill: bool) -> Option<ExitStatus> {
    // `close` may hold the lock while it stops the process; then it reaps, not us.
    let Ok(mut guard) = child.try_lock() else {
        return None;
    };
    let process = guard.as_mut()?;
    if kill {
        kill_and_reap(server, process);
        *guard = None;
        return None;
    }
    let status = wait_exit(process, Duration::from_millis(500))?;
    // Its group may hold children that outlived it (see `close`).
    signal_group(process.id(), libc::SIGKILL);
    *guard = None;
    Some(status)
}

fn kill_and_reap(server: &str, child: &mut Child) {
    signal_group(child.id(), libc::SIGKILL);
    if wait_exit(child, KILL_REAP).is_none() {
        log(
            Level::Error,
            server,
            &format!("pid {} survived SIGKILL; abandoning it", child.id()),
        );
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

/// Sends `signal` to the process group led by `pgid` (spawned with `process_group(0)`).
#[allow(unsafe_code)]
fn signal_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // kill(0) would hit our own group and kill(-1) every process we may signal.
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours; the negative pid
    // addresses only the process group created for this child.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

enum LineRead {
    Line,
    Eof,
    TooLong,
}

/// Reads one `\n`-terminated line (without the `\n`) of at most `max` bytes into `buf`.
fn read_line_limited(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (pos, true),
            None => (available.len(), false),
        };
        if buf.len() + take > max {
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(&available[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(LineRead::Line);
        }
    }
}

/// Reads one line keeping at most `max` bytes (the rest is skipped). `None` at EOF.
fn read_line_truncated(reader: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<bool>> {
    buf.clear();
    let mut truncated = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(truncated));
        }
        any = true;
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(pos) => (pos, true),
            None => (available.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        if take > room {
            truncated = true;
        }
        buf.extend_from_slice(&available[..take.min(room)]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Some(truncated));
        }
    }
}

/// Token bucket for stderr lines.
struct RateLimit {
    tokens: f64,
    last: Instant,
    dropped: u64,
}

impl RateLimit {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * STDERR_PER_SECOND;
        self.tokens = (self.tokens + refill).min(STDERR_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

fn stderr_loop(stderr: impl Read, server: &str) {
    let mut reader = BufReader::with_capacity(16 * 1024, stderr);
    let mut line = Vec::new();
    let mut limit = RateLimit {
        tokens: STDERR_BURST,
        last: Instant::now(),
        dropped: 0,
    };
    while let Ok(Some(truncated)) = read_line_truncated(&mut reader, &mut line, STDERR_LINE_MAX) {
        if !limit.allow() {
            continue;
        }
        if limit.dropped > 0 {
            log(
                Level::Warn,
                server,
                &format!("stderr: {} lines dropped (rate limit)", limit.dropped),
            );
            limit.dropped = 0;
        }
        let text = line.strip_suffix(b"\r").unwrap_or(&line);
        let mut message = format!("stderr: {}", String::from_utf8_lossy(text));
        if truncated {
            message.push_str(" [truncated]");
        }
        log(Level::Info, server, &message);
    }
    if limit.dropped > 0 {
        log(
            Level::Warn,
            server,
            &format!("stderr: {} lines dropped (rate limit)", limit.dropped),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_lines() {
        let mut r = BufReader::with_capacity(4, &b"ab\r\ncdefgh\nlast"[..]);
        let mut buf = Vec::new();
        assert!(matches!(
            read_line_limited(&mut r, &mut buf, 5).unwrap(),
            LineRead::Line
        ));
        assert_eq!(buf, b"ab\r");
        assert!(matches!(
            read_line_limited(&mut r, &mut buf, 5).unwrap(),
            LineRead::TooLong
        ));
    }

    #[test]
    fn truncated_lines() {
        let mut r = BufReader::with_capacity(3, &b"abcdefgh\nxy\nz"[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_truncated(&mut r, &mut buf, 4).unwrap(), Some(true));
        assert_eq!(buf, b"abcd");
        assert_eq!(read_line_truncated(&mut r, &mut buf, 4).unwrap(), Some(false));
        assert_eq!(buf, b"xy");
        assert_eq!(read_line_truncated(&mut r, &mut buf, 4).unwrap(), Some(false));
        assert_eq!(buf, b"z");
        assert_eq!(read_line_truncated(&mut r, &mut buf, 4).unwrap(), None);
    }
}
