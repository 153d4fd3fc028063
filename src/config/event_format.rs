//! Which events a streaming invocation writes (`EVENT_FORMAT`).

use std::fmt;
use std::str::FromStr;

/// The event vocabulary of `/invocations` streams and `/ws` messages.
///
/// ```
/// use agentcore_rt::config::EventFormat;
///
/// assert_eq!("AG-UI".parse::<EventFormat>(), Ok(EventFormat::Agui));
/// assert_eq!(EventFormat::default().as_str(), "native");
/// assert!("xml".parse::<EventFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventFormat {
    /// The seed's own events (`{"type": "text", "data": ...}`, `tool_use`, `tool_result`,
    /// `final`, `error`) for the payload `{"query", "session_id"?, "stream"?}`.
    #[default]
    Native,
    /// AG-UI: the body is a `RunAgentInput`, the answer a stream of AG-UI events
    /// (`RUN_STARTED` ... `RUN_FINISHED` / `RUN_ERROR`), as bedrock-agentcore's `AGUIApp` serves.
    Agui,
}

impl EventFormat {
    /// The name `EVENT_FORMAT` takes: `native` or `agui`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Native => "native",
            EventFormat::Agui => "agui",
        }
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventFormat {
    type Err = String;

    /// Case-insensitive; `default` names the native format, `ag-ui` and `ag_ui` AG-UI.
    fn from_str(s: &str) -> Result<EventFormat, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "native" | "default" => Ok(EventFormat::Native),
            "agui" | "ag-ui" | "ag_ui" => Ok(EventFormat::Agui),
            _ => Err("not an event format (native or agui)".into()),
        }
    }
}
