"""botocore's SigV4 signatures for a batch of requests (the reference for src/aws/sigv4.rs).

Reads a JSON array of cases on stdin, writes a JSON array of results on stdout, in order.
A case: {"method", "url", "headers": [[name, value], ...], "body_b64", "service", "region",
"time": unix seconds, "access_key", "secret_key", "token": str|null, "unsigned_payload": bool}.
A result: {"headers": [[lower-case name, value], ...] (the request's headers after
botocore signed it, in its order), "canonical_request": str (for failure messages)}.

Signing is botocore's own: SigV4Auth, or S3SigV4Auth for service "s3" (the class botocore's
S3 client uses for "s3v4"), with botocore's clock replaced by the case's time.
"unsigned_payload" sets S3's `payload_signing_enabled = False` client option, botocore's way
to send UNSIGNED-PAYLOAD.

Run with .venv-strands/bin/python (botocore pinned in requirements-strands.txt).
"""

import base64
import datetime
import json
import sys
import types

import botocore.auth
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    now = datetime.datetime.fromtimestamp(case["time"], tz=datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda: now
    request = AWSRequest(method=case["method"], url=case["url"], data=base64.b64decode(case["body_b64"]))
    for name, value in case["headers"]:
        # HTTPHeaders appends on assignment: a repeated name stays repeated.
        request.headers[name] = value
    if case.get("unsigned_payload"):
        request.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
    creds = Credentials(case["access_key"], case["secret_key"], case.get("token"))
    cls = S3SigV4Auth if case["service"] == "s3" else SigV4Auth
    signer = cls(creds, case["service"], case["region"])
    signer.add_auth(request)
    headers = [[n.lower(), v] for n, v in request.headers.items()]
    # The canonical request as add_auth saw it, before it added Authorization.
    del request.headers["Authorization"]
    return {"headers": headers, "canonical_request": signer.canonical_request(request)}


def main():
    cases = json.load(sys.stdin)
    json.dump([sign(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
