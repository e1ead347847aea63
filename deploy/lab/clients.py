#!/usr/bin/env python3
"""Clients for the scale-out lab (standard library only). Run in the lab's client namespace:
`lab.sh clients --id ID MODE ...` (which is `ip netns exec ID-cl python3 clients.py MODE ...`).

  loop      new connections one after another, each a GET /whoami with short timeouts; one JSON
            line per attempt as it happens, then one summary line (failures, longest time
            without a success): what a user sees during a failover.
  whoami    each of COUNT clients, every one bound to its own source address, asks /whoami once;
            prints {"answers": {source: backend or null}, ...}.
  download  one slow GET (a reader throttled to RATE bytes/s) that must arrive whole; prints a
            line once the response head is in, then a summary.

Every line printed is a JSON object, so a test can follow progress and parse the end.
"""

import argparse
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def emit(obj):
    print(json.dumps(obj, separators=(",", ":")), flush=True)


def split_target(target):
    """HOST:PORT or [V6]:PORT -> (family, host, port)."""
    if target.startswith("["):
        host, _, port = target[1:].partition("]:")
        return socket.AF_INET6, host, int(port)
    host, _, port = target.rpartition(":")
    return socket.AF_INET, host, int(port)


class Response:
    def __init__(self, status, headers, body_length, body):
        self.status = status
        self.headers = headers
        self.body_length = body_length
        self.body = body


