#!/usr/bin/env python3
"""Loopback load clients for scripts/idle-conns.sh and scripts/soak.sh (Python stdlib only).

  soak_clients.py idle --addr 127.0.0.1:PORT --pid PID [--conns 2000] [--rounds 2]
      Opens idle keep-alive connections (each has had one /ping answered), reports the
      server's VmRSS before/with/after them and the cost per connection, checks /ping still
      answers, closes them and waits for the descriptor count to come back; a second round
      shows whether the memory is reused.

  soak_clients.py soak --addr 127.0.0.1:PORT --pid PID --mock-port P [--seconds 120]
      Mixed traffic for a bounded time: /ping, invocations on reused sessions, SSE streams,
      /ws sessions, some clients leaving mid-stream. Reports requests served, errors, RSS and
      descriptors at start and end; exits 1 when an error happened, RSS grew past the bound,
      or descriptors did not return to their starting count.

Every loop is bounded in time and in count; every socket has a timeout.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import sys
import threading
import time

TIMEOUT = 10.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---- process facts --------------------------------------------------------------------------


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def socket_inodes(pid, pred):
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10:
                continue
            local = int(cols[1].rsplit(":", 1)[1], 16)
            remote = int(cols[2].rsplit(":", 1)[1], 16)
            if pred(local, remote):
                inodes.add(int(cols[9]))
    return inodes


def fd_count(pid, exclude_remote_port=None):
    """Open descriptors of pid, minus its sockets to `exclude_remote_port` (pooled model
    connections: how many stay open is the HTTP client's business, not a leak)."""
    skip = set()
    if exclude_remote_port:
        skip = socket_inodes(pid, lambda _l, r: r == exclude_remote_port)
    n = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in skip:
            continue
        n += 1
    return n


def wait_fds(pid, want, exclude_remote_port, seconds):
    deadline = time.monotonic() + seconds
    while True:
        now = fd_count(pid, exclude_remote_port)
        if now == want or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


# ---- HTTP/1.1 over a raw socket -------------------------------------------------------------


class Http:
    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r = self.sock.makefile("rb")

    def send(self, method, path, body=b"", headers=()):
        head = f"{method} {path} HTTP/1.1\r\nHost: soak\r\n"
        for k, v in headers:
            head += f"{k}: {v}\r\n"
        if body or method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)

    def head(self):
        line = self.r.readline()
        if not line:
            raise ConnectionError("closed before the status line")
        status = int(line.split(b" ", 2)[1])
        headers = {}
        while True:
            h = self.r.readline()
            if h in (b"\r\n", b"\n"):
                return status, headers
            if not h:
                raise ConnectionError("closed in the head")
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()

    def chunks(self):
        while True:
            size = int(self.r.readline().strip() or b"x", 16)
            data = self.r.read(size + 2)[:size]
            if size == 0:
                return
            yield data

    def body(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join(self.chunks())
        return self.r.read(int(headers.get("content-length", "0")))

    def request(self, method, path, body=b"", headers=()):
        self.send(method, path, body, headers)
        status, h = self.head()
        return status, h, self.body(h)

    def close(self, abrupt=False):
        if abrupt:
            # RST instead of FIN: the server sees a client that vanished.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            self.r.close()
            self.sock.close()
        except OSError:
            pass


# ---- WebSocket over a raw socket ------------------------------------------------------------


class Ws:
    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.r = self.sock.makefile("rb")
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
        )
        status = self.r.readline()
        if b" 101 " not in status:
            raise ConnectionError(f"handshake: {status!r}")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        ok = False
        while True:
            h = self.r.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            if h.lower().startswith(b"sec-websocket-accept:"):
                ok = h.split(b":", 1)[1].strip().decode() == accept
        if not ok:
            raise ConnectionError("bad Sec-WebSocket-Accept")

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def recv(self):
        """(opcode, payload) of the next frame; pings are answered on the way."""
        while True:
            b = self.r.read(2)
            if len(b) < 2:
                raise ConnectionError("closed")
            opcode, n = b[0] & 0x0F, b[1] & 0x7F
            if n == 126:
                n = int.from_bytes(self.r.read(2), "big")
            elif n == 127:
                n = int.from_bytes(self.r.read(8), "big")
            payload = self.r.read(n)
            if opcode == 0x9:
                self.send(0xA, payload)
                continue
            return opcode, payload

    def events(self, query, session, drop_after_first=False):
        self.send(0x1, json.dumps({"query": query, "session_id": session}).encode())
        while True:
            opcode, payload = self.recv()
            if opcode != 0x1:
                raise ConnectionError(f"frame {opcode} in a reply")
            event = json.loads(payload)
            if drop_after_first:
                return event
            if event.get("type") in ("final", "error"):
                return event

    def close(self, abrupt=False):
        if not abrupt:
            try:
                self.send(0x8, (1000).to_bytes(2, "big"))
                while self.recv()[0] != 0x8:
                    pass
            except (OSError, ConnectionError, ValueError):
                pass
        else:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            self.r.close()
            self.sock.close()
        except OSError:
            pass


