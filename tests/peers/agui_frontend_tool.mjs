// Runs @ag-ui/client's HttpAgent against agentcore-rt with a frontend tool, for
// tests/it/agui/frontend_tools.rs: the first run's tool call is run here (the client's part),
// its result added as a tool message, and the thread run again; prints what the client made of
// both runs (events seen, its messages, errors) as one JSON object.
// Usage: node agui_frontend_tool.mjs URL THREAD_ID '<json tool>' 'prompt' 'tool result'
import { HttpAgent } from "@ag-ui/client";

const [url, threadId, toolJson, prompt, toolResult] = process.argv.slice(2);
const tool = JSON.parse(toolJson);
const agent = new HttpAgent({ url, threadId });
agent.messages.push({ id: "user-0", role: "user", content: prompt });
const runs = [];
const run = async (runId) => {
  const seen = [];
  const failures = [];
  try {
    await agent.runAgent(
      { runId, tools: [tool] },
      {
        onEvent({ event }) {
          seen.push(event.type);
        },
        onRunFailed({ error }) {
          failures.push(String(error));
        },
      },
    );
    runs.push({ seen, failures });
  } catch (e) {
    runs.push({ seen, failures, error: String(e && e.stack ? e.stack : e) });
  }
};
await run("run-0");
const calls = agent.messages.filter((m) => m.role === "assistant").flatMap((m) => m.toolCalls ?? []);
const call = calls.find((c) => c.function.name === tool.name);
if (call) {
  agent.messages.push({ id: "tool-0", role: "tool", toolCallId: call.id, content: toolResult });
  await run("run-1");
}
console.log(JSON.stringify({ runs, calls, messages: agent.messages }));
