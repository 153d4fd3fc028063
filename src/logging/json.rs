//! [`JsonLogger`]: the binary's logger, one JSON object per line on stdout.
//!
//! Lines are formatted on the caller's thread and handed to one writer thread over a bounded
//! queue, so a coroutine never blocks on a slow or full stdout pipe. When the queue is full the
//! line is dropped and counted; the count is reported with the next line that gets through.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use log::kv::{self, Key, Value, VisitSource, VisitValue};

use super::lines::{Msg, write_lines};
use super::{Level, TARGET};
use crate::clock::Civil;

const QUEUE_LINES: usize = 8192;

/// A [`log::Log`] writing `{"timestamp","level","message","logger",<fields>...}` lines to stdout.
///
/// Only this crate's records (target `agentcore_rt` or below) are written unless
/// [`other_crates`](JsonLogger::other_crates) asks for more: ureq, rustls, may and tungstenite
/// log through the same facade and would otherwise flood stdout at `debug`. `trace` records are
/// never written (ureq's are unredacted wire dumps).
pub struct JsonLogger {
    other_crates: bool,
    sink: OnceLock<SyncSender<Msg>>,
    dropped: AtomicU64,
}

impl Default for JsonLogger {
    fn default() -> Self {
        JsonLogger::new()
    }
}

impl JsonLogger {
    /// A logger for this crate's records; the writer thread starts with the first line.
    pub fn new() -> JsonLogger {
        JsonLogger {
            other_crates: false,
            sink: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Also writes other crates' records (at `debug` at most); their target is the `logger` field.
    ///
    /// A build with the `no-dependency-logs` feature (the shipped static binary) has compiled
    /// those records out, so there this changes nothing.
    pub fn other_crates(mut self, yes: bool) -> JsonLogger {
        self.other_crates = yes;
        self
    }

    /// Installs this as the process's logger and sets the lowest level written
    /// ([`set_min_level`](super::set_min_level)). Fails when a logger is already installed.
    pub fn install(self, min_level: Option<Level>) -> Result<(), log::SetLoggerError> {
        // The facade wants a logger that lives for the rest of the process.
        log::set_logger(Box::leak(Box::new(self)))?;
        super::set_min_level(min_level);
        Ok(())
    }

    fn start_writer(&self) -> SyncSender<Msg> {
        let (tx, rx) = sync_channel::<Msg>(QUEUE_LINES);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(rx));
        if spawned.is_err() {
            // Without a writer thread every line is dropped; nothing else can be done about it.
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        tx
    }
}

fn is_ours(target: &str) -> bool {
    target
        .strip_prefix(TARGET)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

impl log::Log for JsonLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug && (self.other_crates || is_ours(metadata.target()))
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        let line = format_line(record, dropped);
        let sink = self.sink.get_or_init(|| self.start_writer());
        match sink.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(dropped + 1, Ordering::Relaxed);
            }
        }
    }

    /// Blocks (up to 2 s) until every line queued so far has been written.
    fn flush(&self) {
        if let Some(sink) = self.sink.get() {
            let (ack, done) = sync_channel::<()>(1);
            if sink.send(Msg::Flush(ack)).is_ok() {
                let _ = done.recv_timeout(std::time::Duration::from_secs(2));
            }
        }
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Trace | log::Level::Debug => "DEBUG",
        log::Level::Info => "INFO",
        log::Level::Warn => "WARNING",
        log::Level::Error => "ERROR",
    }
}

/// One JSON line, newline included; `dropped` lines lost since the last one are reported in it.
fn format_line(record: &log::Record<'_>, dropped: u64) -> String {
    let mut buf = String::with_capacity(192);
    buf.push_str("{\"timestamp\":\"");
    buf.push_str(&Civil::now().iso_millis_z());
    buf.push_str("\",\"level\":\"");
    buf.push_str(level_name(record.level()));
    buf.push_str("\",\"message\":\"");
    let _ = write!(Escaped(&mut buf), "{}", record.args());
    buf.push_str("\",\"logger\":");
    push_json_str(&mut buf, record.target());
    // A field that cannot be visited ends the fields; the line itself is still written.
    let _ = record.key_values().visit(&mut JsonFields(&mut buf));
    if dropped > 0 {
        let _ = write!(buf, ",\"droppedLogLines\":{dropped}");
    }
    buf.push_str("}\n");
    buf
}