# ---- idle connections -----------------------------------------------------------------------


def ping_ok(addr):
    c = Http(addr)
    try:
        status, _, body = c.request("GET", "/ping")
        return status == 200 and b"Healthy" in body
    finally:
        c.close()


def open_idle(addr, n):
    """n connections that each had one /ping answered, kept open."""
    conns = []
    for i in range(n):
        c = Http(addr)
        status, _, _ = c.request("GET", "/ping")
        if status != 200:
            raise RuntimeError(f"connection {i}: /ping answered {status}")
        conns.append(c)
    return conns


def idle(args):
    addr = parse_addr(args.addr)
    pid = args.pid
    if not ping_ok(addr):
        print("server does not answer /ping")
        return 1
    time.sleep(0.5)
    fd0, rss0 = fd_count(pid), rss_kib(pid)
    print(f"idle keep-alive connections: {args.conns} per round, {args.rounds} rounds")
    print(f"  VmRSS before:               {rss0:8d} KiB, {fd0} descriptors")
    ok = True
    for r in range(1, args.rounds + 1):
        started = time.monotonic()
        conns = open_idle(addr, args.conns)
        opened_s = time.monotonic() - started
        time.sleep(1.0)
        fd1, rss1 = fd_count(pid), rss_kib(pid)
        t = time.monotonic()
        fresh_ok = ping_ok(addr)
        fresh_ms = (time.monotonic() - t) * 1000
        status, _, _ = conns[0].request("GET", "/ping")
        kept_ok = status == 200
        for c in conns:
            c.close()
        fd2 = wait_fds(pid, fd0, None, 20)
        time.sleep(0.5)
        rss2 = rss_kib(pid)
        per_conn = (rss1 - rss0) / args.conns
        print(f"  round {r}: opened in {opened_s:.2f} s")
        print(f"    VmRSS with them open:     {rss1:8d} KiB  (+{rss1 - rss0} KiB over before: "
              f"{per_conn:.1f} KiB per connection), {fd1} descriptors")
        print(f"    /ping meanwhile: fresh connection {'ok' if fresh_ok else 'FAILED'} ({fresh_ms:.1f} ms), "
              f"first idle connection {'ok' if kept_ok else 'FAILED'}")
        print(f"    VmRSS after closing them: {rss2:8d} KiB, {fd2} descriptors")
        ok &= fresh_ok and kept_ok and fd1 == fd0 + args.conns and fd2 == fd0
    if not ok:
        print("FAILED")
        return 1
    return 0


# ---- soak -----------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.errors = []

    def ok(self, kind, n=1):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + n

    def error(self, kind, what):
        with self.lock:
            self.counts[kind + " errors"] = self.counts.get(kind + " errors", 0) + 1
            if len(self.errors) < 20:
                self.errors.append(f"{kind}: {what}")


