#!/usr/bin/env python3
"""The two ends of the idle-connection memory benchmark (compare.py's `memory` scenario).

  idle_peers.py accept --port P
      The backend: accepts every connection on 127.0.0.1:P, echoes what it receives and
      closes a connection when its peer does. Holds any number of connections (epoll).
  idle_peers.py open --port P --count N [--payload B] [--parallel K] [--timeout S]
      The client: opens N connections to 127.0.0.1:P (at most K connecting at once),
      sends B bytes (default 1) on each and waits for them to come back, so every connection
      is known to be established end to end (client -> proxy -> backend and back), and the
      proxy has relayed B bytes each way, as after one request. Prints one JSON
      line {"established": n, "failed": f, "errors": {...}, "seconds": s}, then holds every
      connection until its stdin closes or it gets SIGTERM, and exits (closing them all).

Separate processes from compare.py and from each other, so that each has its own file
descriptor limit (the sandbox's hard limit applies per process). Python stdlib only.
"""
import argparse
import errno
import json
import os
import select
import signal
import socket
import sys
import time


def raise_fd_limit():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def accept_forever(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    listener.setblocking(False)
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN)
    conns = {}
    while True:
        for fd, _ in ep.poll():
            if fd == listener.fileno():
                while True:
                    try:
                        c, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:  # EMFILE: leave it in the backlog, say so once
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            print(f"accept: {e}", file=sys.stderr, flush=True)
                            time.sleep(0.1)
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), select.EPOLLIN)
                continue
            c = conns.get(fd)
            if c is None:
                continue
            try:
                data = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                try:
                    c.settimeout(5)  # payloads are small: a peer that reads never blocks this
                    c.sendall(data)
                    c.setblocking(False)
                except OSError:
                    data = b""
            if not data:
                ep.unregister(fd)
                del conns[fd]
                c.close()


def open_and_hold(port, count, payload, parallel, timeout):
    addr = ("127.0.0.1", port)
    ep = select.epoll()
    # fd -> [socket, connected?, bytes still to send, bytes still to come back]
    pending = {}
    message = b"." * payload
    held = []
    errors = {}
    opened = 0
    t0 = time.monotonic()
    deadline = t0 + timeout

    def fail(fd, why):
        s = pending.pop(fd)[0]
        ep.unregister(fd)
        s.close()
        errors[why] = errors.get(why, 0) + 1

    def why(e):
        return errno.errorcode.get(e, str(e))

    while (opened < count or pending) and time.monotonic() < deadline:
        while opened < count and len(pending) < parallel:
            s = socket.socket()
            s.setblocking(False)
            opened += 1
            rc = s.connect_ex(addr)
            if rc not in (0, errno.EINPROGRESS):
                errors[why(rc)] = errors.get(why(rc), 0) + 1
                s.close()
                continue
            pending[s.fileno()] = [s, False, message, payload]
            ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLIN)
        for fd, ev in ep.poll(0.5):
            entry = pending.get(fd)
            if entry is None:
                continue
            s = entry[0]
            if not entry[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(fd, why(err))
                    continue
                if not ev & select.EPOLLOUT:
                    continue
                entry[1] = True
            try:
                if entry[2] and ev & select.EPOLLOUT:
                    sent = s.send(entry[2])
                    entry[2] = entry[2][sent:]
                    if not entry[2]:
                        ep.modify(fd, select.EPOLLIN)
                data = s.recv(65536) if ev & (select.EPOLLIN | select.EPOLLHUP) else None
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                fail(fd, why(e.errno))
                continue
            if data is None:
                continue
            if not data or data.strip(b".") or len(data) > entry[3]:
                fail(fd, "closed by peer" if not data else "unexpected bytes")
                continue
            entry[3] -= len(data)
            if entry[3] == 0 and not entry[2]:
                ep.unregister(fd)
                del pending[fd]
                held.append(s)
    for fd in list(pending):
        fail(fd, "timeout")
    print(json.dumps({"established": len(held), "failed": count - len(held), "errors": errors,
                      "seconds": round(time.monotonic() - t0, 3)}), flush=True)
    # Hold until told to stop: stdin closed (compare.py closes it) or SIGTERM.
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    for s in held:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accept", help="backend: accept, echo, hold")
    a.add_argument("--port", type=int, required=True)
    o = sub.add_parser("open", help="client: open N connections, one echo each, hold")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--count", type=int, required=True)
    o.add_argument("--payload", type=int, default=1, help="bytes echoed on each connection")
    o.add_argument("--parallel", type=int, default=256, help="connections in progress at once")
    o.add_argument("--timeout", type=float, default=120, help="seconds to establish them all")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    raise_fd_limit()
    if args.cmd == "accept":
        accept_forever(args.port)
    else:
        open_and_hold(args.port, args.count, args.payload, args.parallel, args.timeout)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
