#!/usr/bin/env python3
"""Real Strands (strands-agents 1.62.0, .venv-strands) with its BedrockModel pointed at the local
endpoint (tests/peers/bedrock_endpoint.py) through `endpoint_url`: the reference for the request
bodies agentcore-rt sends to Bedrock and the writer of Bedrock sessions it must continue.

Usage: strands_bedrock.py ENDPOINT_URL < spec.json
  spec: {"model_id", "region", "system_prompt"?, "prompts": [..], "stream"?: true, "params"?: {..},
         "session_dir"?, "session_id"?, "mcp"?: {"command", "args", "allowed"}}
  prints {"results": [str(result) per prompt], "messages": agent.messages (bytes encoded)}

Credentials are botocore's own chain: the test passes AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
in the environment.
"""

import json
import os
import sys

os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from mcp import StdioServerParameters, stdio_client  # noqa: E402
from strands import Agent  # noqa: E402
from strands.models.bedrock import BedrockModel  # noqa: E402
from strands.session.file_session_manager import FileSessionManager  # noqa: E402
from strands.tools.mcp import MCPClient  # noqa: E402
from strands.types.session import encode_bytes_values  # noqa: E402


def main():
    endpoint = sys.argv[1]
    spec = json.load(sys.stdin)
    model = BedrockModel(
        model_id=spec["model_id"],
        region_name=spec["region"],
        endpoint_url=endpoint,
        streaming=spec.get("stream", True),
        **spec.get("params", {}),
    )
    tools = []
    if spec.get("mcp"):
        m = spec["mcp"]
        params = StdioServerParameters(command=m["command"], args=m["args"])
        tools.append(MCPClient(lambda: stdio_client(params), tool_filters={"allowed": m["allowed"]}))
    kwargs = {}
    if spec.get("session_dir"):
        kwargs["session_manager"] = FileSessionManager(
            session_id=spec["session_id"], storage_dir=spec["session_dir"]
        )
    agent = Agent(
        model=model,
        system_prompt=spec.get("system_prompt"),
        tools=tools,
        callback_handler=None,
        **kwargs,
    )
    results = [str(agent(prompt)) for prompt in spec["prompts"]]
    json.dump({"results": results, "messages": encode_bytes_values(agent.messages)}, sys.stdout)


if __name__ == "__main__":
    main()
