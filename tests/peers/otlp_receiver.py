"""A local OTLP/HTTP trace receiver for the tests, decoding with the official opentelemetry-proto.

POST /v1/traces takes `application/x-protobuf` or `application/json`:
- protobuf: `ExportTraceServiceRequest.ParseFromString`, then strictness beyond the parser's (which
  keeps unknown fields silently): no unknown fields anywhere (protobuf's UnknownFieldSet), and the
  message re-serialised is byte for byte what was sent (so the encoding is canonical too);
- JSON: the OTLP/JSON rules the protobuf mapping does not check (ids in lower-case hex, 64-bit
  integers as strings, enums as integers), then the ids turned to base64 and
  `google.protobuf.json_format.Parse(..., ignore_unknown_fields=False)`.
Decoded requests are kept (`json_format.MessageToDict`, ids back in hex) for GET /_requests.

With PEER_SIGV4_REGION set, every export must carry a SigV4 signature (service `xray`) that
botocore's SigV4Auth recomputes identically from the request as received (credentials from
PEER_AWS_ACCESS_KEY_ID / PEER_AWS_SECRET_ACCESS_KEY / PEER_AWS_SESSION_TOKEN, AWS's example keys
by default); otherwise 403.

Faults (POST /_fault {"mode", "count", "retry_after", "delay"}), for the next `count` exports
(all when absent): "500", "503", "429" (with Retry-After when given), "slow" (answer 200 after
`delay` seconds), "close" (read the request, close without an answer), "partial" (take the
request, answer 200 with a partial success rejecting `rejected` spans, encoded by the official
package in the request's encoding). POST /_reset clears everything. PEER_PORT picks the port
(a collector that comes up after the exporter started). GET /_requests returns {"requests": [...], "errors": [...], "attempts": n}.

Run: python otlp_receiver.py PORT_FILE (.venv-otel).
"""

import base64
import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

try:
    from google.protobuf.unknown_fields import UnknownFieldSet
except ImportError:  # older protobuf: the byte-exact round trip still catches unknown fields
    UnknownFieldSet = None

LOCK = threading.Lock()
REQUESTS = []
ERRORS = []
ATTEMPTS = [0]
FAULT = {}

