"""Local stand-ins for the AWS credential endpoints, for tests/it/aws.rs.

One HTTP server (stdlib only, plus botocore to check signatures) serving, by path prefix:

  /container/...   the container credentials endpoint (ECS, EKS Pod Identity): a GET that must
                   carry `Authorization: <CONTAINER_TOKEN>`; answers the JSON the agents answer.
  /sts             STS's query API. AssumeRoleWithWebIdentity must be unsigned and carry the
                   token the test wrote into the token file (WEB_IDENTITY_TOKEN). AssumeRole must
                   be SigV4-signed (service sts): the signature is recomputed with
                   botocore.auth.SigV4Auth using the secret of the access key it names (the
                   test's static source keys, or credentials this stand-in issued earlier, for
                   role chains) and refused on mismatch.
  /imds/...        EC2 instance metadata, IMDSv2: PUT /latest/api/token (with the TTL header)
                   gives a session token; every GET without a valid one is a 401.

Every credential it issues is new (ASIA<kind><n>) and expires `lifetime` seconds ahead
(default 3600; POST /config {"lifetime": N} changes it; {"fail": ["container", ...]} makes
those endpoints answer 500; {"delay": seconds} slows the container endpoint down). GET /log lists what was served, for the test to count fetches.

Run: .venv-strands/bin/python aws_standins.py PORT_FILE (the port is written when listening).
"""

import datetime
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CONTAINER_TOKEN = "container-auth-token-7f3a"
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.web-identity.sig"
# The static keys the tests put in profiles / the environment as AssumeRole sources.
SOURCE_KEYS = {"AKIDSOURCE": ("source-secret-key", None)}
ROLE_NAME = "standin-instance-role"
REGION_ANSWER = "eu-central-1"

LOCK = threading.Lock()
LOG = []  # {"kind": ..., ...}
ISSUED = dict(SOURCE_KEYS)  # access key -> (secret, token)
IMDS_TOKENS = set()
CONFIG = {"lifetime": 3600, "fail": []}
COUNTER = [0]


def issue(kind):
    with LOCK:
        COUNTER[0] += 1
        key = f"ASIA{kind.upper()}{COUNTER[0]}"
        secret = secrets.token_urlsafe(24)
        token = secrets.token_urlsafe(48)
        ISSUED[key] = (secret, token)
        lifetime = CONFIG["lifetime"]
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
    return key, secret, token, expires.strftime("%Y-%m-%dT%H:%M:%SZ")


def sts_credentials_xml(action, key, secret, token, expiration):
    return f"""<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <{action}Result>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{key}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
  </{action}Result>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</{action}Response>""".encode()


