"""Records tests/fixtures/vectors/agentcore-observed.json: request/response pairs exchanged with
the real Python `bedrock-agentcore` app (agentcore_app.py beside this file), one fresh server per
mode on 127.0.0.1:18080 (the port shows up in redirect `location`s; the contract test swaps in its
own). Run by scripts/record-fixtures.sh with the recording venv:

    .venv-record/bin/python scripts/record/agentcore_vectors.py OUT.json

HTTP goes through http.client (so the request bytes are what http.client sends: Host,
Accept-Encoding: identity, Content-Length, then the vector's headers); WebSocket vectors through
the `websockets` sync client. Each vector records the status, every response header but `date` and
`server` (lower-case names), and the body, or a `body_regex` where the body holds a clock, a
random id or similar (the recorder checks that the body it saw fully matches that regex).
"""

import http.client as httpclient
import json
import os
import re
import subprocess
import sys
import threading
import time

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 18080
HOST = "127.0.0.1"
TIMEOUT_S = 20
JSON = {"Content-Type": "application/json"}
# `body_regex` is re.escape(body), anchored: the whole body, pinned (its volatile part is for the
# replay to allow, see the contract test).
ESCAPED = object()


def ping_regex(status):
    return r'\{"status":"%s","time_of_last_update":\d+\}' % status


HEALTHY = ping_regex("Healthy")
BUSY = ping_regex("HealthyBusy")


def http(name, mode, method, path, headers=None, body=None, regex=None, note=None, step=None):
    return {
        "name": name,
        "mode": mode,
        "method": method,
        "path": path,
        "headers": dict(headers or {}),
        "body": body,
        "regex": regex,
        "note": note,
        "step": step,
    }


def post(name, body, mode="dispatch", headers=JSON, **kw):
    return http(name, mode, "POST", "/invocations", headers, body, **kw)


def ping(name, mode="dispatch", regex=HEALTHY, **kw):
    return http(name, mode, "GET", "/ping", regex=regex, **kw)


def ws(name, path, mode="dispatch", headers=None, send=(), note=None):
    return {
        "name": name,
        "mode": mode,
        "method": "WEBSOCKET",
        "path": path,
        "headers": dict(headers or {}),
        "send": list(send),
        "note": note,
    }


SID = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
RID = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id"

