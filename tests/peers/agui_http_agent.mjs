// Runs @ag-ui/client's HttpAgent against agentcore-rt, for tests/it/agui.rs: two runs on one
// agent (one thread), printing what the client made of them (events seen, the messages it
// assembled, its state, errors) as one JSON object.
// Usage: node agui_http_agent.mjs URL THREAD_ID '<json state>' 'first prompt' 'second prompt'
import { HttpAgent } from "@ag-ui/client";

const [url, threadId, stateJson, ...prompts] = process.argv.slice(2);
const agent = new HttpAgent({ url, threadId, initialState: JSON.parse(stateJson) });
const runs = [];
for (const [i, prompt] of prompts.entries()) {
  agent.messages.push({ id: `user-${i}`, role: "user", content: prompt });
  const seen = [];
  const failures = [];
  try {
    const result = await agent.runAgent(
      { runId: `run-${i}` },
      {
        onEvent({ event }) {
          seen.push(event.type);
        },
        onRunFailed({ error }) {
          failures.push(String(error));
        },
      },
    );
    runs.push({ seen, failures, result: result.result ?? null, newMessages: result.newMessages });
  } catch (e) {
    runs.push({ seen, failures, error: String(e && e.stack ? e.stack : e) });
  }
}
console.log(JSON.stringify({ runs, messages: agent.messages, state: agent.state, threadId: agent.threadId }));
