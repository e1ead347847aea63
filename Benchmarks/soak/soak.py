#!/usr/bin/env python3
"""Soak test for Bascule: mixed traffic, backend kills and reloads for a given
time; fd count and resident memory of the balancer at start and end, checked
against stated bounds. Python 3 stdlib only; everything on 127.0.0.1 with ports
picked free at run time; everything started here is stopped here.

    soak.py --duration SECONDS [--workers N] [--json FILE]

Exit status: 0 bounds held, 1 a bound was exceeded, 2 the run itself failed
(a process would not start, the balancer died, ...). See README.md.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from basculebench import (HOST, Abort, Proc, free_port, metric_sum, metrics, parse_wrk,  # noqa: E402
                          status, wait_for, write_json)

MIB = 1024 * 1024
BULK_SIZE = 32 * MIB
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- processes

class Backend:
    """One bascule-backend; restartable on the same port after a kill -9."""

    def __init__(self, name, mode, bin_path, workdir):
        self.name, self.mode, self.bin, self.workdir = name, mode, bin_path, workdir
        self.port = 0
        self.proc = None
        self.restarts = 0
        self.start()

    def start(self):
        argv = [self.bin, "--listen", f"{HOST}:{self.port}", "--name", self.name,
                "--mode", self.mode]
        for attempt in range(20):
            offset = os.path.getsize(self._logpath()) if os.path.exists(self._logpath()) else 0
            self.proc = Proc(self.name, argv, self.workdir)
            try:
                m = self.proc.wait_line(r"listening on 127\.0\.0\.1:(\d+)", timeout=10, start=offset)
                self.port = int(m.group(1))
                argv[2] = f"{HOST}:{self.port}"
                return
            except Abort:
                # Same port after kill -9: SO_REUSEADDR should make this work at
                # once; retry a little in case the bind still races the kernel.
                self.proc.stop()
                if attempt == 19:
                    raise
                time.sleep(0.25)

    def _logpath(self):
        return os.path.join(self.workdir, f"{self.name}.log")

    def kill9(self):
        self.proc.kill9()

    def restart(self):
        self.restarts += 1
        self.start()

    def stop(self):
        if self.proc:
            self.proc.stop()


# ---------------------------------------------------------------- config, admin

def bascule_config(ports, backends, with_extra, workers):
    # Schema: /work/shared/DESIGN.md (config.json).
    web = [{"name": b.name, "address": f"{HOST}:{b.port}"}
           for b in backends if b.mode == "http" and (with_extra or b.name != "w4")]
    echo = [{"name": b.name, "address": f"{HOST}:{b.port}"} for b in backends if b.mode == "echo"]
    http_check = {"type": "http", "path": "/health", "expectStatus": [200],
                  "intervalMs": 500, "timeoutMs": 300, "rise": 2, "fall": 2}
    # The echo backend speaks raw TCP: an HTTP probe would get its own bytes back,
    # so that service is checked with a TCP connect (same timing).
    tcp_check = {"type": "tcp", "intervalMs": 500, "timeoutMs": 300, "rise": 2, "fall": 2}
    return {
        "workers": workers,
        "admin": {"listen": f"{HOST}:{ports['admin']}"},
        "defaults": {"connectTimeoutMs": 1000, "idleTimeoutMs": 60000, "retries": 2,
                     "drainTimeoutMs": 5000},
        "services": [
            {"name": "web", "listen": f"{HOST}:{ports['web']}", "strategy": "least-connections",
             "healthCheck": http_check, "backends": web, "retries": 2},
            {"name": "echo", "listen": f"{HOST}:{ports['echo']}", "strategy": "round-robin",
             "healthCheck": tcp_check, "backends": echo, "retries": 2},
        ],
    }


def active_connections(st):
    return sum(s["activeConnections"] for s in st["services"])


def all_backends_up(st):
    return all(b["healthy"] for s in st["services"] for b in s["backends"])


# ---------------------------------------------------------------- sampling

def proc_sample(pid):
    """fd count (and by kind) and VmRSS from /proc. Kinds: pipe (the splice
    pipe pool), socket, anon (epoll, eventfd, timerfd, signalfd), file."""
    kinds = {"pipe": 0, "socket": 0, "anon": 0, "file": 0}
    fddir = f"/proc/{pid}/fd"
    names = os.listdir(fddir)
    for n in names:
        try:
            target = os.readlink(os.path.join(fddir, n))
        except OSError:
            continue  # closed between listdir and readlink
        if target.startswith("pipe:"):
            kinds["pipe"] += 1
        elif target.startswith("socket:"):
            kinds["socket"] += 1
        elif target.startswith("anon_inode:"):
            kinds["anon"] += 1
        else:
            kinds["file"] += 1
    rss_kib = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return {"fds": len(names), "kinds": kinds, "rss": rss_kib * 1024}


class Sampler:
    def __init__(self, pid, admin_port):
        self.pid, self.admin = pid, admin_port
        self.samples = []

    def take(self, label, t0):
        s = proc_sample(self.pid)
        try:
            m = metrics(self.admin)
            s["metrics_fds"] = int(metric_sum(m, "process_open_fds"))
            s["metrics_rss"] = int(metric_sum(m, "process_resident_memory_bytes"))
            s["reloads"] = int(metric_sum(m, "bascule_config_reloads_total"))
            s["active"] = active_connections(status(self.admin))
        except OSError as e:
            s["metrics_error"] = str(e)
        s["t"] = round(time.monotonic() - t0, 1)
        s["label"] = label
        self.samples.append(s)
        k = s["kinds"]
        log(f"sample {label:>6} t={s['t']:7.1f}s  fds={s['fds']:4d} "
            f"(pipe {k['pipe']}, sock {k['socket']}, anon {k['anon']}, file {k['file']})  "
            f"rss={s['rss'] / MIB:7.2f} MiB  | metrics: fds={s.get('metrics_fds', '?')} "
            f"rss={s.get('metrics_rss', 0) / MIB:7.2f} MiB reloads={s.get('reloads', '?')} "
            f"active={s.get('active', '?')}")
        return s

    def idle(self, label, t0, readings=5, gap=0.5):
        """An idle sample: the least fds and RSS over a few readings. A health
        probe (one socket per backend every 500 ms) may be in flight during any
        one reading; a leak is there in every reading."""
        got = []
        for i in range(readings):
            got.append(proc_sample(self.pid))
            time.sleep(gap)
        s = self.take(label, t0)
        s["fds"] = min(g["fds"] for g in got + [s])
        s["rss"] = min(g["rss"] for g in got + [s])
        s["kinds"] = min((g for g in got + [s]), key=lambda g: g["fds"])["kinds"]
        log(f"  idle {label}: min over {readings + 1} readings: fds={s['fds']} "
            f"rss={s['rss'] / MIB:.2f} MiB")
        return s


# ---------------------------------------------------------------- traffic

class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.errors = []  # (kind, message), first few only

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n

    def err(self, key, msg):
        self.add(key)
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(f"{key}: {msg}")


class Chaos:
    """Outage windows, so client errors can be told apart: a connection in
    flight while its backend is kill -9'd fails by design (L4: the bytes are
    gone), and while the echo service's only backend is down its clients are
    refused; outside these windows nothing should fail."""

    def __init__(self, settle=2.0):
        self.lock = threading.Lock()
        self.windows = []  # [kill time, restart time or None], monotonic
        self.settle = settle  # rise 2 x 500 ms before a restarted backend is up again

    def note_kill(self):
        with self.lock:
            self.windows.append([time.monotonic(), None])

    def note_restart(self):
        with self.lock:
            self.windows[-1][1] = time.monotonic()

    def near_kill(self, start, end):
        with self.lock:
            return any(k <= end and (r is None or r + self.settle >= start)
                       for k, r in self.windows)


def recv_exact(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(min(1 << 20, n - got))
        if not chunk:
            break
        got += len(chunk)
    return got


def bulk_loop(port, stop, counters, chaos):
    buf = bytearray(1 << 20)
    while not stop.is_set():
        start = time.monotonic()
        try:
            with socket.create_connection((HOST, port), timeout=10) as s:
                s.sendall(f"GET /content/x?size={BULK_SIZE} HTTP/1.1\r\nHost: soak\r\n"
                          f"Connection: close\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise OSError("closed before headers")
                    head += chunk
                head, _, body = head.partition(b"\r\n\r\n")
                status_line = head.split(b"\r\n", 1)[0]
                if b" 200 " not in status_line + b" ":
                    raise OSError(f"status {status_line!r}")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if not m or int(m.group(1)) != BULK_SIZE:
                    raise OSError(f"content-length {m.group(1) if m else None}")
                got = len(body)
                while got < BULK_SIZE:
                    n = s.recv_into(buf, min(len(buf), BULK_SIZE - got))
                    if n == 0:
                        break
                    got += n
                if got != BULK_SIZE:
                    raise OSError(f"short body {got}/{BULK_SIZE}")
            counters.add("bulk_ok")
            counters.add("bulk_bytes", BULK_SIZE)
        except OSError as e:
            key = "bulk_err_kill" if chaos.near_kill(start, time.monotonic()) else "bulk_err"
            counters.err(key, repr(e))
            stop.wait(0.2)


def echo_loop(port, stop, counters, chaos):
    rnd = random.Random(7)
    while not stop.is_set():
        start = time.monotonic()
        payload = rnd.randbytes(rnd.randint(16, 4096))
        try:
            with socket.create_connection((HOST, port), timeout=5) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)  # half-close: the relay must propagate it
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            if got != payload:
                raise OSError(f"echo mismatch: sent {len(payload)} got {len(got)}")
            counters.add("echo_ok")
        except OSError as e:
            key = "echo_err_kill" if chaos.near_kill(start, time.monotonic()) else "echo_err"
            counters.err(key, repr(e))
            stop.wait(0.05)  # no tight loop while the echo backend is down


class Traffic:
    """wrk keep-alive + wrk one-request-per-connection + bulk + echo threads."""

    def __init__(self, ports, duration, workdir, counters, chaos, tag, procs):
        self.stop = threading.Event()
        self.wrks = []
        url = f"http://{HOST}:{ports['web']}/whoami"
        for name, conns, extra in (("keepalive", 16, []),
                                   ("close", 8, ["-H", "Connection: close"])):
            argv = ["wrk", "-t1", f"-c{conns}", f"-d{int(duration)}s", "--timeout", "5s"] + extra + [url]
            self.wrks.append((name, Proc(f"wrk-{name}-{tag}", argv, workdir)))
            procs.append(self.wrks[-1][1])  # stopped by main's finally whatever happens
        self.threads = [
            threading.Thread(target=bulk_loop, args=(ports["web"], self.stop, counters, chaos),
                             daemon=True),
            threading.Thread(target=echo_loop, args=(ports["echo"], self.stop, counters, chaos),
                             daemon=True),
        ]
        for t in self.threads:
            t.start()

    def finish(self, timeout):
        """Wait for wrk to end on its own (it prints totals then), stop the threads."""
        results = {}
        for name, p in self.wrks:
            try:
                p.p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.p.send_signal(signal.SIGINT)  # wrk prints what it has on SIGINT
                try:
                    p.p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            p.stop()
            results[name] = parse_wrk(p.tail(20000))
        self.stop.set()
        for t in self.threads:
            t.join(60)  # a bulk download in flight finishes or times out
        return results

    def abort(self):
        self.stop.set()
        for _, p in self.wrks:
            p.stop(grace=1)


# ---------------------------------------------------------------- main run

def run(args, work, procs):
    t0 = time.monotonic()
    counters, chaos = Counters(), Chaos()
    backends = [Backend(n, "http", args.backend_bin, work) for n in ("w1", "w2", "w3", "w4")]
    backends.append(Backend("e1", "echo", args.backend_bin, work))
    procs.extend(backends)
    by_name = {b.name: b for b in backends}
    ports = {"web": free_port(), "echo": free_port(), "admin": free_port()}
    cfg_path = os.path.join(work, "config.json")
    extra = False
    write_json(cfg_path, bascule_config(ports, backends, extra, args.workers))

    bascule = Proc("bascule", [args.bascule_bin, "run", "--config", cfg_path], work)
    procs.append(bascule)
    bascule.wait_line(r"^ready$", timeout=20)
    pid = bascule.pid
    log(f"bascule pid {pid} ready: web {ports['web']}, echo {ports['echo']}, admin {ports['admin']}, "
        f"workers {args.workers}; backends " + ", ".join(f"{b.name}:{b.port}" for b in backends))
    wait_for(lambda: all_backends_up(status(ports["admin"])), 20, "all backends healthy")
    sampler = Sampler(pid, ports["admin"])
    sampler.take("boot", t0)

    sighups = 0

    def reload(with_extra):
        nonlocal sighups
        write_json(cfg_path, bascule_config(ports, backends, with_extra, args.workers))
        os.kill(pid, signal.SIGHUP)
        sighups += 1

    def check_alive():
        if not bascule.alive():
            raise Abort(f"bascule died (status {bascule.p.returncode}):\n{bascule.tail()}")

    # -- warm-up: the same traffic (and a reload there and back) so the pipe pool,
    # buffer pools and allocator arenas reach their working size before the start sample.
    log(f"warm-up {args.warmup}s")
    traffic = Traffic(ports, args.warmup, work, counters, chaos, "warmup", procs)
    try:
        time.sleep(args.warmup / 3)
        reload(True)
        time.sleep(args.warmup / 3)
        reload(False)
    except BaseException:
        traffic.abort()
        raise
    traffic.finish(args.warmup + 30)
    check_alive()
    wait_for(lambda: active_connections(status(ports["admin"])) == 0, 60, "0 active connections")
    wait_for(lambda: all_backends_up(status(ports["admin"])), 20, "all backends healthy")
    counters.c.clear()
    del counters.errors[:]
    start = sampler.idle("start", t0)
    reloads_at_start = start.get("reloads", 0)
    sighups_at_start = sighups

    # -- soak
    log(f"soak {args.duration}s: kill -9 a backend every {args.kill_every}s (back after "
        f"{args.restart_after}s), reload every {args.reload_every}s, sample every {args.sample_every}s")
    traffic = Traffic(ports, args.duration, work, counters, chaos, "soak", procs)
    victims = ["w1", "w2", "w3", "e1"]  # the echo service's only backend too: refusal path
    kills, killed = 0, None
    soak_start = time.monotonic()
    end = soak_start + args.duration
    next_kill = soak_start + args.kill_every
    next_reload = soak_start + args.reload_every
    next_sample = soak_start + args.sample_every
    restart_at = None
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                break
            check_alive()
            if killed is None and now >= next_kill and now + args.restart_after < end:
                killed = by_name[victims[kills % len(victims)]]
                chaos.note_kill()  # first: a client may see the cut before kill9() returns
                killed.kill9()
                kills += 1
                restart_at = now + args.restart_after
                log(f"kill -9 {killed.name} (port {killed.port}) [{kills}]")
            if killed is not None and now >= restart_at:
                killed.restart()
                chaos.note_restart()
                log(f"restarted {killed.name} on port {killed.port}")
                killed, next_kill = None, now + args.kill_every - args.restart_after
            if now >= next_reload:
                extra = not extra
                reload(extra)
                log(f"reload {sighups - sighups_at_start}: {'add' if extra else 'remove'} w4")
                next_reload += args.reload_every
            if now >= next_sample:
                sampler.take("soak", t0)
                next_sample += args.sample_every
            time.sleep(0.1)
    except BaseException:
        traffic.abort()
        raise
    if killed is not None:
        killed.restart()
        chaos.note_restart()
        log(f"restarted {killed.name} on port {killed.port}")
    wrk = traffic.finish(max(30, end - time.monotonic() + 30))
    check_alive()
    log("traffic stopped")

    # -- back to the starting config, idle, final sample
    if extra:
        reload(False)
        log("reload: back to the starting config (remove w4)")
    wait_for(lambda: active_connections(status(ports["admin"])) == 0, 120, "0 active connections")
    wait_for(lambda: all_backends_up(status(ports["admin"])), 30, "all backends healthy")
    time.sleep(1)
    final = sampler.idle("end", t0)
    reloads_seen = final.get("reloads", 0) - reloads_at_start
    failures = int(metric_sum(metrics(ports["admin"]), "bascule_config_reload_failures_total"))

    # -- stop the balancer: SIGTERM must drain and exit 0
    rc = bascule.stop(grace=15)
    return {
        "start": start, "end": final, "samples": sampler.samples, "counters": dict(counters.c),
        "first_errors": counters.errors, "wrk": wrk, "kills": kills,
        "restarts": sum(b.restarts for b in backends),
        "sighups": sighups - sighups_at_start, "reloads_applied": reloads_seen,
        "reload_failures": failures, "bascule_exit": rc,
    }


def report(args, r):
    s, e = r["start"], r["end"]
    fd_growth = e["fds"] - s["fds"]
    rss_growth = e["rss"] - s["rss"]
    c = r["counters"]
    wrk_req = sum(w["requests"] for w in r["wrk"].values())
    wrk_err = sum(w["errors"] for w in r["wrk"].values())
    conns = (r["wrk"]["close"]["requests"] + c.get("bulk_ok", 0) + c.get("echo_ok", 0)
             + 16 + sum(c.get(k, 0) for k in ("bulk_err", "bulk_err_kill", "echo_err", "echo_err_kill")))
    fd_ok = fd_growth <= args.fd_bound
    rss_ok = rss_growth <= args.rss_bound_mib * MIB
    print()
    print(f"==== soak summary: {args.duration}s, {args.workers} workers ====")
    print(f"fds    start {s['fds']:5d}  end {e['fds']:5d}  growth {fd_growth:+d}   "
          f"bound +{args.fd_bound}: {'OK' if fd_ok else 'EXCEEDED'}")
    print(f"       start by kind {s['kinds']}")
    print(f"       end   by kind {e['kinds']}")
    print(f"rss    start {s['rss'] / MIB:8.2f} MiB  end {e['rss'] / MIB:8.2f} MiB  growth "
          f"{rss_growth / MIB:+.2f} MiB   bound +{args.rss_bound_mib} MiB: "
          f"{'OK' if rss_ok else 'EXCEEDED'}")
    print(f"       (/metrics at end: fds {e.get('metrics_fds')}, rss "
          f"{e.get('metrics_rss', 0) / MIB:.2f} MiB)")
    peak = max(r["samples"], key=lambda x: x["rss"])
    print(f"       peak under load: fds {max(x['fds'] for x in r['samples'])}, rss "
          f"{peak['rss'] / MIB:.2f} MiB")
    for name, w in r["wrk"].items():
        print(f"wrk {name:9s} requests {w['requests']:9d}  errors {w['errors']} (connect "
              f"{w['connect']}, read {w['read']}, write {w['write']}, timeout {w['timeout']}, "
              f"non-2xx {w['non2xx']})")
    print(f"bulk      ok {c.get('bulk_ok', 0)} x 32 MiB ({c.get('bulk_bytes', 0) / 2**30:.1f} GiB), "
          f"errors {c.get('bulk_err', 0)} + {c.get('bulk_err_kill', 0)} in flight at a kill")
    print(f"echo      ok {c.get('echo_ok', 0)}, errors {c.get('echo_err', 0)} + "
          f"{c.get('echo_err_kill', 0)} near a kill")
    print(f"total     {wrk_req + c.get('bulk_ok', 0) + c.get('echo_ok', 0)} requests/round trips, "
          f"~{conns} client connections; wrk errors {wrk_err}")
    print(f"chaos     kills {r['kills']} (restarts {r['restarts']}), SIGHUPs {r['sighups']}, "
          f"reloads applied {r['reloads_applied']}, reload failures {r['reload_failures']}")
    print(f"bascule   exit status after SIGTERM: {r['bascule_exit']}")
    if conns:
        print(f"sensitivity: a leak of {args.rss_bound_mib * MIB / conns:.1f} bytes per client "
              f"connection would exceed the RSS bound; 1 fd per {conns // max(1, args.fd_bound)} "
              f"connections the fd bound")
    if r["first_errors"]:
        print("first errors:")
        for m in r["first_errors"]:
            print(f"  {m}")
    return fd_ok and rss_ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="write every sample and the summary here")
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--kill-every", type=float, default=20)
    ap.add_argument("--restart-after", type=float, default=5)
    ap.add_argument("--reload-every", type=float, default=15)
    ap.add_argument("--sample-every", type=float, default=10)
    ap.add_argument("--fd-bound", type=int, default=16, help="allowed idle fd growth")
    ap.add_argument("--rss-bound-mib", type=float, default=20, help="allowed idle RSS growth")
    ap.add_argument("--bascule-bin", default=os.environ.get(
        "BASCULE_BIN", os.path.join(ROOT, ".build", "release", "bascule")))
    ap.add_argument("--backend-bin", default=os.environ.get(
        "BASCULE_BACKEND_BIN", os.path.join(ROOT, ".build", "release", "bascule-backend")))
    args = ap.parse_args()
    for b in (args.bascule_bin, args.backend_bin):
        if not os.access(b, os.X_OK):
            sys.exit(f"not found: {b} (swift build -c release, or run.sh)")
    if not shutil.which("wrk"):
        sys.exit("wrk not found (apt-get install -y wrk)")

    # SIGTERM/SIGHUP to this script: unwind through the finally below.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    work = tempfile.mkdtemp(prefix="bascule-soak-")
    procs = []
    code = 2
    try:
        r = run(args, work, procs)
        ok = report(args, r)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), **r, "bounds_held": ok}, f, indent=1)
        code = 0 if ok else 1
        print("RESULT: bounds held" if ok else "RESULT: bound EXCEEDED")
    except Abort as e:
        print(f"ABORT: {e}", file=sys.stderr)
    except KeyboardInterrupt as e:
        print(f"interrupted ({e})", file=sys.stderr)
        code = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for p in reversed(procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print(f"stopping {getattr(p, 'name', p)}: {e}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
