//! Structured logs through the [`log`] facade.
//!
//! The library writes nothing itself: each line built here becomes a [`log::Record`] with target
//! [`TARGET`] and its fields as key-values, handed to whatever logger the program installed. With
//! none installed nothing is logged (the facade's contract); a program's own logger receives our
//! records, fields included. The binary installs [`JsonLogger`]: one JSON object per line on
//! stdout, written off the caller's thread.
//!
//! Never pass secrets (Authorization, API keys, custom headers) as fields.

mod json;
pub(crate) mod lines;

pub use json::{JsonLogger, push_json_str};

use log::kv::{self, Key, Value, VisitSource};

/// The target of every record this crate emits (and the `logger` field of its JSON lines).
pub const TARGET: &str = "agentcore_rt";

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

impl From<Level> for log::Level {
    fn from(level: Level) -> log::Level {
        match level {
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        }
    }
}

/// Sets the lowest level emitted; `None` silences the log (the binary reads `LOG_LEVEL`).
///
/// This is the facade's global maximum ([`log::set_max_level`]), so it also gates records from
/// other crates and applies to whichever logger is installed.
pub fn set_min_level(level: Option<Level>) {
    log::set_max_level(level.map_or(log::LevelFilter::Off, |l| log::Level::from(l).to_level_filter()));
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

/// True when debug lines reach the installed logger.
pub fn debug_enabled() -> bool {
    // Not `log::log_enabled!`: our lines skip the macros, so the compile-time maximum
    // (the `no-dependency-logs` feature) does not apply to them.
    log::Level::Debug <= log::max_level()
        && log::logger().enabled(
            &log::Metadata::builder()
                .level(log::Level::Debug)
                .target(TARGET)
                .build(),
        )
}

/// A log line under construction: `Line::new(Level::Info, "msg").str("k", v).num("n", 1).emit()`.
///
/// It borrows its message and fields until [`emit`](Line::emit); below the facade's maximum level
/// it records nothing, so a disabled debug line costs one atomic load.
#[must_use = "a log line does nothing until emitted"]
pub struct Line<'a> {
    level: Level,
    message: &'a str,
    fields: Fields<'a>,
    enabled: bool,
}

/// Field values keep their type so another logger sees numbers as numbers.
#[derive(Clone, Copy)]
enum Field<'a> {
    Str(&'a str),
    Int(i128),
    Float(f64),
    Bool(bool),
}

struct Fields<'a>(Vec<(&'a str, Field<'a>)>);

impl kv::Source for Fields<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        for &(key, value) in &self.0 {
            let value = match value {
                Field::Str(s) => Value::from(s),
                Field::Int(n) => Value::from(n),
                Field::Float(f) => Value::from(f),
                Field::Bool(b) => Value::from(b),
            };
            visitor.visit_pair(Key::from_str(key), value)?;
        }
        Ok(())
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

impl<'a> Line<'a> {
    /// Starts a line with a level and message.
    pub fn new(level: Level, message: &'a str) -> Line<'a> {
        let enabled = log::Level::from(level) <= log::max_level();
        Line::start(level, message, enabled)
    }

    fn start(level: Level, message: &'a str, enabled: bool) -> Line<'a> {
        let fields = Fields(if enabled {
            Vec::with_capacity(8)
        } else {
            Vec::new()
        });
        Line {
            level,
            message,
            fields,
            enabled,
        }
    }

    fn field(mut self, key: &'a str, value: Field<'a>) -> Line<'a> {
        if self.enabled {
            self.fields.0.push((key, value));
        }
        self
    }

    /// Adds a string field.
    pub fn str(self, key: &'a str, value: &'a str) -> Line<'a> {
        self.field(key, Field::Str(value))
    }