# The vectors, in the order they are written. Within a mode they are played in this order.
VECTORS = [
    # Routing and methods.
    ping("ping_basic"),
    http("ping_head", "dispatch", "HEAD", "/ping"),
    http("ping_post", "dispatch", "POST", "/ping", JSON, "{}"),
    http("invocations_get", "dispatch", "GET", "/invocations"),
    http("unknown_path", "dispatch", "GET", "/nope"),
    http("unknown_path_post", "dispatch", "POST", "/nope", JSON, "{}"),
    http("invocations_trailing_slash", "dispatch", "POST", "/invocations/", JSON, '{"a":1}'),
    http("ping_trailing_slash", "dispatch", "GET", "/ping/"),
    # Request bodies.
    post("valid_object", '{"prompt":"hi"}'),
    post("valid_object_no_content_type", '{"prompt":"hi"}', headers={}),
    post("valid_object_text_plain", '{"prompt":"hi"}', headers={"Content-Type": "text/plain"}),
    post("invalid_json", "{bad json"),
    post("empty_body", ""),
    post("empty_body_no_ct", None, headers={}),
    post("json_list", "[1,2,3]"),
    post("json_string", '"just a string"'),
    post("json_number", "42"),
    post("json_null", "null"),
    post("invalid_utf8", b'{"a":"\xff\xfe"}'),
    post("unicode_in", '{"prompt":"héllo ☃"}'),
    # What the entrypoint returns or raises.
    post("handler_raises", '{"case":"raise"}'),
    post("handler_http_exception", '{"case":"http_exc"}'),
    post("return_string", '{"case":"str"}'),
    post("return_none", '{"case":"none"}'),
    post("return_int", '{"case":"int"}'),
    post("return_unicode", '{"case":"unicode"}'),
    post("return_pydantic", '{"case":"pydantic"}'),
    post("return_dataclass", '{"case":"dataclass"}'),
    post("return_datetime_in_dict", '{"case":"datetime"}'),
    post("return_set_in_dict", '{"case":"set"}'),
    post("return_opaque_object", '{"case":"opaque"}'),
    post("return_bytes", '{"case":"bytes"}'),
    post("return_nan", '{"case":"nan"}'),
    post("return_starlette_response", '{"case":"response"}'),
    post("return_plaintext_response", '{"case":"plain"}'),
    post("stream_async_gen_from_async_fn", '{"case":"stream"}'),
    post("stream_error_midway", '{"case":"stream_err"}'),
    post("debug_action_ignored_when_not_debug", '{"_agent_core_app_action":"ping_status"}'),
    # The request context.
    post(
        "ctx_no_headers",
        '{"case":"ctx"}',
        regex=r'\{"session_id": null, "request_headers": null, "has_request": true, '
        r'"ctx_request_id": "[0-9a-f-]{36}", "ctx_session_id": null, "wat": null, "oauth2_cb": null\}',
    ),
    post(
        "ctx_all_headers",
        '{"case":"ctx"}',
        headers={
            **JSON,
            SID: "sess-123",
            RID: "req-abc",
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo": "foo-val",
            "Authorization": "Bearer tok123",
            "WorkloadAccessToken": "wat-xyz",
            "OAuth2CallbackUrl": "https://cb.example/cb",
            "X-My-App-Header": "mine",
            "X-Amzn-Trace-Id": "Root=1-abc",
            "X-Amz-Date": "20240101T000000Z",
            "X-Amz-Bedrock-AgentCore-Identity-WAT": "wat-from-identity",
            "User-Agent": "probe/1.0",
            "Accept": "application/json",
            "baggage": "k=v",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        },
    ),
    post(
        "ctx_lowercase_authorization",
        '{"case":"ctx"}',
        headers={**JSON, "authorization": "Bearer lower", SID.lower(): "lower-sess"},
        regex=ESCAPED,
    ),
    post("ctx_empty_session_header", '{"case":"ctx"}', headers={**JSON, SID: ""}, regex=r'\{"session_id": "", .*'),
    post(
        "response_headers_with_session",
        '{"x":1}',
        headers={**JSON, SID: "sess-echo", RID: "rid-echo"},
        note="session id / request id are NOT echoed in response headers",
    ),
    # /ping and tasks.
    ping("ping_idle_before_tasks"),
    post("invoke_starts_async_task", '{"case":"bg","s":2.5}'),
    ping("ping_while_async_task", regex=BUSY),
    ping("ping_after_async_task_done", step="wait_until_healthy"),
    post("manual_add_task", '{"case":"manual_add"}', regex=r'\{"task_id": -?\d+\}'),
    ping("ping_after_manual_add", regex=BUSY),
    post("manual_complete_task", None, regex=r'\{"done": true\}', step="complete_manual_task"),
    post("manual_complete_unknown", json.dumps({"case": "manual_done", "id": 12345})),
    ping("ping_after_manual_complete"),
    ping(
        "ping_during_long_invocation",
        step="during_sleep_invocation",
        note="an in-flight /invocations does NOT make ping HealthyBusy; only tracked async tasks do",
    ),
    # The other handler kinds.
    post("sync_handler_ok", '{"a":1}', mode="sync"),
    post("sync_handler_raises_keyerror", '{"case":"raise"}', mode="sync", note="str(KeyError('x')) includes the quotes"),
    post("syncgen_stream", "{}", mode="syncgen", headers={**JSON, SID: "s-gen"}),
    post("syncgen_stream_error", '{"case":"raise"}', mode="syncgen", headers={**JSON, SID: "s-gen"}),
    post("asyncgen_stream", "{}", mode="asyncgen"),
    post("asyncgen_stream_error", '{"case":"raise"}', mode="asyncgen"),
    post("asyncgen_invalid_json", "nope", mode="asyncgen"),
    post("noentry_invoke", '{"a":1}', mode="noentry"),
    post("noentry_invalid_json", "{", mode="noentry", note="JSON is parsed before the entrypoint check"),
    ping("noentry_ping", mode="noentry"),
    ping("customping_string_HealthyBusy", mode="customping", regex=BUSY),
    ping("badping_falls_back_to_auto", mode="badping"),
    # Debug actions.
    post(
        "debug_action_ping_status",
        json.dumps({"_agent_core_app_action": "ping_status"}),
        mode="debug",
        regex="^" + HEALTHY + "$",
    ),
    post("debug_action_job_status", json.dumps({"_agent_core_app_action": "job_status"}), mode="debug"),
    post("debug_action_force_busy", json.dumps({"_agent_core_app_action": "force_busy"}), mode="debug"),
    ping("debug_ping_after_force_busy", mode="debug", regex=BUSY),
    post("debug_action_force_healthy", '{"_agent_core_app_action":"force_healthy"}', mode="debug"),
    post("debug_action_clear_forced_status", '{"_agent_core_app_action":"clear_forced_status"}', mode="debug"),
    post("debug_action_unknown", '{"_agent_core_app_action":"frobnicate"}', mode="debug"),
    post(
        "debug_action_list_payload",
        "[1,2]",
        mode="debug",
        note="debug mode calls payload.get(); a non-object payload raises AttributeError -> generic 500",
    ),
    post("debug_normal_payload", '{"x":1}', mode="debug"),
    # More methods, and JSON edge cases.
    http("ws_path_plain_http_get", "dispatch", "GET", "/ws"),
    http("invocations_options", "dispatch", "OPTIONS", "/invocations"),
    http("invocations_head", "dispatch", "HEAD", "/invocations"),
    http("invocations_put", "dispatch", "PUT", "/invocations", JSON, "{}"),
    post(
        "nan_literal_input_accepted",
        '{"v": NaN, "w": Infinity}',
        note="Python json.loads accepts NaN/Infinity and echoes them (non-standard JSON)",
    ),
    post("bigint_roundtrip", '{"n": 123456789012345678901234567890, "f": 1.0, "e": 1e5, "neg0": -0.0}'),
    post("duplicate_keys_last_wins", '{"a": 1, "a": 2}'),
    post("utf8_bom_accepted", b'\xef\xbb\xbf{"a": 1}'),
    post("utf16_body_accepted", '{"a": 1}'.encode("utf-16"), note="json.loads(bytes) auto-detects UTF-16/32"),
    post("trailing_garbage", '{"a": 1} x'),
    post("whitespace_only", "   "),
    post("escaped_unicode_input", r'{"s": "\u00e9\ud83d\ude00"}'),
    post(
        "lone_surrogate_input",
        r'{"s": "\ud800"}',
        note="a lone surrogate parses, but the SDK's ensure_ascii=False dump cannot be encoded as UTF-8 -> 500",
    ),
    # WebSocket.
    ws(
        "ws_hello_echo_close",
        "/ws",
        headers={SID: "ws-sess", "X-Amzn-Bedrock-AgentCore-Runtime-Custom-A": "1", "Authorization": "Bearer w"},
        send=['{"x":1}', "plain text", "close"],
    ),
    ws("ws_handler_raises_1011", "/ws", send=["raise"]),
    ws(
        "ws_binary_frame_to_receive_text",
        "/ws",
        send=["hex:0102"],
        note="handler calls receive_text(); a binary frame makes Starlette raise KeyError -> SDK closes 1011",
    ),
    ws(
        "ws_no_handler_registered",
        "/ws",
        mode="noentry",
        note="SDK calls websocket.close(1011) before accept -> uvicorn rejects the handshake with HTTP 403",
    ),
    ws("ws_on_invocations_path", "/invocations"),
    ws("ws_on_unknown_path", "/nope"),
    ws("ws_trailing_slash", "/ws/"),
]