MAX_PER_THREAD = 1_000_000  # a count bound on top of the time bound
TURNS_PER_SESSION = 40  # sessions are reused for this many turns, then a new one starts
PING_INTERVAL = 0.002


def session_name(kind, worker, n):
    return f"soak-{kind}-{worker}-{n // TURNS_PER_SESSION}"


def pinger(addr, deadline, stats):
    c, n = None, 0
    while time.monotonic() < deadline and n < MAX_PER_THREAD:
        n += 1
        try:
            c = c or Http(addr)
            status, _, body = c.request("GET", "/ping")
            if status == 200 and b"Healthy" in body:
                stats.ok("ping")
            else:
                stats.error("ping", f"{status} {body[:100]!r}")
        except (OSError, ConnectionError, ValueError) as e:
            stats.error("ping", repr(e))
            c = None
        # A health checker's pace, not a flood: the GIL would starve the other clients.
        time.sleep(PING_INTERVAL)
    if c:
        c.close()


def invoker(addr, deadline, stats, worker):
    c, n = None, 0
    while time.monotonic() < deadline and n < MAX_PER_THREAD:
        body = json.dumps({"query": f"turn {n}", "session_id": session_name("inv", worker, n)}).encode()
        n += 1
        try:
            c = c or Http(addr)
            status, _, got = c.request("POST", "/invocations", body, [("Content-Type", "application/json")])
            if status == 200 and json.loads(got).get("response"):
                stats.ok("invocation")
            else:
                stats.error("invocation", f"{status} {got[:200]!r}")
        except (OSError, ConnectionError, ValueError) as e:
            stats.error("invocation", repr(e))
            c = None
    if c:
        c.close()


def sse_client(addr, deadline, stats, worker):
    c, n = None, 0
    while time.monotonic() < deadline and n < MAX_PER_THREAD:
        body = json.dumps({"query": f"turn {n}", "session_id": session_name("sse", worker, n), "stream": True})
        leave = n % 4 == 3
        n += 1
        try:
            c = c or Http(addr)
            c.send("POST", "/invocations", body.encode(), [("Content-Type", "application/json")])
            status, h = c.head()
            if status != 200 or not h.get("content-type", "").startswith("text/event-stream"):
                stats.error("sse", f"{status} {h}")
                c.close()
                c = None
                continue
            if leave:
                next(c.chunks())
                c.close(abrupt=True)
                c = None
                stats.ok("sse left mid-stream")
                continue
            events = [json.loads(chunk.decode()[len("data: ") :]) for chunk in c.chunks()]
            if events and events[-1].get("type") == "final":
                stats.ok("sse stream")
            else:
                stats.error("sse", f"last event {events[-1:]}")
        except (OSError, ConnectionError, ValueError, StopIteration) as e:
            stats.error("sse", repr(e))
            if c:
                c.close()
            c = None
    if c:
        c.close()


def ws_client(addr, deadline, stats, worker):
    n = 0
    while time.monotonic() < deadline and n < MAX_PER_THREAD:
        ws = None
        try:
            ws = Ws(addr)
            stats.ok("ws session")
            for _ in range(3):
                leave = n % 5 == 4
                event = ws.events(f"turn {n}", session_name("ws", worker, n), drop_after_first=leave)
                n += 1
                if leave:
                    ws.close(abrupt=True)
                    ws = None
                    stats.ok("ws left mid-stream")
                    break
                if event.get("type") == "final":
                    stats.ok("ws query")
                else:
                    stats.error("ws", f"event {event}")
            if ws:
                ws.close()
        except (OSError, ConnectionError, ValueError) as e:
            stats.error("ws", repr(e))
            if ws:
                ws.close(abrupt=True)
            n += 1


