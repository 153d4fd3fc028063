//! Frontend tools (`RunAgentInput.tools`), as ag-ui-strands 1.0 runs them on a Strands agent
//! with a session manager: each is offered to the model as a proxy; a call to one is sent as
//! `TOOL_CALL_START`/`_ARGS`/`_END` (no `TOOL_CALL_RESULT`: the client runs it) and the run
//! ends after that tool batch, the placeholder result stored and the call's id recorded in
//! `agent.state` under [`FRONTEND_CALL_IDS_KEY`]. The next run's `tool` messages carry the
//! client's results: each result of a recorded call replaces its stored placeholder and the
//! agent continues from the history (the model sees the result as the call's tool result);
//! what cannot be put in place (a call never recorded, an empty result) is said in the prompt
//! instead, in ag-ui-strands' words ([`continuation_line`]).

use std::collections::{HashMap, HashSet};

use crate::agent::{AgentError, ClientTools, Next, Prompt, StoredSession, recorded_ids};
use crate::types::{ContentBlock, ToolResult, ToolStatus};

use super::input::RunInput;

/// The `agent.state` key of the recorded frontend call ids, ag-ui-strands'
/// `AG_UI_FRONTEND_CALL_IDS_STATE_KEY`, so a session is read the same by both.
pub const FRONTEND_CALL_IDS_KEY: &str = "__ag_ui_wire_to_native__";

/// The RUN_ERROR code of a tool result whose call nothing names (ag-ui-strands').
pub const UNRESOLVED_CODE: &str = "CONTINUATION_TOOL_NAME_UNRESOLVED";

/// The run's frontend tools, as the agent offers them.
pub fn client_tools(input: &RunInput) -> ClientTools {
    ClientTools {
        specs: input.tools.clone(),
        record_calls_under: Some(FRONTEND_CALL_IDS_KEY.to_string()),
    }
}

/// Why a run cannot go on from the stored session: a RUN_ERROR's message and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What is wrong.
    pub message: String,
    /// The RUN_ERROR code.
    pub code: &'static str,
}

/// One tool message that answers a frontend call.
struct FrontendResult<'a> {
    id: &'a str,
    text: &'a str,
    error: Option<&'a str>,
}

