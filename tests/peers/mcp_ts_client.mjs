// Drives agentcore-rt's MCP server with the official TypeScript SDK client
// (@modelcontextprotocol/sdk, Streamable HTTP transport).
//
//     node mcp_ts_client.mjs URL SESSION_HEADER
//
// Prints one JSON object: the negotiated version, the server info, the tools, a call with
// progress, a call of an unknown tool (a JSON-RPC error), a ping.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, session] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session } },
});
const client = new Client({ name: "agentcore-rt-test", version: "1.0.0" });
await client.connect(transport);
const out = {
  protocol_version: transport.protocolVersion ?? null,
  server_info: client.getServerVersion(),
  session_id: transport.sessionId ?? null,
};
const tools = await client.listTools();
out.tools = tools.tools;
const progress = [];
out.call = await client.callTool(
  { name: tools.tools[0].name, arguments: { query: "What is MCP?", session_id: "ts-session" } },
  undefined,
  { onprogress: (p) => progress.push(p) },
);
out.progress = progress;
try {
  await client.callTool({ name: "no_such_tool", arguments: {} });
  out.unknown = "no error";
} catch (e) {
  out.unknown = { code: e.code, message: e.message };
}
await client.ping();
out.ping = true;
await client.close();
console.log(JSON.stringify(out));
