#!/usr/bin/env python3
"""The control plane at 10,000 backends: one service, most backends dead (a bound port
that does not listen: connect refused), 1,000 flapping (a listener closed and opened
again), a few always up. Bascule starts with the few live ones, then a reload brings in
the whole pool, as in issue 17 §3.

Prints, for one bascule binary (run it against the baseline too):
  - the reload: seconds from SIGHUP to "configuration reloaded" in the log, and the
    longest /readyz answer while the new pool's first checks run (10 s after it);
  - under the flap (steady state): control-thread CPU % (the main thread: /proc/PID/task/PID/stat),
    checks, backend state changes and tables published per second, time from a state change to the
    workers' tables (bascule_table_publish_latency_seconds, where the binary has it),
    /readyz and /status latency p50/p99/max, and how many always-up backends were
    marked down anyway (loop lag makes a check time out);
  - /metrics: bytes and wall time (median of 5 GETs), per-backend series on, then off
    (`"backendMetrics": false`, applied by a reload; "n/a" if the binary refuses the field).

A benchmark prints figures; it never fails on one. Everything is on 127.0.0.1, every
process started is stopped at exit. Python 3 stdlib only.

    Benchmarks/scale/control_plane.py --bin .build/release/bascule
    Benchmarks/scale/control_plane.py --bin /work/baseline/bascule --flap-seconds 20
"""

import argparse
import json
import os
import random
import resource
import select
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from basculebench import HOST, CLK_TCK, Abort, Proc, free_port, http_get, parse_metrics, write_json, wait_for  # noqa: E402

# Ports below the kernel's ephemeral range, so no outgoing connection (the checks' own
# sockets) can sit on a port the fleet closes and opens again.
PORT_FLOOR = 10000


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def ephemeral_floor():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError):
        return 32768


# ---------------------------------------------------------------- the fleet (a child process)

def fleet_main(dead, flapping, steady, period, seed):
    """Holds `dead` bound, never-listening sockets (connect: refused), `steady` listeners,
    and `flapping` listeners that each close for half of `period` and listen again for the
    other half, at a random phase. Accepts and closes whatever connects. Prints the ports
    as one JSON line, then runs until stdin closes."""
    raise_nofile()
    rng = random.Random(seed)
    top = ephemeral_floor()
    ports, reserved = [], []
    port = PORT_FLOOR
    want = dead + flapping + steady
    while len(ports) < want and port < top:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            ports.append(port)
            reserved.append(s)
        except OSError:
            s.close()
        port += 1
    if len(ports) < want:
        sys.exit(f"fleet: only {len(ports)} free ports below {top}")
    dead_ports = ports[:dead]
    live_ports = ports[dead:]
    ep = select.epoll()
    listeners = {}  # port -> socket while listening

    def open_listener(p, s=None):
        if s is None:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((HOST, p))
        s.listen(64)
        s.setblocking(False)
        listeners[p] = s
        ep.register(s.fileno(), select.EPOLLIN)

    def close_listener(p):
        s = listeners.pop(p)
        ep.unregister(s.fileno())
        s.close()

    by_fd = {}
    for i, p in enumerate(live_ports):
        open_listener(p, reserved[dead + i])
    for s in listeners.values():
        by_fd[s.fileno()] = s
    flap_ports = live_ports[:flapping]
    phase = {p: rng.uniform(0, period) for p in flap_ports}
    start = time.monotonic()
    print(json.dumps({"dead": dead_ports, "flapping": flap_ports, "steady": live_ports[flapping:]}), flush=True)
    toggles = 0
    next_toggle_scan = 0.0
    while True:
        if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.read(1):
            break
        now = time.monotonic() - start
        if now >= next_toggle_scan:
            next_toggle_scan = now + 0.05
            for p in flap_ports:
                up = ((now + phase[p]) % period) < period / 2
                if up and p not in listeners:
                    try:
                        open_listener(p)
                        by_fd[listeners[p].fileno()] = listeners[p]
                        toggles += 1
                    except OSError:
                        pass  # the port is briefly taken: try again next scan
                elif not up and p in listeners:
                    by_fd.pop(listeners[p].fileno(), None)
                    close_listener(p)
                    toggles += 1
        for fd, _ in ep.poll(0.02):
            s = by_fd.get(fd)
            if s is None:
                continue
            while True:
                try:
                    c, _ = s.accept()
                    c.close()
                except (BlockingIOError, OSError):
                    break


