//! From a typed entrypoint to the one [`App`](super::App) stores: the payload is decoded into the
//! handler's type, its result converted to an [`Output`], its error into an [`Error`].

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::output::take_as;
use super::{IntoOutput, Output, RequestContext};
use crate::error::Error;

/// The entrypoint as stored: the parsed JSON payload in, the answer out.
pub(super) type EntrypointFn = dyn Fn(Value, &RequestContext) -> Result<Output, Error> + Send + Sync;

/// Wraps a typed handler: decode the payload into `P`, call, convert.
pub(super) fn erase<P, O, E, F>(f: F) -> Arc<EntrypointFn>
where
    P: DeserializeOwned + 'static,
    O: IntoOutput,
    E: Into<Error>,
    F: Fn(P, &RequestContext) -> Result<O, E> + Send + Sync + 'static,
{
    Arc::new(move |payload, ctx| {
        let payload = decode::<P>(payload)?;
        f(payload, ctx).map_err(Into::into)?.into_output()
    })
}

/// The payload as the handler's type. A `Value` handler gets the parsed body as it is; any other
/// type goes through serde, and a mismatch is the client's mistake: 400
/// `{"error":"Invalid payload","details":"<serde's message>"}`.
fn decode<P: DeserializeOwned + 'static>(payload: Value) -> Result<P, Error> {
    let mut slot = Some(payload);
    if let Some(same) = take_as::<P>(&mut slot) {
        return Ok(same);
    }
    // `take_as` left the slot full: it only empties it when it returns the value.
    serde_json::from_value(slot.unwrap_or_default()).map_err(|e| {
        Error::bad_request("Invalid payload")
            .with_details(e.to_string())
            .with_type("ValueError")
            .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Ask {
        prompt: String,
        #[serde(default)]
        stream: bool,
    }

    #[test]
    fn payloads_decode_into_the_handler_type() {
        assert_eq!(
            decode::<Ask>(json!({"prompt": "hi"})).unwrap(),
            Ask {
                prompt: "hi".into(),
                stream: false
            }
        );
        let v = json!({"any": [1, 2.5, "x"]});
        assert_eq!(decode::<Value>(v.clone()).unwrap(), v);
        let e = decode::<Ask>(json!({"prompt": 5})).unwrap_err();
        assert_eq!(
            e.json_body(),
            r#"{"error":"Invalid payload","details":"invalid type: number, expected a string"}"#
        );
        assert_eq!(e.status(), 400);
        let e = decode::<Ask>(json!([])).unwrap_err();
        assert_eq!(
            e.details(),
            Some(&json!("invalid length 0, expected struct Ask with 2 elements"))
        );
    }

    #[test]
    fn handler_errors_and_results_convert() {
        let f = erase(|ask: Ask, _ctx: &RequestContext| {
            if ask.stream {
                return Err(std::io::Error::other("disk on fire"));
            }
            Ok(json!({"echo": ask.prompt}))
        });
        let ctx = RequestContext::default();
        assert!(matches!(f(json!({"prompt": "p"}), &ctx), Ok(Output::Json(v)) if v == json!({"echo": "p"})));
        let e = f(json!({"prompt": "p", "stream": true}), &ctx).unwrap_err();
        assert_eq!(
            (e.status(), e.message(), e.error_type()),
            (500, "disk on fire", "OSError")
        );
        assert_eq!(
            f(json!({}), &ctx).unwrap_err().details(),
            Some(&json!("missing field `prompt`"))
        );
    }
}
