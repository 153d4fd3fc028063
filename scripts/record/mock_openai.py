"""A scripted OpenAI chat-completions endpoint on 127.0.0.1 (stdlib only), for recording what the
real Strands agent sends (strands_scenarios.py). It logs every request and answers from a script,
in the wire format of the real API and the `openai` SDK:

  POST /v1/chat/completions with "stream": true  -> text/event-stream: a role chunk, the text in
      3 deltas, each tool call as a header delta then its arguments in 3 deltas, a finish chunk,
      a usage chunk ("choices": []) when stream_options.include_usage, then `data: [DONE]`.
  POST /v1/chat/completions otherwise            -> one chat.completion object.

Script entries, one per request, in order (the last one repeats once the others are used):
  {"text": "..."}                                  text; finish_reason "stop"
  {"tool_calls": [{"id", "name", "arguments"}]}    tool calls (arguments: an object, or a raw
                                                   string sent as is); finish_reason "tool_calls"
  {"error": {"status", "message", "code"?, "type"?}}  an OpenAI error body with that status
  optional: "finish_reason", "usage": {"prompt_tokens", "completion_tokens"}

Usage, unless scripted, counts requests over the server's life (n = 1, 2, ...):
prompt_tokens = 100 + 10 n, completion_tokens = 7 + n.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PIECES = 3


def pieces(text):
    """`text` cut into at most PIECES consecutive parts (one empty part for an empty text)."""
    if not text:
        return [text]
    step = -(-len(text) // PIECES)
    return [text[i : i + step] for i in range(0, len(text), step)]


class MockOpenAI:
    """`with MockOpenAI() as mock:` serves on `mock.base_url`; `mock.set_script([...])` replaces
    the script and clears `mock.requests` (a list of {"path", "headers", "body"})."""

    def __init__(self):
        self.lock = threading.Lock()
        self.script = [{"text": "Hello from the mock."}]
        self.requests = []
        self.served = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def set_script(self, script):
        with self.lock:
            self.script = list(script)
            self.requests = []

    def _take(self, path, headers, body):
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            self.served += 1
            entry = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            return self.served, entry

    def _handler_class(self):
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, content_type, data, extra=()):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in extra:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def reply_json(self, status, obj):
                self.reply(status, "application/json", json.dumps(obj).encode())

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self.reply_json(400, {"error": {"message": "invalid JSON body"}})
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self.reply_json(404, {"error": {"message": f"unknown path {self.path}"}})
                headers = {
                    k.lower(): v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")
                }
                n, entry = mock._take(self.path, headers, body)
                if "error" in entry:
                    err = entry["error"]
                    return self.reply_json(
                        err.get("status", 400),
                        {
                            "error": {
                                "message": err.get("message", "error"),
                                "type": err.get("type", "invalid_request_error"),
                                "param": None,
                                "code": err.get("code"),
                            }
                        },
                    )
                self.answer(body, n, entry)

            def answer(self, body, n, entry):
                model = body.get("model", "gpt-4o")
                completion_id = f"chatcmpl-mock{n:04d}"
                created = int(time.time())
                text = entry.get("text")
                calls = []
                for i, call in enumerate(entry.get("tool_calls") or []):
                    args = call.get("arguments", {})
                    calls.append(
                        {
                            "index": i,
                            "id": call.get("id", f"call_{n}_{i}"),
                            "name": call["name"],
                            "arguments": args if isinstance(args, str) else json.dumps(args),
                        }
                    )
                finish = entry.get("finish_reason") or ("tool_calls" if calls else "stop")
                scripted = entry.get("usage") or {}
                prompt = scripted.get("prompt_tokens", 100 + 10 * n)
                completion = scripted.get("completion_tokens", 7 + n)
                usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

                if not body.get("stream"):
                    message = {"role": "assistant", "content": text, "refusal": None}
                    if calls:
                        message["tool_calls"] = [
                            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                            for c in calls
                        ]
                    return self.reply_json(
                        200,
                        {
                            "id": completion_id,
                            "object": "chat.completion",
                            "created": created,
                            "model": model,
                            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                            "usage": usage,
                        },
                    )

                base = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_mock",
                }

                def delta(d, finish_reason=None):
                    return {**base, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish_reason}]}

                events = [delta({"role": "assistant", "content": "", "refusal": None})]
                if text:
                    events += [delta({"content": part}) for part in pieces(text)]
                for c in calls:
                    head = {"index": c["index"], "id": c["id"], "type": "function"}
                    events.append(delta({"tool_calls": [{**head, "function": {"name": c["name"], "arguments": ""}}]}))
                    events += [
                        delta({"tool_calls": [{"index": c["index"], "function": {"arguments": part}}]})
                        for part in pieces(c["arguments"])
                    ]
                events.append(delta({}, finish))
                if (body.get("stream_options") or {}).get("include_usage"):
                    events.append({**base, "choices": [], "usage": usage})
                data = b"".join(b"data: %s\n\n" % json.dumps(e).encode() for e in events) + b"data: [DONE]\n\n"
                self.reply(200, "text/event-stream", data, extra=[("Cache-Control", "no-cache")])

        return Handler