# ---------------------------------------------------------------- the balancer

def config(admin, listen, fleet, total, interval_ms, timeout_ms, backend_metrics=None):
    def backend(i, port):
        return {"name": f"b{i:05d}", "address": f"{HOST}:{port}"}
    ports = fleet["steady"] + fleet["flapping"] + fleet["dead"]
    backends = [backend(i, p) for i, p in enumerate(ports[:total])]
    service = {"name": "big", "listen": f"{HOST}:{listen}", "strategy": "round-robin",
               "healthCheck": {"type": "tcp", "intervalMs": interval_ms, "timeoutMs": timeout_ms, "rise": 1, "fall": 1},
               "backends": backends}
    if backend_metrics is not None:
        service["backendMetrics"] = backend_metrics
    return {"workers": 2, "admin": {"listen": f"{HOST}:{admin}"}, "services": [service]}


def control_thread_ticks(pid):
    """utime+stime of the control thread (the process's main thread, which runs the control
    loop: checks, admin, tables) in clock ticks, and its name."""
    with open(f"/proc/{pid}/task/{pid}/stat") as f:
        raw = f.read()
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), name


def timed_get(port, path, timeout=30.0):
    t0 = time.monotonic()
    body = http_get(port, path, timeout=timeout)
    return time.monotonic() - t0, body