def exchange(method, path, headers=None, body=None):
    conn = httpclient.HTTPConnection(HOST, PORT, timeout=TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


def kept_headers(pairs):
    kept = {}
    for name, value in pairs:
        name = name.lower()
        if name in ("date", "server"):
            continue
        if name in kept:
            raise SystemExit(f"header {name} twice: {pairs}")
        kept[name] = value
    return dict(sorted(kept.items()))


def wait_until_healthy():
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        _, _, body = exchange("GET", "/ping")
        if json.loads(body)["status"] == "Healthy":
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"/ping still {body!r} after {TIMEOUT_S}s")
        time.sleep(0.1)


class Player:
    def __init__(self):
        self.manual_task_id = None

    def play(self, v):
        if v["method"] == "WEBSOCKET":
            return self.play_ws(v)
        body = v["body"]
        step = v["step"]
        if step == "wait_until_healthy":
            wait_until_healthy()
        elif step == "complete_manual_task":
            if self.manual_task_id is None:
                raise SystemExit("manual_complete_task before manual_add_task")
            body = json.dumps({"case": "manual_done", "id": self.manual_task_id})
        wire = body.encode("utf-8") if isinstance(body, str) else body
        if step == "during_sleep_invocation":
            status, headers, data = self.during_sleep(v, wire)
        else:
            status, headers, data = exchange(v["method"], v["path"], v["headers"], wire)
        text = data.decode("utf-8")
        if v["name"] == "manual_add_task":
            self.manual_task_id = json.loads(text)["task_id"]

        request = {"method": v["method"], "path": v["path"], "headers": v["headers"]}
        if isinstance(body, bytes):
            request["body_hex"] = body.hex()
        else:
            request["body"] = body
        response = {"status": status, "headers_subset": kept_headers(headers)}
        regex = v["regex"]
        if regex is None:
            response["body"] = text
        else:
            if regex is ESCAPED:
                regex = "^" + re.escape(text) + "$"
            if not re.fullmatch(regex, text):
                raise SystemExit(f"{v['name']}: body {text!r} does not fully match {regex!r}")
            response["body_regex"] = regex
        return request, response

    def during_sleep(self, v, wire):
        """The vector's request while a `{"case":"sleep","s":1.5}` invocation runs."""
        done = threading.Event()
        result = {}

        def sleeper():
            result["sleep"] = exchange("POST", "/invocations", JSON, b'{"case":"sleep","s":1.5}')
            done.set()

        t = threading.Thread(target=sleeper)
        t.start()
        time.sleep(0.3)  # the sleep invocation is running by now (checked below)
        answer = exchange(v["method"], v["path"], v["headers"], wire)
        overlapped = not done.is_set()
        t.join()
        if not overlapped or result["sleep"][0] != 200:
            raise SystemExit(f"{v['name']}: the ping did not overlap the invocation ({result})")
        return answer

    def play_ws(self, v):
        url = f"ws://{HOST}:{PORT}{v['path']}"
        request = {"method": "WEBSOCKET", "path": v["path"], "headers": v["headers"], "ws_send": v["send"]}
        try:
            sock = connect(url, additional_headers=list(v["headers"].items()), open_timeout=TIMEOUT_S, proxy=None)
        except InvalidStatus as e:
            r = e.response
            response = {
                "status": r.status_code,
                "headers_subset": kept_headers(r.headers.raw_items()),
                "body": r.body.decode("utf-8"),
            }
            return request, response
        received = []
        with sock:
            try:
                for message in v["send"]:
                    sock.send(bytes.fromhex(message[4:]) if message.startswith("hex:") else message)
            except ConnectionClosed:
                pass
            while True:
                try:
                    message = sock.recv(timeout=TIMEOUT_S)
                except ConnectionClosed:
                    break
                if isinstance(message, bytes):
                    message = "hex:" + message.hex()
                received.append(message)
        close = sock.protocol.close_rcvd
        response = {
            "status": 101,
            "headers_subset": {},
            "ws_received": received,
            "ws_close": {"code": close.code if close else None, "reason": close.reason if close else ""},
        }
        return request, response


def serve(mode):
    app = os.path.join(HERE, "agentcore_app.py")
    proc = subprocess.Popen([sys.executable, app, str(PORT), mode], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the {mode} app exited: {proc.stderr.read().decode()}")
        try:
            exchange("GET", "/ping")
            return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the {mode} app did not answer on port {PORT} within {TIMEOUT_S}s")
            time.sleep(0.1)


def main():
    out = sys.argv[1]
    try:
        exchange("GET", "/ping")
        raise SystemExit(f"something already listens on {HOST}:{PORT}; stop it first")
    except OSError:
        pass
    modes = list(dict.fromkeys(v["mode"] for v in VECTORS))
    recorded = {}
    for mode in modes:
        proc = serve(mode)
        try:
            player = Player()
            for v in VECTORS:
                if v["mode"] == mode:
                    recorded[v["name"]] = player.play(v)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(f"  {mode}: {sum(v['mode'] == mode for v in VECTORS)} vectors", file=sys.stderr)

    vectors = []
    for v in VECTORS:
        request, response = recorded[v["name"]]
        entry = {"name": v["name"], "app_mode": v["mode"], "request": request, "response": response}
        if v["note"]:
            entry["note"] = v["note"]
        vectors.append(entry)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