REGION = os.environ.get("PEER_SIGV4_REGION")
CREDS = Credentials(
    os.environ.get("PEER_AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    os.environ.get("PEER_AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    os.environ.get("PEER_AWS_SESSION_TOKEN") or None,
)

ID_FIELDS = {"traceId": 32, "spanId": 16, "parentSpanId": 16}


def unknown_fields(message, path="request"):
    """Paths of every unknown field in `message` and its sub-messages."""
    found = []
    if UnknownFieldSet is not None and len(UnknownFieldSet(message)):
        found.append(path)
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            for i, item in enumerate(value):
                found += unknown_fields(item, f"{path}.{field.name}[{i}]")
        else:
            found += unknown_fields(value, f"{path}.{field.name}")
    return found


def check_otlp_json(node, path, problems):
    """The OTLP/JSON rules beyond protobuf's mapping; turns hex ids into base64 in place."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            check_otlp_json(item, f"{path}[{i}]", problems)
        return
    if not isinstance(node, dict):
        return
    for key, value in list(node.items()):
        where = f"{path}.{key}"
        if key in ID_FIELDS:
            width = ID_FIELDS[key]
            if not (isinstance(value, str) and len(value) == width and all(c in "0123456789abcdef" for c in value)):
                problems.append(f"{where} is not {width} lower-case hex digits: {value!r}")
            else:
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
        elif key.endswith("UnixNano") or key == "intValue":
            if not (isinstance(value, str) and value.lstrip("-").isdigit()):
                problems.append(f"{where} is not a decimal string: {value!r}")
        elif key in ("kind", "code"):
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"{where} is not an integer enum: {value!r}")
        elif key[:1].isupper() or "_" in key:
            problems.append(f"{where} is not lowerCamelCase")
        check_otlp_json(value, where, problems)


def ids_to_hex(node):
    if isinstance(node, list):
        for item in node:
            ids_to_hex(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                ids_to_hex(value)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                body = json.dumps({"requests": REQUESTS, "errors": ERRORS, "attempts": ATTEMPTS[0]})
            self.send(200, body.encode())
        else:
            self.send(404, b"{}")

    def check_signature(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization header"
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
        signed = parts["SignedHeaders"].split(";")
        for required in ["content-type", "host", "x-amz-date"] + (["x-amz-security-token"] if CREDS.token else []):
            if required not in signed:
                return f"{required} is not signed"
        if CREDS.token and self.headers.get("x-amz-security-token") != CREDS.token:
            return "wrong session token"
        headers = {h: self.headers[h] for h in signed if self.headers.get(h) is not None}
        request = AWSRequest(method=self.command, url=f"http://{self.headers['host']}{self.path}", data=body, headers=headers)
        amz_date = self.headers["x-amz-date"]
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(CREDS, "xray", REGION)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        scope = f"{CREDS.access_key}/{amz_date[:8]}/{REGION}/xray/aws4_request"
        if parts.get("Credential") != scope:
            return f"credential scope {parts.get('Credential')} is not {scope}"
        if parts.get("Signature") != expected:
            return f"signature mismatch; botocore's canonical request was:\n{canonical}"
        return None

    def decode(self, body):
        """(decoded dict, None) or (None, why)."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        request = ExportTraceServiceRequest()
        if content_type == "application/x-protobuf":
            try:
                request.ParseFromString(body)
            except Exception as e:  # noqa: BLE001 - any parse failure is the finding
                return None, f"protobuf does not parse: {e}"
            unknown = unknown_fields(request)
            if unknown:
                return None, f"unknown fields at {unknown}"
            if request.SerializeToString(deterministic=True) != body:
                return None, "not canonical: the re-serialised message differs from the bytes sent"
            encoding = "protobuf"
        elif content_type == "application/json":
            try:
                raw = json.loads(body)
            except ValueError as e:
                return None, f"not JSON: {e}"
            problems = []
            check_otlp_json(raw, "request", problems)
            if problems:
                return None, "; ".join(problems)
            try:
                json_format.Parse(json.dumps(raw), request, ignore_unknown_fields=False)
            except json_format.ParseError as e:
                return None, f"json_format.Parse refuses it: {e}"
            encoding = "json"
        else:
            return None, f"unexpected Content-Type {content_type!r}"
        decoded = json_format.MessageToDict(request)
        ids_to_hex(decoded)
        return {"encoding": encoding, "request": decoded}, None

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/_reset":
            with LOCK:
                REQUESTS.clear()
                ERRORS.clear()
                FAULT.clear()
                ATTEMPTS[0] = 0
            return self.send(200, b"{}")
        if self.path == "/_fault":
            with LOCK:
                FAULT.clear()
                FAULT.update(json.loads(body))
            return self.send(200, b"{}")
        if self.path != "/v1/traces":
            return self.send(404, b"{}")
        with LOCK:
            ATTEMPTS[0] += 1
            fault = None
            if FAULT.get("mode") and FAULT.get("count", 1) > 0:
                fault = dict(FAULT)
                if "count" in FAULT:
                    FAULT["count"] -= 1
        partial = fault if fault and fault["mode"] == "partial" else None
        if fault and not partial:
            mode = fault["mode"]
            if mode == "close":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if mode == "slow":
                time.sleep(float(fault.get("delay", 5)))
            else:
                headers = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
                return self.send(int(mode), b'{"message":"fault injected"}', headers=headers)
        if REGION:
            why = self.check_signature(body)
            if why:
                with LOCK:
                    ERRORS.append(why)
                return self.send(403, json.dumps({"message": why}).encode())
        try:
            decoded, why = self.decode(body)
        except Exception as e:  # noqa: BLE001 - a receiver bug must show, not hang the exporter
            decoded, why = None, f"receiver error: {e!r}"
        if why:
            with LOCK:
                ERRORS.append(why)
            return self.send(400, json.dumps({"message": why}).encode())
        decoded["headers"] = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        decoded["signed"] = bool(REGION)
        with LOCK:
            REQUESTS.append(decoded)
        response = ExportTraceServiceResponse()
        if partial:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=int(partial.get("rejected", 1)), error_message=partial.get("message", ""))
            )
        if decoded["encoding"] == "json":
            self.send(200, json_format.MessageToJson(response).encode())
        else:
            self.send(200, response.SerializeToString(), content_type="application/x-protobuf")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PEER_PORT", "0"))), Handler)
    server.daemon_threads = True
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
