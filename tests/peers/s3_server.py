#!/usr/bin/env python3
"""moto's S3 in server mode (moto 5.2.5, in .venv-s3), for the S3 session store's tests.

Usage: s3_server.py PORT_FILE

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE, serves until killed.

Two additions around moto's own WSGI app, nothing else:
- One request at a time. moto checks `If-None-Match: *` / `If-Match` and then writes, in two
  steps, on whichever server thread took the request; S3 decides a conditional write
  atomically. Serialising requests gives moto S3's atomicity (connections still stay open).
- GET /_requests answers the requests served so far as {"GET": n, "PUT": n, "HEAD": n,
  "LIST": n, ...} (LIST = ListObjectsV2), and DELETE /_requests resets them, so tests can count
  the S3 requests of a turn.
"""

import json
import os
import sys
import threading
from collections import Counter

os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

LOCK = threading.Lock()
COUNTS = Counter()


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
        with LOCK:
            kind = "LIST" if "list-type=2" in environ.get("QUERY_STRING", "") else method
            COUNTS[kind] += 1
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