def http_get(target, path, source=None, connect_timeout=1.0, timeout=2.0, on_head=None,
             rate=None, rcvbuf=None):
    """One GET on a fresh connection (Connection: close). With `rate`, the body is read at about
    that many bytes a second (with a small receive buffer the sender really slows down)."""
    family, host, port = split_target(target)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            sock.bind((source, 0))
        sock.settimeout(connect_timeout)
        sock.connect((host, port))
        sock.settimeout(timeout)
        host_header = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before a response head ({len(data)} bytes)")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if on_head:
            on_head(status, headers)
        declared = int(headers["content-length"]) if "content-length" in headers else None
        body = bytearray(rest) if declared is None or declared <= 65536 else None
        received = len(rest)
        started = time.monotonic()
        while declared is None or received < declared:
            want = 65536 if rate is None else max(1024, min(65536, rate // 10))
            chunk = sock.recv(want)
            if not chunk:
                break
            received += len(chunk)
            if body is not None:
                body += chunk
            if rate:
                ahead = received / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        return Response(status, headers, received, bytes(body) if body is not None else b"")
    finally:
        sock.close()


def loop(args):
    stop = threading.Event()
    for signo in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signo, lambda *_: stop.set())
    deadline = time.monotonic() + args.duration
    attempts = failures = 0
    last_success = None
    longest_gap = 0.0
    first_failure = None
    last_failure = None
    backends = {}
    emit({"event": "started", "t": time.time()})
    while not stop.is_set() and time.monotonic() < deadline:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        began = time.monotonic()
        attempts += 1
        record = {"event": "attempt", "n": attempts, "t": time.time()}
        try:
            response = http_get(args.target, "/whoami", source=args.source,
                                connect_timeout=args.connect_timeout, timeout=args.timeout)
            ok = response.status == 200
            backend = response.body.decode(errors="replace").strip() if ok else None
            record.update(ok=ok, status=response.status, backend=backend)
            if not ok:
                record["error"] = f"status {response.status}"
        except (OSError, ValueError, IndexError) as error:
            ok = False
            record.update(ok=False, error=f"{type(error).__name__}: {error}")
        now = time.monotonic()
        record["ms"] = round((now - began) * 1000, 1)
        if ok:
            if last_success is not None:
                longest_gap = max(longest_gap, now - last_success)
            last_success = now
            backends[record["backend"]] = backends.get(record["backend"], 0) + 1
        else:
            failures += 1
            first_failure = first_failure or record["t"]
            last_failure = record["t"]
        emit(record)
        rest = args.interval - (time.monotonic() - began)
        if rest > 0:
            stop.wait(rest)
    emit({"event": "summary", "attempts": attempts, "failed": failures,
          "succeeded": attempts - failures,
          # The longest time between two successes in a row: the outage a user would notice
          # (includes the loop's own interval, so about `interval` when nothing failed).
          "longest_gap_ms": round(longest_gap * 1000, 1),
          "first_failure": first_failure, "last_failure": last_failure, "backends": backends})


def whoami(args):
    first = ipaddress.ip_address(args.first_source)
    sources = [str(first + i) for i in range(args.count)]

    def ask(source):
        # Every failed try is kept: a retry that succeeds hides nothing from the report.
        errors = []
        for attempt in range(args.attempts):
            try:
                response = http_get(args.target, "/whoami", source=source,
                                    connect_timeout=args.connect_timeout, timeout=args.timeout)
                if response.status == 200:
                    return source, response.body.decode(errors="replace").strip(), None, errors
                errors.append(f"status {response.status}")
            except (OSError, ValueError, IndexError) as failure:
                errors.append(f"{type(failure).__name__}: {failure}")
        return source, None, errors[-1], errors

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        results = list(pool.map(ask, sources))
    answers = {source: backend for source, backend, _, _ in results}
    errors = {source: error for source, _, error, _ in results if error}
    retried = {source: tries for source, backend, _, tries in results if backend and tries}
    counts = {}
    for backend in answers.values():
        counts[backend or "failed"] = counts.get(backend or "failed", 0) + 1
    emit({"event": "whoami", "count": len(sources), "failed": len(errors),
          "retried": len(retried), "retried_errors": dict(list(retried.items())[:10]),
          "seconds": round(time.monotonic() - started, 3), "backends": counts,
          "errors": dict(list(errors.items())[:10]), "answers": answers})


def download(args):
    def head(status, headers):
        emit({"event": "head", "t": time.time(), "status": status,
              "backend": headers.get("x-backend"), "length": headers.get("content-length")})

    started = time.monotonic()
    result = {"event": "download", "complete": False}
    try:
        response = http_get(args.target, args.path, source=args.source, connect_timeout=2.0,
                            timeout=args.timeout, on_head=head, rate=args.rate, rcvbuf=args.rcvbuf)
        declared = response.headers.get("content-length")
        result.update(status=response.status, received=response.body_length,
                      length=int(declared) if declared else None,
                      complete=response.status == 200 and declared is not None
                      and int(declared) == response.body_length)
    except (OSError, ValueError, IndexError) as error:
        result["error"] = f"{type(error).__name__}: {error}"
    result["seconds"] = round(time.monotonic() - started, 3)
    emit(result)
    return 0 if result["complete"] else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)

    p = modes.add_parser("loop", help="new connections in a loop, one JSON line each, then a summary")
    p.add_argument("--target", required=True, help="HOST:PORT or [V6]:PORT")
    p.add_argument("--source", help="source address to bind")
    p.add_argument("--interval", type=float, default=0.05, help="seconds from one attempt's start to the next")
    p.add_argument("--connect-timeout", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds for the response")
    p.add_argument("--duration", type=float, default=60.0, help="stop after this long at the latest")
    p.add_argument("--stop-file", help="stop once this file exists (SIGTERM/SIGINT also stop)")

    p = modes.add_parser("whoami", help="each of COUNT source addresses asks /whoami once")
    p.add_argument("--target", required=True)
    p.add_argument("--first-source", required=True, help="first source address; the next ones follow it")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=32)
    p.add_argument("--attempts", type=int, default=1, help="tries per client before it counts as failed")
    p.add_argument("--connect-timeout", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=3.0)

    p = modes.add_parser("download", help="one throttled download that must arrive whole")
    p.add_argument("--target", required=True)
    p.add_argument("--path", required=True, help="e.g. /content/pkg?size=8MiB")
    p.add_argument("--source")
    p.add_argument("--rate", type=int, default=512 * 1024, help="bytes per second")
    p.add_argument("--rcvbuf", type=int, default=64 * 1024, help="receive buffer, so throttling reaches the sender")
    p.add_argument("--timeout", type=float, default=10.0, help="longest silence tolerated")

    args = parser.parse_args()
    return {"loop": loop, "whoami": whoami, "download": download}[args.mode](args) or 0


if __name__ == "__main__":
    sys.exit(main())