struct JsonFields<'b>(&'b mut String);

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), kv::Error> {
        self.0.push(',');
        push_json_str(self.0, key.as_str());
        self.0.push(':');
        value.visit(JsonValue(self.0))
    }
}

/// Writes one value: numbers and booleans bare, floats with 3 decimals, anything else a string.
struct JsonValue<'b>(&'b mut String);

impl<'v> VisitValue<'v> for JsonValue<'_> {
    fn visit_any(&mut self, value: Value<'_>) -> Result<(), kv::Error> {
        self.0.push('"');
        let _ = write!(Escaped(self.0), "{value}");
        self.0.push('"');
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.0.push_str("null");
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        let _ = write!(self.0, "{value}");
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        let _ = write!(self.0, "{value}");
        Ok(())
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), kv::Error> {
        let _ = write!(self.0, "{value}");
        Ok(())
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), kv::Error> {
        let _ = write!(self.0, "{value}");
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        if value.is_finite() {
            let _ = write!(self.0, "{value:.3}");
        } else {
            self.0.push_str("null");
        }
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        self.0.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        push_json_str(self.0, value);
        Ok(())
    }

    fn visit_char(&mut self, value: char) -> Result<(), kv::Error> {
        push_json_str(self.0, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    push_escaped(buf, s);
    buf.push('"');
}

/// Lets `write!` escape as it formats (the message), without an intermediate string.
struct Escaped<'b>(&'b mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

fn push_escaped(buf: &mut String, s: &str) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log as _;

    fn record_line(record: &log::Record<'_>, dropped: u64) -> String {
        let line = format_line(record, dropped);
        // The timestamp is the only part that varies: check its shape, then blank it.
        let ts = &line[14..38];
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{line}");
        format!("{}<ts>{}", &line[..14], &line[38..])
    }

    #[test]
    fn our_lines_keep_their_bytes() {
        let fields: [(&str, Value<'_>); 6] = [
            ("k", Value::from("v \"q\"\u{1}")),
            ("n", Value::from(3i128)),
            ("f", Value::from(1.5f64)),
            ("nan", Value::from(f64::NAN)),
            ("b", Value::from(true)),
            ("c", Value::from('x')),
        ];
        let line = record_line(
            &log::Record::builder()
                .level(log::Level::Warn)
                .target(TARGET)
                .key_values(&fields)
                .args(format_args!("{}", "hi \"there\"\n"))
                .build(),
            2,
        );
        assert_eq!(
            line,
            "{\"timestamp\":\"<ts>\",\"level\":\"WARNING\",\"message\":\"hi \\\"there\\\"\\n\",\
             \"logger\":\"agentcore_rt\",\"k\":\"v \\\"q\\\"\\u0001\",\"n\":3,\"f\":1.500,\
             \"nan\":null,\"b\":true,\"c\":\"x\",\"droppedLogLines\":2}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&format_line(
            &log::Record::builder()
                .level(log::Level::Info)
                .target(TARGET)
                .build(),
            0,
        ))
        .unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["logger"], "agentcore_rt");
    }

    #[test]
    fn other_crates_stay_out_unless_asked() {
        let meta = |level, target| log::Metadata::builder().level(level).target(target).build();
        let ours = JsonLogger::new();
        assert!(ours.enabled(&meta(log::Level::Debug, "agentcore_rt")));
        assert!(ours.enabled(&meta(log::Level::Info, "agentcore_rt::http::conn")));
        assert!(!ours.enabled(&meta(log::Level::Info, "agentcore_rtx")));
        assert!(!ours.enabled(&meta(log::Level::Warn, "ureq::pool")));
        assert!(!ours.enabled(&meta(log::Level::Trace, "agentcore_rt")));
        let all = JsonLogger::new().other_crates(true);
        assert!(all.enabled(&meta(log::Level::Debug, "rustls::client")));
        assert!(!all.enabled(&meta(log::Level::Trace, "ureq::unversioned")));
    }
}