    /// Adds a string field when `value` is `Some` and not empty.
    pub fn opt_str(self, key: &'a str, value: Option<&'a str>) -> Line<'a> {
        match value {
            Some(v) if !v.is_empty() => self.str(key, v),
            _ => self,
        }
    }

    /// Adds an integer field.
    pub fn num(self, key: &'a str, value: impl Into<i128>) -> Line<'a> {
        self.field(key, Field::Int(value.into()))
    }

    /// Adds a floating-point field (e.g. milliseconds with a fraction).
    pub fn float(self, key: &'a str, value: f64) -> Line<'a> {
        self.field(key, Field::Float(value))
    }

    /// Adds a boolean field.
    pub fn bool(self, key: &'a str, value: bool) -> Line<'a> {
        self.field(key, Field::Bool(value))
    }

    /// Hands the line to the installed logger (nothing happens below the facade's maximum level).
    pub fn emit(self) {
        self.emit_to(log::logger());
    }

    fn emit_to(self, logger: &dyn log::Log) {
        if !self.enabled {
            return;
        }
        // No file and line: `#[track_caller]` on the constructors to get them costs 8 KiB of
        // binary, and the target already says whose line it is.
        logger.log(
            &log::Record::builder()
                .level(self.level.into())
                .target(TARGET)
                .key_values(&self.fields)
                .args(format_args!("{}", self.message))
                .build(),
        );
    }
}

/// Shorthand: an info line with just a message.
pub fn info(message: &str) -> Line<'_> {
    Line::new(Level::Info, message)
}

/// Shorthand: a warning line.
pub fn warn(message: &str) -> Line<'_> {
    Line::new(Level::Warn, message)
}

/// Shorthand: an error line.
pub fn error(message: &str) -> Line<'_> {
    Line::new(Level::Error, message)
}

/// Shorthand: a debug line.
pub fn debug(message: &str) -> Line<'_> {
    Line::new(Level::Debug, message)
}

/// Flushes the installed logger; [`JsonLogger`] blocks (up to 2 s) until every line queued so
/// far has been written. Used before exit.
pub fn flush() {
    log::logger().flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A program's own logger: sees our records with typed fields.
    #[derive(Default)]
    struct Capture(Mutex<Vec<Captured>>);

    /// Level, target, message, and each field as `(key, "<type> <value>")`.
    type Captured = (log::Level, String, String, Vec<(String, String)>);

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            struct Pairs(Vec<(String, String)>);
            impl<'kvs> VisitSource<'kvs> for Pairs {
                fn visit_pair(&mut self, k: Key<'kvs>, v: Value<'kvs>) -> Result<(), kv::Error> {
                    let typed = match (v.to_i64(), v.to_bool(), v.to_borrowed_str()) {
                        (Some(n), _, _) => format!("int {n}"),
                        (_, Some(b), _) => format!("bool {b}"),
                        (_, _, Some(s)) => format!("str {s}"),
                        _ => format!("other {v}"),
                    };
                    self.0.push((k.to_string(), typed));
                    Ok(())
                }
            }
            let mut pairs = Pairs(Vec::new());
            record.key_values().visit(&mut pairs).unwrap();
            self.0.lock().unwrap().push((
                record.level(),
                record.target().to_string(),
                record.args().to_string(),
                pairs.0,
            ));
        }
        fn flush(&self) {}
    }

    fn line(level: Level, message: &str) -> Line<'_> {
        Line::start(level, message, true)
    }

    #[test]
    fn records_carry_typed_fields_in_order() {
        let capture = Capture::default();
        let session = String::from("s-1");
        line(Level::Warn, "request")
            .str("method", "POST")
            .num("status", 503u16)
            .float("durationMs", 1.5)
            .bool("stream", true)
            .opt_str("sessionId", Some(&session))
            .opt_str("missing", Some(""))
            .opt_str("none", None)
            .emit_to(&capture);
        let got = capture.0.into_inner().unwrap();
        assert_eq!(got.len(), 1);
        let (level, target, message, fields) = &got[0];
        assert_eq!(*level, log::Level::Warn);
        assert_eq!(target, "agentcore_rt");
        assert_eq!(message, "request");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("method", "str POST"),
                ("status", "int 503"),
                ("durationMs", "other 1.5"),
                ("stream", "bool true"),
                ("sessionId", "str s-1"),
            ]
        );
    }

    #[test]
    fn disabled_lines_reach_no_logger() {
        let capture = Capture::default();
        Line::start(Level::Debug, "quiet", false)
            .str("k", "v")
            .emit_to(&capture);
        assert!(capture.0.into_inner().unwrap().is_empty());
    }

    #[test]
    fn levels_parse_as_documented() {
        assert_eq!(parse_level("WARNING"), Ok(Some(Level::Warn)));
        assert_eq!(parse_level("warn"), Ok(Some(Level::Warn)));
        assert_eq!(parse_level("off"), Ok(None));
        assert!(parse_level("loud").is_err());
    }
}
