"""A local Bedrock Runtime endpoint for the tests, checked by AWS's own code (botocore).

Every request's SigV4 signature is recomputed with botocore.auth.SigV4Auth (same credentials,
the request's own x-amz-date) and a mismatch is refused with a 403 as AWS sends it; every body
is validated against botocore's bedrock-runtime service model (ParamValidator on the
Converse / ConverseStream input shape). Answers are scripted by the last user text:

  "tool"       -> a tool call whose input arrives in fragments (then text once a result is there)
  "reason"     -> reasoning (text + signature) then text
  "throttle"   -> ThrottlingException once, then text
  "overflow"   -> ValidationException "Input is too long for requested model"
  "midstream"  -> text, then a modelStreamErrorException frame
  "crc"        -> a frame with a corrupt message CRC
  "denied"     -> AccessDeniedException
  "expired"    -> ExpiredTokenException once, then text
  "nostop"     -> a stream that ends without messageStop
  otherwise    -> text "bedrock says: <text>"

Every frame is encoded here and decoded again with botocore.eventstream.EventStreamBuffer
before it is sent (the corrupt one before it is corrupted), so the framing is botocore's.

Run: python bedrock_endpoint.py PORT_FILE (.venv-strands, which has botocore). Credentials it
accepts: PEER_AWS_ACCESS_KEY_ID / PEER_AWS_SECRET_ACCESS_KEY / PEER_AWS_SESSION_TOKEN, region
PEER_AWS_REGION (default us-east-1). GET /requests returns the bodies received, POST /reset
clears them and the one-shot scripts.
"""

import binascii
import hashlib
import json
import os
import struct
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from botocore.validate import ParamValidator

REGION = os.environ.get("PEER_AWS_REGION", "us-east-1")
CREDS = Credentials(
    os.environ.get("PEER_AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    os.environ.get("PEER_AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    os.environ.get("PEER_AWS_SESSION_TOKEN") or None,
)
SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
LOCK = threading.Lock()
RECEIVED = []
SEEN_ONCE = set()
FRAMES_CHECKED = [0]


def frame(headers, payload):
    """Encodes one event-stream frame (string headers) and checks it with botocore's parser."""
    h = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        h += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 16 + len(h) + len(payload)
    prelude = struct.pack(">II", total, len(h))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + h + payload
    out = body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)
    buf = EventStreamBuffer()
    buf.add_data(out)
    decoded = list(buf)
    assert len(decoded) == 1 and decoded[0].payload == payload, "botocore disagrees with our frame"
    assert {k: v for k, v in decoded[0].headers.items()} == headers
    with LOCK:
        FRAMES_CHECKED[0] += 1
    return out


def event(kind, body):
    return frame(
        {":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body).encode(),
    )


def exception(kind, message):
    return frame(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )


def last_user_text(messages):
    for m in reversed(messages):
        if m.get("role") == "user":
            for block in m.get("content", []):
                if "text" in block:
                    return block["text"]
    return ""


def has_tool_result(messages):
    return bool(messages) and any("toolResult" in b for b in messages[-1].get("content", []))


def text_events(text, stop="end_turn"):
    return [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text[: len(text) // 2]}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text[len(text) // 2 :]}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": stop}),
        ("metadata", {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}, "metrics": {"latencyMs": 7}}),
    ]


def script(body):
    """The answer as (error, events, tail): error = (status, code, message) or None."""
    messages = body.get("messages", [])
    text = last_user_text(messages)
    key = json.dumps(messages, sort_keys=True)

    def once(tag):
        with LOCK:
            if (tag, key) in SEEN_ONCE:
                return False
            SEEN_ONCE.add((tag, key))
            return True

    if "denied" in text:
        return (403, "AccessDeniedException", "User is not authorized to perform this action"), [], None
    if "overflow" in text:
        return (400, "ValidationException", "Input is too long for requested model."), [], None
    if "throttle" in text and once("throttle"):
        return (429, "ThrottlingException", "Too many requests, please wait before trying again."), [], None
    if "expired" in text and once("expired"):
        return (403, "ExpiredTokenException", "The security token included in the request is expired"), [], None
    if "tool" in text and not has_tool_result(messages):
        tools = [t["toolSpec"]["name"] for t in body.get("toolConfig", {}).get("tools", [])]
        name = tools[0] if tools else "missing"
        return None, [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Calling."}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": name}}}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"text": "he'}}}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'llo"}'}}}),
            ("contentBlockStop", {"contentBlockIndex": 1}),
            ("messageStop", {"stopReason": "tool_use"}),
            ("metadata", {"usage": {"inputTokens": 20, "outputTokens": 8, "totalTokens": 28}, "metrics": {"latencyMs": 9}}),
        ], None
    if has_tool_result(messages):
        result = messages[-1]["content"][0]["toolResult"]
        texts = [c.get("text", json.dumps(c.get("json"))) for c in result.get("content", [])]
        return None, text_events("tool said: " + " ".join(texts)), None
    if "reason" in text:
        return None, [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "thinking..."}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig-1"}}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "reasoned"}}),
            ("contentBlockStop", {"contentBlockIndex": 1}),
            ("messageStop", {"stopReason": "end_turn"}),
        ], None
    if "midstream" in text:
        return None, text_events("partial")[:3], ("exception", "modelStreamErrorException", "model stream broke")
    if "crc" in text:
        return None, text_events("x")[:2], ("crc",)
    if "nostop" in text:
        return None, text_events("cut short")[:4], None
    return None, text_events("bedrock says: " + text), None