class Poller(threading.Thread):
    """GETs `path` every `every` seconds and keeps each answer's latency (a failure counts
    as its timeout, so a starved endpoint shows)."""

    def __init__(self, port, path, every, timeout=10.0):
        super().__init__(daemon=True)
        self.port, self.path, self.every, self.timeout = port, path, every, timeout
        self.latencies, self.failures = [], 0
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            try:
                http_get(self.port, self.path, timeout=self.timeout)
                self.latencies.append(time.monotonic() - t0)
            except OSError:
                self.failures += 1
                self.latencies.append(time.monotonic() - t0)
            self.stop_flag.wait(max(0.0, self.every - (time.monotonic() - t0)))

    def stop(self):
        self.stop_flag.set()
        self.join()
        return self.latencies, self.failures


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(x):
    return f"{x * 1000:.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release/bascule")
    ap.add_argument("--backends", type=int, default=10000)
    ap.add_argument("--flapping", type=int, default=1000)
    ap.add_argument("--steady", type=int, default=16, help="always-up backends (counted in --backends)")
    ap.add_argument("--flap-period", type=float, default=4.0, help="seconds per down+up cycle of a flapping backend")
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--timeout-ms", type=int, default=500)
    ap.add_argument("--flap-seconds", type=float, default=20.0, help="length of the steady-state measurement")
    ap.add_argument("--settle-seconds", type=float, default=10.0, help="measured after the reload, before the steady state")
    ap.add_argument("--reload-timeout", type=float, default=300.0)
    ap.add_argument("--status-every", type=float, default=2.0, help="seconds between /status GETs under the flap")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--fleet", nargs=5, metavar=("DEAD", "FLAPPING", "STEADY", "PERIOD", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fleet:
        d, f, s, p, seed = args.fleet
        return fleet_main(int(d), int(f), int(s), float(p), int(seed))

    raise_nofile()
    dead = args.backends - args.flapping - args.steady
    work = tempfile.mkdtemp(prefix="bascule-scale-")
    results = {"bin": args.bin, "backends": args.backends, "flapping": args.flapping, "dead": dead,
               "steady": args.steady}
    try:
        fleet = Proc("fleet", [sys.executable, os.path.abspath(__file__), "--fleet", str(dead), str(args.flapping),
                               str(args.steady), str(args.flap_period), "17"], work, pipes=True)
        ports = json.loads(fleet.read_line(60))
        admin, listen = free_port(), free_port()
        path = os.path.join(work, "config.json")
        small = config(admin, listen, ports, args.steady, args.interval_ms, args.timeout_ms)
        write_json(path, small)
        lb = Proc("bascule", [args.bin, "run", "--config", path], work, port=admin)
        lb.wait_ready(30)
        wait_for(lambda: http_get(admin, "/readyz") is not None, 30, "/readyz")
        print(f"bascule {args.bin}: pid {lb.pid}, {args.steady} backends; reloading into {args.backends} "
              f"({dead} dead, {args.flapping} flapping every {args.flap_period:g} s, {args.steady} steady)", flush=True)

        # The reload, as in the issue: how long it holds the control thread, and what admin sees.
        write_json(path, config(admin, listen, ports, args.backends, args.interval_ms, args.timeout_ms))
        mark = lb.log_size()
        readyz = Poller(admin, "/readyz", 0.1, timeout=10)
        ticks0, _ = control_thread_ticks(lb.pid)
        t0 = time.monotonic()
        readyz.start()
        os.kill(lb.pid, signal.SIGHUP)
        lb.wait_line(r"configuration reloaded", timeout=args.reload_timeout, start=mark)
        results["reload_seconds"] = time.monotonic() - t0
        time.sleep(args.settle_seconds)
        lat, fails = readyz.stop()
        ticks1, name = control_thread_ticks(lb.pid)
        results["settle_control_cpu_pct"] = 100.0 * (ticks1 - ticks0) / CLK_TCK / (time.monotonic() - t0)
        results["settle_readyz_max_ms"] = max(lat) * 1000 if lat else None
        results["settle_readyz_p99_ms"] = pct(lat, 0.99) * 1000
        print(f"reload applied after {results['reload_seconds']:.2f} s; over that and the next {args.settle_seconds:g} s: "
              f"control thread ({name}) {results['settle_control_cpu_pct']:.0f} % CPU, /readyz p99 "
              f"{results['settle_readyz_p99_ms']:.1f} ms, max {results['settle_readyz_max_ms']:.1f} ms ({fails} failed)", flush=True)

        # Steady state under the flap.
        def snapshot():
            # The page's counters are read when the request arrives, not when it has been sent.
            asked = time.monotonic()
            try:
                text = http_get(admin, "/metrics", timeout=120).decode(errors="replace")
            except OSError:
                return {}  # a starved admin endpoint: the figures below say n/a
            samples = parse_metrics(text, "bascule_table_publish")
            samples["at"] = asked
            samples["checks"] = sum(parse_metrics(text, "bascule_health_checks_total").values())
            changes = parse_metrics(text, "bascule_backend_state_changes_total")
            if changes:
                samples["changes"] = sum(changes.values())
            return samples

        def backends_now():
            asked = time.monotonic()
            try:
                backends = json.loads(http_get(admin, "/status", timeout=120))["services"][0]["backends"]
                return backends, asked
            except OSError:
                return None
        pub0 = snapshot()
        backends0 = backends_now()
        steady_names = {f"b{i:05d}" for i in range(args.steady)}
        flap_names = {f"b{i:05d}" for i in range(args.steady, args.steady + args.flapping)}
        readyz = Poller(admin, "/readyz", 0.1)
        status_poll = Poller(admin, "/status", args.status_every, timeout=30)
        ticks0, _ = control_thread_ticks(lb.pid)
        t0 = time.monotonic()
        readyz.start()
        status_poll.start()
        time.sleep(args.flap_seconds)
        rl, rf = readyz.stop()
        sl, sf = status_poll.stop()
        ticks1, _ = control_thread_ticks(lb.pid)
        elapsed = time.monotonic() - t0
        pub1 = snapshot()
        backends1 = backends_now()

        def count(backends, names, keys):
            return sum(b.get(k, 0) for b in backends if b["name"] in names for k in keys)
        results["control_cpu_pct"] = 100.0 * (ticks1 - ticks0) / CLK_TCK / elapsed
        # Counters are read between snapshots, which straddle the steady window a little.
        between = pub1.get("at", 0) - pub0.get("at", 0)
        results["checks_per_s"] = (pub1.get("checks", 0) - pub0.get("checks", 0)) / between if pub0 and pub1 else float("nan")
        results["state_changes_per_s"] = (pub1["changes"] - pub0["changes"]) / between if "changes" in pub0 and "changes" in pub1 else None
        if backends0 is not None and backends1 is not None:
            # /status counts the times each backend was marked down; each comes back up in between.
            down = ("downTransitions",)
            (backends0, at0), (backends1, at1) = backends0, backends1
            results["flap_downs_per_s"] = (count(backends1, flap_names, down) - count(backends0, flap_names, down)) / (at1 - at0)
            results["false_downs"] = count(backends1, steady_names, ("downTransitions",)) - count(backends0, steady_names, ("downTransitions",))
        else:
            results["flap_downs_per_s"] = results["false_downs"] = float("nan")
        results["readyz_ms"] = {"p50": pct(rl, 0.5) * 1000, "p99": pct(rl, 0.99) * 1000, "max": max(rl, default=0) * 1000, "failed": rf}
        results["status_ms"] = {"p50": pct(sl, 0.5) * 1000, "p99": pct(sl, 0.99) * 1000, "max": max(sl, default=0) * 1000, "failed": sf}
        print(f"steady flap, {elapsed:.0f} s: control thread {results['control_cpu_pct']:.1f} % CPU; "
              f"{results['checks_per_s']:.0f} checks/s; flapping backends marked down {results['flap_downs_per_s']:.0f}/s "
              f"(state changes: {results['state_changes_per_s'] if results['state_changes_per_s'] is None else round(results['state_changes_per_s'])}/s); "
              f"always-up backends marked down: {results['false_downs']}")
        print(f"  /readyz p50 {results['readyz_ms']['p50']:.1f} ms, p99 {results['readyz_ms']['p99']:.1f} ms, "
              f"max {results['readyz_ms']['max']:.1f} ms ({rf} failed of {len(rl)})")
        print(f"  /status p50 {results['status_ms']['p50']:.1f} ms, p99 {results['status_ms']['p99']:.1f} ms, "
              f"max {results['status_ms']['max']:.1f} ms ({sf} failed of {len(sl)})")
        count_key = "bascule_table_publish_latency_seconds_count"
        if any(k.startswith(count_key) for k in pub1) and pub0:
            published = sum(v for k, v in pub1.items() if k.startswith(count_key)) - \
                sum(v for k, v in pub0.items() if k.startswith(count_key))
            total_s = sum(v for k, v in pub1.items() if k.startswith("bascule_table_publish_latency_seconds_sum")) - \
                sum(v for k, v in pub0.items() if k.startswith("bascule_table_publish_latency_seconds_sum"))
            buckets = {}
            for k, v in pub1.items():
                if k.startswith("bascule_table_publish_latency_seconds_bucket"):
                    le = k.split('le="', 1)[1].split('"', 1)[0]
                    buckets[le] = v - pub0.get(k, 0)
            results["table_installs_per_s"] = published / between
            results["publish_latency_mean_ms"] = 1000 * total_s / published if published else None
            # p99 from the histogram: the first bound holding 99 % of the installs.
            p99 = None
            for le, count in sorted(buckets.items(), key=lambda kv: float(kv[0].replace("+Inf", "inf"))):
                if published and count >= 0.99 * published:
                    p99 = le
                    break
            results["publish_latency_p99_le_s"] = p99
            print(f"  change -> workers' tables: {results['table_installs_per_s']:.1f} table installs/s (per worker: "
                  f"{results['table_installs_per_s'] / 2:.1f}), mean {results['publish_latency_mean_ms']:.2f} ms, p99 <= {p99} s")
        else:
            results["table_installs_per_s"] = None
            print("  change -> workers' tables: n/a (this binary has no bascule_table_publish_latency_seconds)")

        # /metrics, per-backend series on, then off.
        def measure_metrics(label):
            times, size = [], 0
            for _ in range(5):
                try:
                    took, body = timed_get(admin, "/metrics", timeout=120)
                except OSError:
                    took, body = float("nan"), b""
                times.append(took)
                size = len(body)
            results[f"metrics_{label}"] = {"bytes": size, "median_ms": statistics.median(times) * 1000}
            print(f"/metrics, per-backend series {label}: {size / 1e6:.2f} MB, {statistics.median(times) * 1000:.1f} ms (median of 5)")
        measure_metrics("on")
        write_json(path, config(admin, listen, ports, args.backends, args.interval_ms, args.timeout_ms, backend_metrics=False))
        mark = lb.log_size()
        os.kill(lb.pid, signal.SIGHUP)
        m = lb.wait_line(r"configuration reloaded|reload rejected", timeout=args.reload_timeout, start=mark)
        if "rejected" in m.group(0):
            results["metrics_off"] = None
            print("/metrics, per-backend series off: n/a (this binary refuses \"backendMetrics\")")
        else:
            measure_metrics("off")
    finally:
        for p in reversed(Proc.started):
            p.stop()
    if args.json:
        write_json(args.json, results)
    print(json.dumps(results))


if __name__ == "__main__":
    try:
        main()
    except Abort as e:
        sys.exit(f"aborted: {e}")
    except KeyboardInterrupt:
        for p in reversed(Proc.started):
            p.stop()
        sys.exit(130)
