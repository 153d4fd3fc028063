//! Structured logs: one JSON object per line on stdout.
//!
//! Lines are formatted by the caller and handed to one writer thread over a bounded queue, so a
//! coroutine never blocks on a slow or full stdout pipe. When the queue is full the line is
//! dropped and counted; the count is reported with the next line that gets through.
//! Never pass secrets (Authorization, API keys, custom headers) as fields.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use crate::clock::Civil;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Diagnostics, off unless `LOG_LEVEL=debug`.
    Debug,
    /// Normal operation.
    Info,
    /// Something went wrong but the server carries on.
    Warn,
    /// A request or component failed.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

/// Lowest level written: 0 debug, 1 info, 2 warning, 3 error, 4 nothing.
static MIN_LEVEL: AtomicU8 = AtomicU8::new(1);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static SINK: OnceLock<SyncSender<Msg>> = OnceLock::new();
const QUEUE_LINES: usize = 8192;

/// Sets the lowest level written; `None` silences the log (the binary reads `LOG_LEVEL`).
pub fn set_min_level(level: Option<Level>) {
    MIN_LEVEL.store(level.map_or(4, |l| l as u8), Ordering::Relaxed);
}

/// Parses a `LOG_LEVEL` value: `debug`, `info`, `warning`/`warn`, `error`, `off`.
pub fn parse_level(s: &str) -> Result<Option<Level>, String> {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Ok(Some(Level::Debug)),
        "info" => Ok(Some(Level::Info)),
        "warning" | "warn" => Ok(Some(Level::Warn)),
        "error" => Ok(Some(Level::Error)),
        "off" | "none" => Ok(None),
        _ => Err("not a log level (debug, info, warning, error, off)".into()),
    }
}

/// True when debug lines are written.
pub fn debug_enabled() -> bool {
    enabled(Level::Debug)
}

fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// A log line under construction: `Line::new(Level::Info, "msg").str("k", v).num("n", 1).emit()`.
#[must_use = "a log line does nothing until emitted"]
pub struct Line {
    buf: String,
    level: Level,
}

impl Line {
    /// Starts a line with timestamp, level, message and logger name.
    pub fn new(level: Level, message: &str) -> Line {
        let mut buf = String::with_capacity(192);
        buf.push_str("{\"timestamp\":\"");
        buf.push_str(&Civil::now().iso_millis_z());
        buf.push_str("\",\"level\":\"");
        buf.push_str(level.as_str());
        buf.push_str("\",\"message\":");
        push_json_str(&mut buf, message);
        buf.push_str(",\"logger\":\"agentcore_rt\"");
        Line { buf, level }
    }

    /// Adds a string field.
    pub fn str(mut self, key: &str, value: &str) -> Line {
        self.key(key);
        push_json_str(&mut self.buf, value);
        self
    }

    /// Adds a string field when `value` is `Some` and not empty.
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Line {
        match value {
            Some(v) if !v.is_empty() => self.str(key, v),
            _ => self,
        }
    }

    /// Adds an integer field.
    pub fn num(mut self, key: &str, value: impl Into<i128>) -> Line {
        self.key(key);
        let _ = write!(self.buf, "{}", value.into());
        self
    }

    /// Adds a floating-point field (e.g. milliseconds with a fraction).
    pub fn float(mut self, key: &str, value: f64) -> Line {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.buf, "{value:.3}");
        } else {
            self.buf.push_str("null");
        }
        self
    }

    /// Adds a boolean field.
    pub fn bool(mut self, key: &str, value: bool) -> Line {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    fn key(&mut self, key: &str) {
        self.buf.push(',');
        push_json_str(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Queues the line for stdout (dropped when `Debug` and debug is off).
    pub fn emit(mut self) {
        if !enabled(self.level) {
            return;
        }
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            self = self.num("droppedLogLines", dropped);
        }
        self.buf.push_str("}\n");
        let sink = SINK.get_or_init(start_writer);
        match sink.try_send(Msg::Line(self.buf)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                DROPPED.fetch_add(dropped + 1, Ordering::Relaxed);
            }
        }
    }
}

/// Shorthand: an info line with just a message.
pub fn info(message: &str) -> Line {
    Line::new(Level::Info, message)
}

/// Shorthand: a warning line.
pub fn warn(message: &str) -> Line {
    Line::new(Level::Warn, message)
}

/// Shorthand: an error line.
pub fn error(message: &str) -> Line {
    Line::new(Level::Error, message)
}

/// Shorthand: a debug line.
pub fn debug(message: &str) -> Line {
    Line::new(Level::Debug, message)
}

/// Blocks (up to 2 s) until every line queued so far has been written; used before exit.
pub fn flush() {
    if let Some(sink) = SINK.get() {
        let (ack, done) = sync_channel::<()>(1);
        if sink.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(std::time::Duration::from_secs(2));
        }
    }
}

enum Msg {
    Line(String),
    Flush(SyncSender<()>),
}

fn start_writer() -> SyncSender<Msg> {
    let (tx, rx) = sync_channel::<Msg>(QUEUE_LINES);
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(rx));
    if spawned.is_err() {
        // Without a writer thread every line is dropped; nothing else can be done about it.
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    tx
}

fn write_lines(rx: Receiver<Msg>) {
    let stdout = std::io::stdout();
    // Write everything already queued, then flush once: one syscall per burst, not per line.
    // stdout's lock is held per burst only, so other code may still print.
    while let Ok(mut msg) = rx.recv() {
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
        loop {
            match msg {
                Msg::Line(line) => {
                    let _ = out.write_all(line.as_bytes());
                }
                Msg::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.try_send(());
                }
            }
            match rx.try_recv() {
                Ok(next) => msg = next,
                Err(_) => break,
            }
        }
        let _ = out.flush();
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_one_json_object() {
        let line = Line::new(Level::Info, "hi \"there\"\n")
            .str("k", "v")
            .num("n", 3)
            .bool("b", true);
        let mut buf = line.buf.clone();
        buf.push('}');
        let v: serde_json::Value = serde_json::from_str(&buf).unwrap();
        assert_eq!(v["message"], "hi \"there\"\n");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["n"].as_i64(), Some(3));
        assert_eq!(v["b"], true);
    }
}