def soak(args):
    addr = parse_addr(args.addr)
    pid, mock_port = args.pid, args.mock_port
    seconds = max(10, min(args.seconds, 280))
    if not ping_ok(addr):
        print("server does not answer /ping")
        return 1
    time.sleep(0.5)
    fd_start = fd_count(pid, mock_port)
    rss_idle = rss_kib(pid)
    stats = Stats()
    begin = time.monotonic()
    deadline = begin + seconds
    workers = [threading.Thread(target=pinger, args=(addr, deadline, stats))]
    workers += [threading.Thread(target=invoker, args=(addr, deadline, stats, i)) for i in range(args.invokers)]
    workers += [threading.Thread(target=sse_client, args=(addr, deadline, stats, i)) for i in range(args.sse)]
    workers += [threading.Thread(target=ws_client, args=(addr, deadline, stats, i)) for i in range(args.ws)]
    for w in workers:
        w.daemon = True
        w.start()
    # RSS once the traffic has warmed the server up (thread stacks, pools, allocator arenas).
    warm = min(15.0, seconds / 6)
    samples = []
    rss_start = None
    while time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))
        elapsed = time.monotonic() - begin
        rss = rss_kib(pid)
        samples.append((round(elapsed), rss))
        if rss_start is None and elapsed >= warm:
            rss_start = rss
    for w in workers:
        w.join(TIMEOUT * 3)
    stuck = sum(w.is_alive() for w in workers)
    rss_end = rss_kib(pid)
    fd_end = wait_fds(pid, fd_start, mock_port, args.settle)
    rss_settled = rss_kib(pid)
    rss_start = rss_start or rss_idle
    growth = rss_end - rss_start
    bound = args.rss_growth_mib * 1024
    served = sum(v for k, v in stats.counts.items() if not k.endswith("errors"))
    errors = sum(v for k, v in stats.counts.items() if k.endswith("errors"))

    print(f"soak: {seconds} s, {len(workers)} client threads "
          f"(1 ping, {args.invokers} invoke, {args.sse} SSE, {args.ws} WebSocket)")
    for k in sorted(stats.counts):
        print(f"  {k:24s} {stats.counts[k]:8d}")
    print(f"  served {served} requests/sessions/queries, {errors} errors ({served / seconds:.0f}/s)")
    for e in stats.errors:
        print(f"  error: {e}")
    print(f"  VmRSS idle {rss_idle} KiB, after {warm:.0f} s warm-up {rss_start} KiB, "
          f"at end {rss_end} KiB (growth {growth:+d} KiB, bound {bound} KiB), settled {rss_settled} KiB")
    print("  VmRSS samples (s: KiB): " + ", ".join(f"{s}: {r}" for s, r in samples))
    print(f"  descriptors (model connections aside): {fd_start} at start, {fd_end} at end "
          f"after up to {args.settle} s of settling")
    failed = []
    if errors:
        failed.append(f"{errors} errors")
    if growth > bound:
        failed.append(f"RSS grew {growth} KiB > {bound} KiB")
    if fd_end != fd_start:
        failed.append(f"descriptors {fd_start} -> {fd_end}")
    if stuck:
        failed.append(f"{stuck} client threads did not finish")
    if failed:
        print("FAILED: " + "; ".join(failed))
        return 1
    print("PASSED")
    return 0


def parse_addr(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("idle")
    i.add_argument("--addr", required=True)
    i.add_argument("--pid", type=int, required=True)
    i.add_argument("--conns", type=int, default=2000)
    i.add_argument("--rounds", type=int, default=2)
    s = sub.add_parser("soak")
    s.add_argument("--addr", required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--mock-port", type=int, required=True)
    s.add_argument("--seconds", type=int, default=120)
    s.add_argument("--invokers", type=int, default=3)
    s.add_argument("--sse", type=int, default=2)
    s.add_argument("--ws", type=int, default=2)
    s.add_argument("--settle", type=int, default=20)
    s.add_argument("--rss-growth-mib", type=int, default=8)
    args = ap.parse_args()
    return idle(args) if args.cmd == "idle" else soak(args)


if __name__ == "__main__":
    sys.exit(main())
