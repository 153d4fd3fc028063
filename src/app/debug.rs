//! The SDK's debug actions: a `{"_agent_core_app_action": ...}` payload asks the runtime itself
//! (ping status, running jobs, forcing a status) instead of reaching the entrypoint. Only on
//! when [`App::debug`] enabled them.

use serde_json::{Value, json};

use super::{App, PingStatus, Response};
use crate::error::Error;

impl App {
    /// The response to a debug action, `None` when the payload asks for none.
    pub(super) fn debug_action(&self, payload: &Value) -> Result<Option<Response>, Error> {
        let Value::Object(map) = payload else {
            // The SDK calls payload.get(...) and fails the same way on a non-object.
            let kind = match payload {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::Bool(_) => "bool",
                _ => "NoneType",
            };
            return Err(Error::new(format!("'{kind}' object has no attribute 'get'")));
        };
        let action = match map.get("_agent_core_app_action") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => s.as_str(),
            Some(other) => return Ok(Some(unknown_action(&other.to_string()))),
        };
        let body = match action {
            "ping_status" => {
                let (status, at) = self.ping_status();
                json!({"status": status.as_str(), "time_of_last_update": at})
            }
            "job_status" => self.tasks.info(),
            "force_healthy" => {
                self.tasks.force_ping_status(PingStatus::Healthy);
                json!({"forced_status": "Healthy"})
            }
            "force_busy" => {
                self.tasks.force_ping_status(PingStatus::HealthyBusy);
                json!({"forced_status": "HealthyBusy"})
            }
            "clear_forced_status" => {
                self.tasks.clear_forced_ping_status();
                json!({"forced_status": "Cleared"})
            }
            other => return Ok(Some(unknown_action(other))),
        };
        Ok(Some(Response::json(200, &body)))
    }
}

fn unknown_action(action: &str) -> Response {
    Response::json(400, &json!({"error": format!("Unknown action: {action}")}))
}