/// Puts the client's results in place of their placeholders and says how the run goes on
/// (ag-ui-strands' continuation for a session manager that can rewrite messages): the history
/// when every non-empty result was put in place and no user message follows them, else a
/// prompt (the results the history does not carry, then the user's text).
pub fn decide(input: &RunInput, stored: &mut StoredSession<'_>) -> Result<Result<Next, Refused>, AgentError> {
    let recorded = recorded_ids(stored.state(), FRONTEND_CALL_IDS_KEY);
    let recorded_set: HashSet<&str> = recorded.iter().map(String::as_str).collect();
    let declared: HashSet<&str> = input.tools.iter().map(|t| t.name.as_str()).collect();
    // The names of calls: the client's copy of the conversation first, then the stored one
    // (a client may send only the new results).
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (id, name) in &input.tool_calls {
        names.entry(id.as_str()).or_insert(name.as_str());
    }
    let stored_calls: Vec<(String, String)> = stored
        .messages()
        .iter()
        .flat_map(|m| m.tool_uses())
        .map(|call| (call.tool_use_id.clone(), call.name.clone()))
        .collect();
    for (id, name) in &stored_calls {
        names.entry(id.as_str()).or_insert(name.as_str());
    }
    let is_frontend = |id: &str, name: Option<&str>| {
        recorded_set.contains(id) || name.is_some_and(|n| declared.contains(n))
    };

    // This run's prompt, before any result is put in place.
    let trailing: Vec<_> = input.tool_messages.iter().filter(|m| m.trailing).collect();
    let prompt_text = if trailing.is_empty() {
        input.last_text.clone().unwrap_or_default()
    } else {
        let mut lines = Vec::new();
        let mut unresolved = Vec::new();
        for message in &trailing {
            let name = names.get(message.tool_call_id.as_str()).copied();
            match name {
                Some(name) if is_frontend(&message.tool_call_id, Some(name)) => lines.push(
                    continuation_line(name, &message.content, message.error.as_deref()),
                ),
                // A tool the agent ran itself: its result is in the history already.
                Some(_) => {}
                None => unresolved.push(message.tool_call_id.as_str()),
            }
        }
        if !unresolved.is_empty() {
            return Ok(Err(Refused {
                message: format!(
                    "Cannot name the tool behind continuation tool result(s) {}: absent from the input messages and from the native session history",
                    unresolved.join(", ")
                ),
                code: UNRESOLVED_CODE,
            }));
        }
        lines.join("\n")
    };

    // The results that answer frontend calls: this run's, and any earlier one of a call still
    // recorded (its placeholder not yet replaced).
    let results: Vec<FrontendResult<'_>> = input
        .tool_messages
        .iter()
        .filter(|m| m.trailing || recorded_set.contains(m.tool_call_id.as_str()))
        .filter(|m| is_frontend(&m.tool_call_id, names.get(m.tool_call_id.as_str()).copied()))
        .map(|m| FrontendResult {
            id: &m.tool_call_id,
            text: &m.content,
            error: m.error.as_deref(),
        })
        .collect();
    let user_after = input
        .tool_messages
        .iter()
        .rfind(|m| results.iter().any(|r| r.id == m.tool_call_id))
        .is_some_and(|m| m.user_after);
    let non_empty = |r: &FrontendResult<'_>| !r.text.trim().is_empty();
    let failed = |r: &FrontendResult<'_>| r.error.is_some_and(|e| !e.is_empty());
    // Only calls recorded when they were made have a placeholder to replace.
    let resolvable: Vec<&FrontendResult<'_>> =
        results.iter().filter(|r| recorded_set.contains(r.id)).collect();

    let mut corrected: HashSet<String> = HashSet::new();
    let uncarried: Vec<&str>;
    let mut next_is_history = false;
    if results.iter().any(|r| non_empty(r) || failed(r)) {
        for result in &resolvable {
            let status = if failed(result) {
                ToolStatus::Error
            } else {
                ToolStatus::Success
            };
            let mut replacement = ToolResult::text(result.id, result.text);
            replacement.status = status;
            if stored.replace_placeholder(&replacement)? {
                corrected.insert(result.id.to_string());
            }
        }
        uncarried = resolvable
            .iter()
            .map(|r| r.id)
            .filter(|id| !corrected.contains(*id))
            .collect();
        let all_non_empty_resolvable = resolvable.iter().filter(|r| non_empty(r)).count()
            == results.iter().filter(|r| non_empty(r)).count();
        let placeholder_left = stored.messages().iter().any(|m| {
            m.content.iter().any(|b| {
                matches!(b, ContentBlock::ToolResult(r)
                    if resolvable.iter().any(|x| x.id == r.tool_use_id) && crate::agent::is_placeholder(r))
            })
        });
        next_is_history = all_non_empty_resolvable && !placeholder_left && !user_after;
    } else {
        uncarried = results.iter().map(|r| r.id).collect();
    }

    // Recorded ids whose placeholder is now replaced are done with.
    if !corrected.is_empty() {
        let remaining: Vec<String> = recorded
            .iter()
            .filter(|id| !corrected.contains(*id))
            .cloned()
            .collect();
        if let Some(state) = stored.state_mut().as_object_mut() {
            state.insert(FRONTEND_CALL_IDS_KEY.to_string(), remaining.into());
        }
    }
    if next_is_history {
        return Ok(Ok(Next::Continue));
    }

    // A user message after the results is the prompt; the results the history does not carry
    // go before its text.
    let mut prompt = prompt_text;
    if user_after && !uncarried.is_empty() {
        let carried: Vec<String> = results
            .iter()
            .filter(|r| uncarried.contains(&r.id))
            .filter_map(|r| {
                let name = names.get(r.id)?;
                Some(continuation_line(name, r.text, r.error))
            })
            .collect();
        if !carried.is_empty() {
            prompt = format!("{}\n{prompt}", carried.join("\n"));
        }
    }
    Ok(Ok(Next::Prompt(Prompt::Text(prompt))))
}

/// One line of a continuation prompt: the tool, and what came back (ag-ui-strands'
/// `_continuation_result_line`).
pub fn continuation_line(name: &str, text: &str, error: Option<&str>) -> String {
    match error.filter(|e| !e.is_empty()) {
        Some(error) if !text.trim().is_empty() => format!("{name} failed: {error} (returned: {text})"),
        Some(error) => format!("{name} failed: {error}"),
        None if !text.trim().is_empty() => format!("{name} returned: {text}"),
        None => format!("{name} executed successfully with no return value."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_are_ag_ui_strands_words() {
        assert_eq!(continuation_line("f", "5", None), "f returned: 5");
        assert_eq!(
            continuation_line("f", " ", None),
            "f executed successfully with no return value."
        );
        assert_eq!(continuation_line("f", "", Some("boom")), "f failed: boom");
        assert_eq!(
            continuation_line("f", "x", Some("boom")),
            "f failed: boom (returned: x)"
        );
        assert_eq!(continuation_line("f", "x", Some("")), "f returned: x");
    }
}