def sts_error(code, message, status=400):
    body = f"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>""".encode()
    return status, "text/xml", body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers go out in several small writes: without this, Nagle and the client's delayed ACK
    # add 40 ms to each.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def record(self, **event):
        with LOCK:
            LOG.append(event)

    def failing(self, kind):
        with LOCK:
            return kind in CONFIG["fail"]

    # --- control ---------------------------------------------------------------------------

    def control(self, method, body):
        if self.path == "/log" and method == "GET":
            with LOCK:
                return 200, "application/json", json.dumps(LOG).encode()
        if self.path == "/config" and method == "POST":
            with LOCK:
                CONFIG.update(json.loads(body))
            return 200, "application/json", b"{}"
        return 404, "text/plain", b"unknown control path"

    # --- container -------------------------------------------------------------------------

    def container(self):
        auth = self.headers.get("Authorization")
        if auth != CONTAINER_TOKEN:
            self.record(kind="container", ok=False, why="authorization")
            return 401, "application/json", b'{"message":"bad authorization"}'
        with LOCK:
            delay = CONFIG.get("delay", 0)
        if delay:
            time.sleep(delay)
        if self.failing("container"):
            self.record(kind="container", ok=False, why="failing")
            return 500, "application/json", b'{"message":"down"}'
        key, secret, token, expiration = issue("container")
        self.record(kind="container", ok=True, key=key)
        body = {
            "AccessKeyId": key,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": expiration,
            "RoleArn": "arn:aws:iam::123456789012:role/task",
        }
        return 200, "application/json", json.dumps(body).encode()

    # --- IMDS ------------------------------------------------------------------------------

    def imds(self, method):
        path = self.path[len("/imds") :]
        if method == "PUT" and path == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                self.record(kind="imds-token", ok=False)
                return 400, "text/plain", b"missing or bad ttl"
            token = secrets.token_urlsafe(32)
            with LOCK:
                IMDS_TOKENS.add(token)
            self.record(kind="imds-token", ok=True)
            return 200, "text/plain", token.encode()
        if method != "GET":
            return 405, "text/plain", b""
        token = self.headers.get("X-aws-ec2-metadata-token")
        with LOCK:
            valid = token in IMDS_TOKENS
        if not valid:
            self.record(kind="imds", ok=False, path=path, why="token")
            return 401, "text/plain", b""
        if self.failing("imds"):
            self.record(kind="imds", ok=False, path=path, why="failing")
            return 500, "text/plain", b""
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            self.record(kind="imds", ok=True, path=path)
            return 200, "text/plain", ROLE_NAME.encode()
        if path == base + ROLE_NAME:
            key, secret, token, expiration = issue("imds")
            self.record(kind="imds-credentials", ok=True, key=key)
            body = {
                "Code": "Success",
                "LastUpdated": expiration,
                "Type": "AWS-HMAC",
                "AccessKeyId": key,
                "SecretAccessKey": secret,
                "Token": token,
                "Expiration": expiration,
            }
            return 200, "text/plain", json.dumps(body).encode()
        if path == "/latest/meta-data/placement/region":
            self.record(kind="imds-region", ok=True)
            return 200, "text/plain", REGION_ANSWER.encode()
        return 404, "text/plain", b""

    # --- STS -------------------------------------------------------------------------------

    def sts(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        action = form.get("Action")
        if form.get("Version") != "2011-06-15":
            return sts_error("InvalidAction", "bad Version")
        if self.failing("sts"):
            self.record(kind="sts", ok=False, why="failing")
            return sts_error("ServiceUnavailable", "down", 503)
        if action == "AssumeRoleWithWebIdentity":
            if "Authorization" in self.headers:
                return sts_error("InvalidRequest", "AssumeRoleWithWebIdentity must not be signed")
            if form.get("WebIdentityToken") != WEB_IDENTITY_TOKEN:
                self.record(kind="web-identity", ok=False)
                return sts_error("InvalidIdentityToken", "the token is not the one issued")
            if not form.get("RoleArn") or not form.get("RoleSessionName"):
                return sts_error("ValidationError", "RoleArn and RoleSessionName are required")
            key, secret, token, expiration = issue("webid")
            self.record(kind="web-identity", ok=True, role=form["RoleArn"], session=form["RoleSessionName"], key=key)
            return 200, "text/xml", sts_credentials_xml(action, key, secret, token, expiration)
        if action == "AssumeRole":
            problem, signer_key = self.check_signature(body)
            if problem:
                sys.stderr.write(f"sts stand-in: refused signature: {problem}\n")
                self.record(kind="assume-role", ok=False, why=problem)
                return sts_error("SignatureDoesNotMatch", "signature mismatch", 403)
            key, secret, token, expiration = issue("role")
            self.record(
                kind="assume-role",
                ok=True,
                role=form.get("RoleArn"),
                session=form.get("RoleSessionName"),
                external_id=form.get("ExternalId"),
                duration=form.get("DurationSeconds"),
                signed_by=signer_key,
                key=key,
            )
            return 200, "text/xml", sts_credentials_xml(action, key, secret, token, expiration)
        return sts_error("InvalidAction", f"unknown action {action}")

    def check_signature(self, body):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "no SigV4 Authorization header", None
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
        scope = parts.get("Credential", "").split("/")
        if len(scope) != 5 or scope[3] != "sts" or scope[4] != "aws4_request":
            return f"bad credential scope {parts.get('Credential')}", None
        access_key, region = scope[0], scope[2]
        with LOCK:
            known = ISSUED.get(access_key)
        if known is None:
            return f"unknown access key {access_key}", None
        secret, token = known
        creds = Credentials(access_key, secret, token)
        signed = parts["SignedHeaders"].split(";")
        for required in ["host", "x-amz-date"] + (["x-amz-security-token"] if token else []):
            if required not in signed:
                return f"{required} is not signed", None
        if token and self.headers.get("x-amz-security-token") != token:
            return "wrong session token", None
        sha = self.headers.get("x-amz-content-sha256")
        if sha is not None and sha != hashlib.sha256(body).hexdigest():
            return "x-amz-content-sha256 does not match the body", None
        headers = {h: self.headers[h] for h in signed if self.headers.get(h) is not None}
        request = AWSRequest(method=self.command, url=f"http://{self.headers['host']}{self.path}", data=body, headers=headers)
        amz_date = self.headers["x-amz-date"]
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(creds, "sts", region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if parts.get("Signature") != expected:
            return f"signature mismatch; botocore's canonical request was:\n{canonical}", None
        return None, access_key

    # --- dispatch --------------------------------------------------------------------------

    def dispatch(self, method):
        body = self.body() if method in ("POST", "PUT") else b""
        if self.path.startswith("/container"):
            answer = self.container() if method == "GET" else (405, "text/plain", b"")
        elif self.path.startswith("/imds"):
            answer = self.imds(method)
        elif self.path.startswith("/sts"):
            answer = self.sts(body) if method == "POST" else (405, "text/plain", b"")
        else:
            answer = self.control(method, body)
        self.send(*answer)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client closing an idle keep-alive connection is not an error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