def converse_json(events):
    """The Converse (non-streaming) answer equivalent to the scripted events."""
    content, current, stop, meta = [], {}, "end_turn", {}
    for kind, body in events:
        if kind == "contentBlockStart":
            current = {"toolUse": dict(body["start"]["toolUse"], input="")}
        elif kind == "contentBlockDelta":
            d = body["delta"]
            if "text" in d:
                current.setdefault("text", "")
                current["text"] += d["text"]
            elif "toolUse" in d:
                current["toolUse"]["input"] += d["toolUse"]["input"]
            elif "reasoningContent" in d:
                rt = current.setdefault("reasoningContent", {"reasoningText": {"text": ""}})["reasoningText"]
                rt["text"] += d["reasoningContent"].get("text", "")
                if "signature" in d["reasoningContent"]:
                    rt["signature"] = d["reasoningContent"]["signature"]
        elif kind == "contentBlockStop":
            if "toolUse" in current:
                current["toolUse"]["input"] = json.loads(current["toolUse"]["input"])
            content.append(current)
            current = {}
        elif kind == "messageStop":
            stop = body["stopReason"]
        elif kind == "metadata":
            meta = body
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop, **meta}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers go out in several small writes: without this, Nagle and the client's delayed ACK
    # add 40 ms to each.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def aws_error(self, status, code, message):
        self.send(
            status,
            json.dumps({"message": message}).encode(),
            [("Content-Type", "application/json"), ("x-amzn-ErrorType", code + ":http://internal.amazon.com/coral/com.amazon.bedrock/")],
        )

    def do_GET(self):
        if self.path == "/requests":
            with LOCK:
                self.send(200, json.dumps({"bodies": RECEIVED, "frames_checked": FRAMES_CHECKED[0]}).encode())
        else:
            self.send(404, b"{}")

    def check_signature(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization header"
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
        signed = parts["SignedHeaders"].split(";")
        for required in ["host", "x-amz-date"] + (["x-amz-security-token"] if CREDS.token else []):
            if required not in signed:
                return f"{required} is not signed"
        if CREDS.token and self.headers.get("x-amz-security-token") != CREDS.token:
            return "wrong session token"
        sha = self.headers.get("x-amz-content-sha256")
        if sha is not None and sha != hashlib.sha256(body).hexdigest():
            return "x-amz-content-sha256 does not match the body"
        headers = {h: self.headers[h] for h in signed if self.headers.get(h) is not None}
        request = AWSRequest(method=self.command, url=f"http://{self.headers['host']}{self.path}", data=body, headers=headers)
        amz_date = self.headers["x-amz-date"]
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(CREDS, "bedrock", REGION)
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        scope = f"{CREDS.access_key}/{amz_date[:8]}/{REGION}/bedrock/aws4_request"
        if parts.get("Credential") != scope:
            return f"credential scope {parts.get('Credential')} is not {scope}"
        if parts.get("Signature") != expected:
            return f"signature mismatch; botocore's canonical request was:\n{canonical}"
        return None

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/reset":
            with LOCK:
                RECEIVED.clear()
                SEEN_ONCE.clear()
            return self.send(200, b"{}")
        parts = self.path.split("/")
        if len(parts) != 4 or parts[1] != "model" or parts[3] not in ("converse", "converse-stream"):
            return self.aws_error(404, "UnknownOperationException", "unknown path " + self.path)
        problem = self.check_signature(body)
        if problem:
            sys.stderr.write(f"bedrock peer: refused signature: {problem}\n")
            return self.aws_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. " + problem.splitlines()[0])
        model_id = urllib.parse.unquote(parts[2])
        try:
            params = json.loads(body)
        except ValueError:
            return self.aws_error(400, "SerializationException", "body is not JSON")
        operation = "ConverseStream" if parts[3] == "converse-stream" else "Converse"
        shape = SERVICE.operation_model(operation).input_shape
        report = ParamValidator().validate(dict(params, modelId=model_id), shape)
        if report.has_errors():
            return self.aws_error(400, "ValidationException", report.generate_report())
        with LOCK:
            received = {"operation": operation, "modelId": model_id, "body": params}
            # The trace context the call carried (only traced runtimes send it).
            trace = {k: self.headers[k] for k in ("traceparent", "tracestate", "baggage", "x-amzn-trace-id") if self.headers.get(k)}
            if trace:
                received["trace_headers"] = trace
            RECEIVED.append(received)
        error, events, tail = script(params)
        if error:
            return self.aws_error(*error)
        if operation == "Converse":
            return self.send(200, json.dumps(converse_json(events)).encode(), [("Content-Type", "application/json")])
        frames = b"".join(event(k, v) for k, v in events)
        if tail and tail[0] == "exception":
            frames += exception(tail[1], tail[2])
        elif tail and tail[0] == "crc":
            bad = bytearray(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "zz"}}))
            bad[-5] ^= 0xFF
            frames += bytes(bad)
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # Odd chunk sizes: frames must be reassembled across reads.
        for i in range(0, len(frames), 37):
            piece = frames[i : i + 37]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
