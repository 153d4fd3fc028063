#!/usr/bin/env python3
"""moto's S3 in server mode (moto 5.2.5, in .venv-s3), for the S3 session store's tests.

Usage: s3_server.py PORT_FILE

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE, serves until killed.

Additions around moto's own WSGI app, nothing else:
- One request at a time. moto checks `If-None-Match: *` / `If-Match` and then writes, in two
  steps, on whichever server thread took the request; S3 decides a conditional write
  atomically. Serialising requests gives moto S3's atomicity (connections still stay open).
- GET /_requests answers the requests served so far as {"GET": n, "PUT": n, "HEAD": n,
  "LIST": n, ...} (LIST = ListObjectsV2), and DELETE /_requests resets them, so tests can count
  the S3 requests of a turn.
- Every SigV4-signed request is checked with AWS's own code (moto does not check signatures):
  the signature is recomputed with botocore's S3SigV4Auth over the headers the request says it
  signed plus any trace header it carries, which botocore leaves out of what it signs
  (SIGNED_HEADERS_BLACKLIST); botocore's list of signed headers must then be the request's, and
  the signatures equal. Otherwise the answer is S3's 403 SignatureDoesNotMatch.
- GET /_traces answers, per request served so far, {"kind", "path" (decoded), "x-amzn-trace-id"
  (or null), "signature": "verified" | "unsigned"}, and DELETE /_traces resets them.
"""

import hashlib
import io
import json
import os
import sys
import threading
from collections import Counter

os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

LOCK = threading.Lock()
COUNTS = Counter()
TRACES = []
# What the tests sign with (tests/it/support/s3.rs, and Strands' boto3 in the environment).
CREDS = Credentials("testing", "testing")
TRACE_HEADERS = ("x-amzn-trace-id", "traceparent", "tracestate", "baggage")


def header(environ, name):
    key = name.upper().replace("-", "_")
    return environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key)


def check_signature(environ, body):
    """None when the request is signed as botocore would sign it; else what is wrong."""
    auth = header(environ, "authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 5 or credential[0] != CREDS.access_key or credential[3:] != ["s3", "aws4_request"]:
        return f"credential scope {parts.get('Credential')}"
    signed = parts.get("SignedHeaders", "").split(";")
    sha = header(environ, "x-amz-content-sha256")
    if sha is None:
        return "no x-amz-content-sha256"
    if len(sha) == 64 and body is not None and sha != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 does not match the body"
    # What botocore would be given: the signed headers and the trace headers the request carries.
    names = signed + [n for n in TRACE_HEADERS if n not in signed and header(environ, n) is not None]
    headers = {n: header(environ, n) for n in names if header(environ, n) is not None}
    url = f"http://{header(environ, 'host')}{environ.get('RAW_URI') or environ.get('REQUEST_URI')}"
    request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, data=body or b"", headers=headers)
    amz_date = header(environ, "x-amz-date") or ""
    request.context["timestamp"] = amz_date
    signer = S3SigV4Auth(CREDS, "s3", credential[2])
    botocore_signed = signer.signed_headers(signer.headers_to_sign(request))
    if botocore_signed != parts.get("SignedHeaders"):
        return f"signed headers {parts.get('SignedHeaders')}, botocore signs {botocore_signed}"
    if credential[1] != amz_date[:8]:
        return "credential date is not x-amz-date's"
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if parts.get("Signature") != expected:
        return f"signature mismatch; botocore's canonical request was:\n{canonical}"
    return None


def refuse(start_response, problem):
    sys.stderr.write(f"s3 peer: refused signature: {problem}\n")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
        "<Message>The request signature we calculated does not match the signature you provided.</Message>"
        "</Error>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def main():
    port_file = sys.argv[1]
    moto = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if path == "/_requests":
            with LOCK:
                body = json.dumps(dict(COUNTS)).encode()
                if method == "DELETE":
                    COUNTS.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/_traces":
            with LOCK:
                body = json.dumps(TRACES).encode()
                if method == "DELETE":
                    TRACES.clear()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        kind = "LIST" if "list-type=2" in environ.get("QUERY_STRING", "") else method
        signature = "unsigned"
        if header(environ, "authorization") is not None:
            length = environ.get("CONTENT_LENGTH")
            body = None
            if length:
                body = environ["wsgi.input"].read(int(length))
                environ["wsgi.input"] = io.BytesIO(body)
            elif method in ("GET", "HEAD", "DELETE"):
                body = b""
            problem = check_signature(environ, body)
            if problem:
                return refuse(start_response, problem)
            signature = "verified"
        with LOCK:
            COUNTS[kind] += 1
            TRACES.append(
                {"kind": kind, "path": path, "x-amzn-trace-id": header(environ, "x-amzn-trace-id"), "signature": signature}
            )
            # The whole answer is produced under the lock: moto writes while building it.
            chunks = []
            head = {}

            def capture(status, headers, exc_info=None):
                head["status"], head["headers"] = status, headers
                return chunks.append

            result = moto(environ, capture)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        start_response(head["status"], head["headers"])
        return chunks

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_port))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
