#!/usr/bin/env python3
"""End-to-end side-by-side benchmark: Bascule vs HAProxy (tcp) vs nginx stream.

All on 127.0.0.1 with ports picked free at run time, Python stdlib only. Scenarios:

  keepalive-small, close-small, bulk-1m   wrk through each proxy to one nginx HTTP backend
  overhead       Bascule with health checks, a /metrics scrape every second and the access
                 log on, against Bascule with all three off (wrk keep-alive and close)
  workers        each proxy with 1 and with 2 workers/threads: req/s and CPU per request
  single-stream  one iperf3 TCP stream of --stream-bytes through each proxy and direct
  memory         --idle-connections idle connections held through each proxy: RSS per
                 connection (and the kernel's socket memory, shared by everyone)

Runs are interleaved (round -> workload -> target, order rotated per round) so slow drift of
the machine spreads evenly over the targets. See README.md next to this file and
../README.md for how to read the output.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from basculebench import (CLK_TCK, Proc, Servers, free_port, http_get, metric_sum, metrics,  # noqa: E402
                          parse_wrk, renice, status_kib, write_json)

PROXIES = ("bascule", "haproxy", "nginx")
WRK_SCENARIOS = {
    # name: (path, keep-alive?, uses --bulk-connections?)
    "keepalive-small": ("/small", True, False),
    "close-small": ("/small", False, False),
    "bulk-1m": ("/1m", True, True),
}
# Scenarios with their own servers and their own report, run after the wrk ones in this order.
OWN_SCENARIOS = ("overhead", "workers", "single-stream", "memory")
SCENARIOS = tuple(WRK_SCENARIOS) + OWN_SCENARIOS
# The wrk workloads the overhead and workers scenarios run.
OVERHEAD_WORKLOADS = ("keepalive-small", "close-small")
WORKERS_WORKLOADS = ("keepalive-small", "close-small")
STREAM_MODULE_CANDIDATES = (
    "/usr/lib/nginx/modules/ngx_stream_module.so",
    "/usr/lib64/nginx/modules/ngx_stream_module.so",
    "/usr/share/nginx/modules/ngx_stream_module.so",
)
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(os.path.dirname(HERE), "results")  # Benchmarks/results (git-ignored)
GIB = 1 << 30
# Idle timeouts for the scenarios that hold connections (memory, single-stream's iperf3
# control connection): far longer than any hold, so no proxy closes one on us.
HOLD_TIMEOUT_S = 600
JSON_SCHEMA = 2


# ---------------------------------------------------------------- processes

def pin(cpus):
    return ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []


def nofile_hard():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def fd_count(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def cpu_times():
    """Per-CPU (busy, total, steal, process) jiffies from /proc/stat. Busy
    includes irq/softirq: on loopback much of the TCP work is softirq time that
    no process stat shows, so this is the honest "is this core saturated" view.
    process = user+nice+system: compared with our own processes' CPU it shows
    how much other tenants of the machine used during a run."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = list(map(int, v[:8]))  # user nice system idle iowait irq softirq steal
                out[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v), v[7], v[0] + v[1] + v[2])
    return out


def busy_pct(t0, t1, cpus):
    # Mean busy % over the given CPUs between two cpu_times() samples.
    if not cpus:
        return None, None
    busy = sum(t1[c][0] - t0[c][0] for c in cpus)
    total = sum(t1[c][1] - t0[c][1] for c in cpus) or 1
    steal = sum(t1[c][2] - t0[c][2] for c in cpus)
    return 100 * busy / total, 100 * steal / total


def other_cpu_pct(ct0, ct1, cpus, ours_s, wall):
    """CPU used by anything but our processes, in % of one core: the noise from
    other tenants of the machine (a parallel build, say). Only over the cores the
    run uses: others filling an idle core do not disturb it."""
    procjiff = sum(ct1[c][3] - ct0[c][3] for c in (cpus or list(ct1)))
    return max(0.0, 100 * (procjiff / CLK_TCK - ours_s) / wall)


# ---------------------------------------------------------------- configs

def stream_module_path():
    for p in STREAM_MODULE_CANDIDATES:
        if os.path.exists(p):
            return p
    raise RuntimeError("ngx_stream_module.so not found; apt-get install -y libnginx-mod-stream")


def nginx_common(prefix, workers, connections=16384):
    # Everything nginx writes goes under its own prefix, never /var/log or /run.
    # worker_rlimit_nofile: the hard limit we run under (nginx as root could try more).
    return f"""worker_processes {workers};
worker_rlimit_nofile {nofile_hard()};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {connections}; multi_accept on; }}
"""


def backend_conf(prefix, port):
    www = os.path.join(prefix, "www")
    tmp = "".join(f"{k}_temp_path {prefix}/{k}_temp;\n    "
                  for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    body = "x" * 99  # + "\n" = a 100-byte body
    return nginx_common(prefix, 1) + f"""http {{
    {tmp}access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /small {{ return 200 "{body}\\n"; }}
        location = /health {{ return 200 "ok\\n"; }}
        location = /1m {{ root {www}; }}
    }}
}}
"""


def nginx_stream_conf(prefix, port, backend_port, workers, maxconn=None, hold=False):
    # worker_connections counts both sides of a proxied connection.
    conns = 16384 if maxconn is None else 2 * maxconn + 64
    timeout = f"{HOLD_TIMEOUT_S}s" if hold else "60s"
    return (f"load_module {stream_module_path()};\n" + nginx_common(prefix, workers, conns)
            + f"""stream {{
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_pass 127.0.0.1:{backend_port};
        proxy_connect_timeout 5s;
        proxy_timeout {timeout};
    }}
}}
""")


def default_maxconn():
    # As high as the fd limit allows (HAProxy refuses to start if it cannot get
    # 2 fds per connection); far above the few dozen connections wrk opens anyway.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(1000, min(100000, (nofile - 200) // 2))


def haproxy_conf(port, backend_port, workers, maxconn=None, hold=False):
    # No 'log' lines: HAProxy logs nothing unless told to.
    maxconn = maxconn or default_maxconn()
    timeout = f"{HOLD_TIMEOUT_S}s" if hold else "60s"
    return f"""global
    nbthread {workers}
    maxconn {maxconn}
defaults
    mode tcp
    maxconn {maxconn}
    timeout connect 5s
    timeout client {timeout}
    timeout server {timeout}
listen bench
    bind 127.0.0.1:{port} backlog 4096
    server backend 127.0.0.1:{backend_port}
"""


def bascule_conf(port, backend_port, admin_port, workers, maxconn=None, hold=False,
                 observed=None):
    """Schema: /work/shared/DESIGN.md (config.json). `observed`: dict with the
    access log path and the health-check interval (the overhead scenario);
    None: health checks none, no access log."""
    conf = {
        "workers": workers,
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
        "services": [{
            "name": "bench",
            "listen": f"127.0.0.1:{port}",
            "strategy": "round-robin",
            "healthCheck": {"type": "none"},
            "backends": [{"name": "backend", "address": f"127.0.0.1:{backend_port}"}],
        }],
    }
    if maxconn:
        conf["maxConnections"] = maxconn
    if hold:
        conf["defaults"] = {"idleTimeoutMs": HOLD_TIMEOUT_S * 1000}
    if observed:
        conf["accessLog"] = observed["access_log"]
        interval = observed["interval_ms"]
        conf["services"][0]["healthCheck"] = {
            "type": "http", "path": "/health", "expectStatus": [200],
            "intervalMs": interval, "timeoutMs": min(500, interval), "rise": 2, "fall": 2}
    return conf


def start_proxy(kind, label, work, backend_port, cpus, args, workers=None, maxconn=None,
                hold=False, observed=None):
    """Starts one proxy of `kind` (bascule/haproxy/nginx) under the name `label`
    in front of 127.0.0.1:backend_port and waits until it accepts."""
    d = os.path.join(work, label)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    workers = workers or args.workers
    port = free_port()
    admin_port = None
    if kind == "bascule":
        path = os.path.join(d, "config.json")
        admin_port = free_port()
        if observed:
            observed = dict(observed, access_log=os.path.join(d, "access.log"))
        write_json(path, bascule_conf(port, backend_port, admin_port, workers, maxconn, hold, observed))
        argv = [args.bascule_bin, "run", "--config", path]
    elif kind == "haproxy":
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(haproxy_conf(port, backend_port, workers, maxconn, hold))
        argv = ["haproxy", "-db", "-f", path]  # -db: foreground, no daemon
    elif kind == "nginx":
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(nginx_stream_conf(d, port, backend_port, workers, maxconn, hold))
        argv = ["nginx", "-e", "stderr", "-p", d, "-c", path]
    else:
        raise ValueError(kind)
    proc = Proc(label, pin(cpus) + argv, work, port=port)
    proc.admin_port = admin_port
    proc.wait_ready()
    return proc


def start_http_backend(work, cpus):
    """The nginx HTTP backend of the wrk scenarios: /small, /health, /1m."""
    bdir = os.path.join(work, "backend")
    if not os.path.exists(bdir):
        os.makedirs(os.path.join(bdir, "www"))
        with open(os.path.join(bdir, "www", "1m"), "wb") as f:
            f.write(os.urandom(1 << 20))  # random: nothing on the path can compress it
        for p, mode in ((bdir, 0o755), (f"{bdir}/www", 0o755), (f"{bdir}/www/1m", 0o644)):
            os.chmod(p, mode)  # readable by nginx's unprivileged worker whatever the umask
    port = free_port()
    with open(os.path.join(bdir, "nginx.conf"), "w") as f:
        f.write(backend_conf(bdir, port))
    proc = Proc("backend", pin(cpus) + ["nginx", "-e", "stderr", "-p", bdir,
                "-c", os.path.join(bdir, "nginx.conf")], work, port=port)
    proc.wait_ready()
    return proc


# ---------------------------------------------------------------- wrk

# What a wrk run contributes to a result (the JSON schema's keys).
WRK_KEYS = ("requests", "rps", "bytes_per_s", "p50_ms", "p99_ms", "socket_errors", "non2xx", "errors")


def wrk_figures(out):
    r = parse_wrk(out)
    if r["rps"] is None:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return {k: r[k] for k in WRK_KEYS}


def run_wrk(url, connections, duration, close, cpus):
    argv = pin(cpus) + ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    p = subprocess.Popen(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    renice(p.pid, Proc.autogroup_nice)
    try:
        out = p.communicate(timeout=duration + 30)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"wrk failed ({p.returncode}) on {url}:\n{out}")
    return out


def measure(port, path, conns, duration, keepalive, proxy, backend, load_cpus, proxy_cpus):
    """One wrk run against one target, with the CPU bookkeeping around it."""
    c0p = proxy.cpu_seconds() if proxy else 0.0
    c0b = backend.cpu_seconds()
    ru0, ct0, t0 = os.times(), cpu_times(), time.monotonic()
    out = run_wrk(f"http://127.0.0.1:{port}{path}", conns, duration, not keepalive, load_cpus)
    wall = time.monotonic() - t0
    ru1, ct1 = os.times(), cpu_times()
    r = wrk_figures(out)
    r["duration"], r["wall_s"] = duration, wall
    r["mb_per_s"] = r["bytes_per_s"] / 1e6 if r["bytes_per_s"] else None
    # wrk is our only child reaped during the run, so children times = wrk.
    r["wrk_cpu_s"] = (ru1.children_user - ru0.children_user
                      + ru1.children_system - ru0.children_system)
    r["backend_cpu_s"] = backend.cpu_seconds() - c0b
    r["load_cpu_pct"] = 100 * (r["wrk_cpu_s"] + r["backend_cpu_s"]) / wall
    r["load_core_pct"], r["load_steal_pct"] = busy_pct(ct0, ct1, load_cpus)
    r["proxy_core_pct"], r["proxy_steal_pct"] = busy_pct(ct0, ct1, proxy_cpus)
    r["all_core_pct"], _ = busy_pct(ct0, ct1, list(ct1))
    r["proxy_cpu_s"] = r["proxy_cpu_pct"] = r["cpu_per_100k"] = None
    if proxy:
        proxy.alive_check()
        r["proxy_cpu_s"] = proxy.cpu_seconds() - c0p
        r["proxy_cpu_pct"] = 100 * r["proxy_cpu_s"] / wall
        if r["requests"]:
            r["cpu_per_100k"] = r["proxy_cpu_s"] / r["requests"] * 1e5
    # Ours includes this script (the overhead scenario's /metrics scraper runs here).
    self_s = ru1.user - ru0.user + ru1.system - ru0.system
    ours = r["wrk_cpu_s"] + r["backend_cpu_s"] + (r["proxy_cpu_s"] or 0) + self_s
    used = (load_cpus + (proxy_cpus if proxy else [])) if load_cpus else None
    r["other_cpu_pct"] = other_cpu_pct(ct0, ct1, used, ours, wall)
    # Busy time of every core (our processes + irq/softirq, other tenants' processes taken
    # out) per request: the whole machine's cost, the figure that matters when nothing is
    # pinned.
    busy_s = sum(ct1[c][0] - ct0[c][0] for c in ct1) / CLK_TCK
    others_s = other_cpu_pct(ct0, ct1, None, ours, wall) * wall / 100
    r["machine_cpu_per_100k"] = ((busy_s - others_s) / r["requests"] * 1e5
                                 if r["requests"] else None)
    return r


def check_targets(ports, procs, paths, connections, load_cpus):
    """Sanity + warm-up: every target must serve each path with the right size,
    then gets a 1 s wrk warm-up."""
    for t, port in ports.items():
        for path, size in paths:
            try:
                got = http_get_len(port, path)
            except (OSError, RuntimeError) as e:  # e.g. a proxy that accepts but never relays
                raise RuntimeError(f"{t}: GET {path} failed: {e!r}" + (
                    f"\n{procs[t].tail()}" if t in procs else ""))
            if got != size:
                raise RuntimeError(f"{t}: GET {path} returned {got} bytes, expected {size}")
        run_wrk(f"http://127.0.0.1:{port}/small", connections, 1, False, load_cpus)


def wrk_rounds(args, targets, workloads, backend, load_cpus, proxy_cpus):
    """Interleaved wrk runs: for each round, for each workload, every target in
    turn, the order rotated by one each round. targets: label -> (port, proc or None)."""
    labels = list(targets)
    width = max(8, *map(len, labels))
    runs = []
    for rnd in range(args.rounds):
        for sc in workloads:
            k = rnd % len(labels)
            for t in labels[k:] + labels[:k]:
                path, keepalive, bulk = WRK_SCENARIOS[sc]
                conns = args.bulk_connections if bulk else args.connections
                port, proc = targets[t]
                r = measure(port, path, conns, args.duration, keepalive, proc, backend,
                            load_cpus, proxy_cpus)
                r.update(round=rnd, scenario=sc, target=t, connections=conns)
                runs.append(r)
                cores = (f"cores {fmt(r['load_core_pct'], '.0f')}/"
                         f"{fmt(r['proxy_core_pct'], '.0f')}%" if load_cpus
                         else f"all cores {r['all_core_pct']:.0f}%")
                print(f"round {rnd + 1}/{args.rounds} {sc:<16} {t:<{width}} "
                      f"{r['rps']:>10,.0f} req/s  p99 {fmt(r['p99_ms'], '.2f'):>7} ms  "
                      f"proxy CPU {fmt(r['proxy_cpu_pct'], '.0f'):>3}%  {cores}  "
                      f"other {r['other_cpu_pct']:.0f}%  errors {r['errors']}", flush=True)
                time.sleep(0.5)  # let closed connections drain between runs
    return runs


# ---------------------------------------------------------------- placement

def placement(workers, mode):
    """CPU sets for (load = wrk + backend, proxy). Why: the proxy under test
    gets a core of its own, identical for every proxy, so they compete on
    equal terms and its CPU figures are not blurred by wrk/backend time."""
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "none" or len(cpus) < 2:
        return None, None, "no pinning (all processes float over all CPUs)"
    if len(cpus) >= 2 + workers:
        load, proxy = cpus[:-workers], cpus[-workers:]
    else:  # 2 cores, or more workers than spare cores: proxies share the rest
        load, proxy = cpus[:1], cpus[1:]
    note = (f" ({workers} workers time-slice on {len(proxy)} core: CPU per request still "
            "compares, req/s cannot grow; see the 'workers' scenario)"
            if workers > len(proxy) else "")
    return load, proxy, (f"wrk + backend on CPU {','.join(map(str, load))}; "
                         f"proxy under test on CPU {','.join(map(str, proxy))}{note}")


def workers_placement(counts, mode):
    """The workers scenario needs a core per worker for the proxy plus at least
    one for the load. Short of that (2 cores), pinning N workers onto the one
    proxy core would only measure time-slicing, so nothing is pinned: req/s is
    then what the whole machine manages, and CPU per request is the figure that
    tells the worker counts apart."""
    most = max(counts)
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "none":
        return None, None, "no pinning (--pin none)"
    if len(cpus) >= most + 1:
        return placement(most, mode)
    return None, None, (f"no pinning: {len(cpus)} CPU(s) cannot give {most} workers a core "
                        f"each plus one for wrk + backend; everything floats over all CPUs")


# ---------------------------------------------------------------- report

METRICS = ("rps", "mb_per_s", "p99_ms", "cpu_per_100k", "machine_cpu_per_100k", "proxy_cpu_pct",
           "load_core_pct", "proxy_core_pct", "all_core_pct", "other_cpu_pct", "errors")


def medians(runs, scenarios, targets, metrics=METRICS, spread_key="rps"):
    out = {}
    for sc in scenarios:
        for t in targets:
            rs = [r for r in runs if r["scenario"] == sc and r["target"] == t]
            if not rs:
                continue
            m = {}
            for k in metrics:
                vals = [r[k] for r in rs if r.get(k) is not None]
                m[k] = statistics.median(vals) if vals else None
            m["errors"] = sum(r.get("errors", 0) for r in rs)  # total, not median
            m["rounds"] = len(rs)
            vals = [r[spread_key] for r in rs if r.get(spread_key)]
            if len(vals) > 1:  # spread = (max-min)/median, a noise indicator
                m[spread_key + "_spread_pct"] = (100 * (max(vals) - min(vals))
                                                 / statistics.median(vals))
            out.setdefault(sc, {})[t] = m
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def render(rows, columns):
    """A fixed-width table. columns: (header, key or function of the row, format spec);
    the first column is left-aligned, the others right-aligned."""
    cells = [[h for h, _, _ in columns]]
    for row in rows:
        line = []
        for _, key, spec in columns:
            v = key(row) if callable(key) else row.get(key)
            line.append(v if isinstance(v, str) else fmt(v, spec))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = []
    for n, line in enumerate(cells):
        lines.append("  ".join(format(c, ("<" if i == 0 else ">") + str(w))
                               for i, (c, w) in enumerate(zip(line, widths))))
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


WRK_COLUMNS = [
    ("target", "target", None), ("req/s", "rps", ",.0f"), ("±%", "rps_spread_pct", ".0f"),
    ("MB/s", "mb_per_s", ".1f"), ("p99 ms", "p99_ms", ".2f"),
    ("CPU s/100k", "cpu_per_100k", ".3f"), ("proxy CPU%", "proxy_cpu_pct", ".0f"),
    ("core% load/proxy",
     lambda m: f"{fmt(m['load_core_pct'], '.0f')}/{fmt(m['proxy_core_pct'], '.0f')}", None),
    ("other%", "other_cpu_pct", ".0f"), ("errors", "errors", "d")]


def table(med, scenarios, columns=WRK_COLUMNS):
    lines = []
    for sc in scenarios:
        if sc not in med:
            continue
        rows = [dict(m, target=t) for t, m in med[sc].items()]
        lines += ["", f"== {sc} ==", render(rows, columns)]
    return "\n".join(lines)


def paired(runs, scenario, a, b, keys):
    """Per round, the ratio a/b of each key, for the rounds where both ran."""
    by = {(r["scenario"], r["round"], r["target"]): r for r in runs}
    rounds = sorted({r["round"] for r in runs})
    pairs = [(by[scenario, n, a], by[scenario, n, b]) for n in rounds
             if (scenario, n, a) in by and (scenario, n, b) in by]
    out = {"rounds": len(pairs)}
    for k in keys:
        qs = [x[k] / y[k] for x, y in pairs if x.get(k) and y.get(k)]
        out[k] = statistics.median(qs) if qs else None
        out[k + "_range"] = (min(qs), max(qs)) if qs else None
    return out


def ratios(runs, scenarios, subject, others, keys=("rps", "cpu_per_100k", "p99_ms")):
    """subject/other per scenario, as the median over rounds of the ratio
    within each round. Why paired: runs of one round are seconds apart, so a
    machine-wide slowdown (it moves every target of a round together here)
    cancels out in the pair instead of adding to the spread."""
    rows, out = [], {}
    for sc in scenarios:
        for o in others:
            r = paired(runs, sc, subject, o, keys)
            if not r["rounds"]:
                continue
            out.setdefault(sc, {})[f"{subject}/{o}"] = r
            lo_hi = r[keys[0] + "_range"]
            row = {"scenario": sc, "ratio": f"{subject}/{o}",
                   "range": f"{lo_hi[0]:.2f}-{lo_hi[1]:.2f}" if lo_hi else "-"}
            row.update({k: r[k] for k in keys})
            rows.append(row)
    names = {"rps": "req/s", "cpu_per_100k": "CPU/100k", "p99_ms": "p99",
             "gbit_per_s": "Gbit/s", "cpu_s_per_gib": "CPU s/GiB",
             "machine_cpu_per_100k": "all-core CPU/100k", "kib_per_conn": "KiB/conn"}
    columns = ([("scenario", "scenario", None), ("ratio", "ratio", None),
                (names.get(keys[0], keys[0]), keys[0], ".2f"),
                (names.get(keys[0], keys[0]) + " range", "range", None)]
               + [(names.get(k, k), k, ".2f") for k in keys[1:]])
    text = render(rows, columns) if rows else "(no pair to compare)"
    return text, out


# ---------------------------------------------------------------- scenario: wrk

def phase_wrk(args, work, scenarios, proxies, placement_):
    load_cpus, proxy_cpus, _ = placement_
    targets = ([] if args.no_direct else ["direct"]) + proxies
    with Servers() as s:
        backend = s.add(start_http_backend(work, load_cpus))
        procs = {name: s.add(start_proxy(name, name, work, backend.port, proxy_cpus, args))
                 for name in proxies}
        ports = {t: (backend.port if t == "direct" else procs[t].port) for t in targets}
        print("ports: " + ", ".join(f"{t}={p}" for t, p in ports.items()), flush=True)
        check_targets(ports, procs, (("/small", 100), ("/1m", 1 << 20)), args.connections,
                      load_cpus)
        runs = wrk_rounds(args, {t: (ports[t], procs.get(t)) for t in targets}, scenarios,
                          backend, load_cpus, proxy_cpus)

    med = medians(runs, scenarios, targets)
    print("\nMedians over rounds. ±% = req/s spread (max-min)/median; proxy CPU% = proxy\n"
          "process utime+stime / wall; core% = busy % (incl. softirq) of the load (wrk +\n"
          "backend) core(s) / the proxy core(s); other% = CPU used by processes not ours\n"
          "on the cores the run uses (other tenants), % of one core; errors = total")
    print(table(med, scenarios))
    noise_warning(runs, args)
    subject = "bascule" if "bascule" in proxies else (proxies[0] if proxies else None)
    others = [p for p in proxies if p != subject]
    print(f"\nRatios {subject}/other: median over rounds of the same-round ratio; range = min-max\n"
          "(req/s >1 better; CPU/100k and p99 <1 better)")
    if subject != "bascule":
        print("(bascule not run: showing the ratio of the first proxy instead)")
    rtext, rjson = ratios(runs, scenarios, subject, others)
    print(rtext)
    return {"runs": runs, "medians": med, "ratios": rjson}


def noise_warning(runs, args):
    noise = statistics.median(r["other_cpu_pct"] for r in runs) if runs else 0
    if noise > 10:
        print(f"\nwarning: other processes used a median {noise:.0f}% of a core during the "
              "runs; absolute figures are noisy, trust ratios and medians over more rounds"
              + ("" if args.nice < 0 else ", or run with --nice -10 (as root)") + ".")


# ---------------------------------------------------------------- scenario: overhead

class Scraper(threading.Thread):
    """GET /metrics every `interval` seconds, as a monitoring system would."""

    def __init__(self, port, interval):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.stopping = threading.Event()
        self.ok = self.failed = self.bytes = 0

    def run(self):
        while not self.stopping.wait(self.interval):
            try:
                self.bytes += http_get_len(self.port, "/metrics")
                self.ok += 1
            except (OSError, RuntimeError):
                self.failed += 1


def wait_ready_admin(proc, timeout=15.0):
    """Bascule with health checks refuses clients until the backend has passed `rise`
    checks: wait for /readyz 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.alive_check()
        try:
            http_get_len(proc.admin_port, "/readyz")
            return
        except (OSError, RuntimeError):
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name}: /readyz not 200 after {timeout}s:\n{proc.tail()}")


def phase_overhead(args, work, placement_):
    """Bascule as operated (health checks, a /metrics scrape every second, access log)
    against Bascule with all of it off, and a second identical Bascule with all off: the
    control pair (A/A) shows how far two identical targets drift apart on this machine, the
    noise floor any cost below it is lost in. All three run side by side, interleaved."""
    load_cpus, proxy_cpus, _ = placement_
    plain, control, observed = "bascule", "bascule-again", "bascule+observed"
    interval_ms = args.check_interval_ms
    with Servers() as s:
        backend = s.add(start_http_backend(work, load_cpus))
        procs = {
            plain: s.add(start_proxy("bascule", plain, work, backend.port, proxy_cpus, args)),
            control: s.add(start_proxy("bascule", control, work, backend.port, proxy_cpus,
                                       args)),
            observed: s.add(start_proxy("bascule", "bascule-observed", work, backend.port,
                                        proxy_cpus, args,
                                        observed={"interval_ms": interval_ms})),
        }
        wait_ready_admin(procs[observed])
        scraper = Scraper(procs[observed].admin_port, args.scrape_interval)
        scraper.start()
        try:
            ports = {t: p.port for t, p in procs.items()}
            check_targets(ports, procs, (("/small", 100),), args.connections, load_cpus)
            # Idle cost first: with no traffic, what the checks and scrapes alone cost.
            idle0 = {t: p.cpu_seconds() for t, p in procs.items()}
            t0 = time.monotonic()
            time.sleep(max(10, 2 * args.duration))
            idle_s = time.monotonic() - t0
            idle = {t: 1000 * (p.cpu_seconds() - idle0[t]) / idle_s for t, p in procs.items()}
            checks0 = metric_sum(metrics(procs[observed].admin_port), "bascule_health_checks_total")
            runs = wrk_rounds(args, {t: (p.port, p) for t, p in procs.items()},
                              OVERHEAD_WORKLOADS, backend, load_cpus, proxy_cpus)
            checks = metric_sum(metrics(procs[observed].admin_port), "bascule_health_checks_total") - checks0
            logged = metric_sum(metrics(procs[observed].admin_port), "bascule_access_log_lines_total")
            dropped = metric_sum(metrics(procs[observed].admin_port), "bascule_access_log_dropped_lines_total")
        finally:
            scraper.stopping.set()
            scraper.join(5)

    targets = [plain, control, observed]
    med = medians(runs, OVERHEAD_WORKLOADS, targets)
    print(f"\nOverhead: {observed} = health check http /health every {interval_ms} ms, "
          f"GET /metrics every {args.scrape_interval:g} s, access log to a file;\n"
          f"{plain} = all off; {control} = all off too (the A/A control).")
    print(table(med, OVERHEAD_WORKLOADS))
    noise_warning(runs, args)

    def cost_of(w, a):
        r = paired(runs, w, a, plain, ("rps", "cpu_per_100k"))
        pct = (lambda q: None if q is None else 100 * (1 - q))
        rng = r["rps_range"]
        crng = r["cpu_per_100k_range"]
        return {"rounds": r["rounds"], "rps_cost_pct": pct(r["rps"]),
                "rps_cost_range_pct": None if not rng else (pct(rng[1]), pct(rng[0])),
                "cpu_per_100k_cost_pct": None if r["cpu_per_100k"] is None
                else 100 * (r["cpu_per_100k"] - 1),
                "cpu_per_100k_cost_range_pct": None if not crng else
                (100 * (crng[0] - 1), 100 * (crng[1] - 1))}

    cost, noise, rows = {}, {}, []
    for w in OVERHEAD_WORKLOADS:
        cost[w], noise[w] = cost_of(w, observed), cost_of(w, control)
        for what, c in ((f"{observed} vs {plain}", cost[w]),
                        (f"{control} vs {plain} (A/A)", noise[w])):
            lo_hi, clo_hi = c["rps_cost_range_pct"], c["cpu_per_100k_cost_range_pct"]
            rows.append({"workload": w, "pair": what, "rps": c["rps_cost_pct"],
                         "cpu": c["cpu_per_100k_cost_pct"],
                         "range": f"{lo_hi[0]:+.1f} to {lo_hi[1]:+.1f}" if lo_hi else "-",
                         "crange": f"{clo_hi[0]:+.1f} to {clo_hi[1]:+.1f}" if clo_hi else "-"})
    print("\nCost of observability: median over rounds of the same-round pair, + = fewer req/s "
          "or more CPU\nper request; range = min-max over rounds. The A/A rows are two "
          "identical targets: a cost\ninside their range is within this machine's noise. "
          "Target: < 5 %.")
    print(render(rows, [("workload", "workload", None), ("pair", "pair", None),
                        ("req/s cost %", "rps", "+.1f"), ("range", "range", None),
                        ("CPU/100k cost %", "cpu", "+.1f"), ("range", "crange", None)]))
    print(f"during the runs: {checks:.0f} health checks, {scraper.ok} scrapes "
          f"({scraper.failed} failed, {scraper.bytes / max(1, scraper.ok) / 1024:.1f} KiB "
          f"each), {logged:.0f} access-log lines ({dropped:.0f} dropped)")
    print(f"idle, no traffic, {idle_s:.0f} s: CPU ms per second " + ", ".join(
        f"{t} {v:.1f}" for t, v in idle.items())
        + f" (resolution {1000 / CLK_TCK / idle_s:.1f} ms/s: one clock tick over the window)")
    return {"workloads": list(OVERHEAD_WORKLOADS), "check_interval_ms": interval_ms,
            "idle_cpu_ms_per_s": idle, "idle_seconds": idle_s,
            "scrape_interval_s": args.scrape_interval, "runs": runs, "medians": med,
            "cost": cost, "control": noise, "health_checks": checks, "scrapes_ok": scraper.ok,
            "scrapes_failed": scraper.failed, "access_log_lines": logged,
            "access_log_dropped": dropped}


# ---------------------------------------------------------------- scenario: workers

WORKERS_COLUMNS = [
    ("target", "target", None), ("req/s", "rps", ",.0f"), ("±%", "rps_spread_pct", ".0f"),
    ("p99 ms", "p99_ms", ".2f"), ("CPU s/100k", "cpu_per_100k", ".3f"),
    ("all-core CPU s/100k", "machine_cpu_per_100k", ".3f"),
    ("proxy CPU%", "proxy_cpu_pct", ".0f"), ("all-core busy%", "all_core_pct", ".0f"),
    ("other%", "other_cpu_pct", ".0f"), ("errors", "errors", "d")]


def phase_workers(args, work, proxies):
    counts = sorted(set(args.workers_compare))
    load_cpus, proxy_cpus, where = workers_placement(counts, args.pin)
    print(f"workers placement: {where}", flush=True)
    labels = [f"{p}-w{n}" for p in proxies for n in counts]
    with Servers() as s:
        backend = s.add(start_http_backend(work, load_cpus))
        procs = {f"{p}-w{n}": s.add(start_proxy(p, f"{p}-w{n}", work, backend.port, proxy_cpus,
                                                args, workers=n))
                 for p in proxies for n in counts}
        check_targets({t: p.port for t, p in procs.items()}, procs, (("/small", 100),),
                      args.connections, load_cpus)
        runs = wrk_rounds(args, {t: (p.port, p) for t, p in procs.items()}, WORKERS_WORKLOADS,
                          backend, load_cpus, proxy_cpus)

    med = medians(runs, WORKERS_WORKLOADS, labels)
    print(f"\nWorkers {' vs '.join(map(str, counts))} ({where}). CPU s/100k = the proxy's own CPU "
          "per 100k requests;\nall-core CPU s/100k = busy time of every core (wrk, backend, "
          "softirq included) per 100k requests.")
    print(table(med, WORKERS_WORKLOADS, WORKERS_COLUMNS))
    noise_warning(runs, args)
    out_ratios, rows = {}, []
    for p in proxies:
        for n in counts[1:]:
            a, b = f"{p}-w{n}", f"{p}-w{counts[0]}"
            for w in WORKERS_WORKLOADS:
                r = paired(runs, w, a, b, ("rps", "cpu_per_100k", "machine_cpu_per_100k"))
                if r["rounds"]:
                    out_ratios.setdefault(w, {})[f"{a}/{b}"] = r
                    rows.append(dict(r, scenario=w, ratio=f"{a}/{b}"))
    print(f"\nRatios w{'/w'.join(map(str, counts[::-1]))} per proxy (median of same-round ratios;"
          " req/s >1: more with more workers; CPU <1: cheaper)")
    print(render(rows, [("scenario", "scenario", None), ("ratio", "ratio", None),
                        ("req/s", "rps", ".2f"), ("CPU/100k", "cpu_per_100k", ".2f"),
                        ("all-core CPU/100k", "machine_cpu_per_100k", ".2f")])
          if rows else "(no pair to compare)")
    return {"counts": counts, "placement": where, "workloads": list(WORKERS_WORKLOADS),
            "runs": runs, "medians": med, "ratios": out_ratios}


# ---------------------------------------------------------------- scenario: single-stream

STREAM_METRICS = ("gbit_per_s", "cpu_s_per_gib", "proxy_cpu_pct", "load_core_pct",
                  "proxy_core_pct", "other_cpu_pct", "retransmits", "seconds")


def run_iperf3(port, nbytes, cpus):
    # Bytes as a plain number: iperf3's own suffixes are binary (K = 1024), avoid doubt.
    argv = pin(cpus) + ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n", str(nbytes),
                        "-J", "--connect-timeout", "5000"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    renice(p.pid, Proc.autogroup_nice)
    try:
        # Generous: 10 GiB at 200 Mbit/s is ~7 min; a wedged run still ends.
        out = p.communicate(timeout=60 + nbytes / 25e6)[0].decode(errors="replace")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    try:
        doc = json.loads(out)
    except ValueError:
        raise RuntimeError(f"iperf3 to port {port}: unreadable output ({p.returncode}):\n{out[-2000:]}")
    if doc.get("error") or p.returncode != 0:
        raise RuntimeError(f"iperf3 to port {port} failed: {doc.get('error')}")
    end = doc["end"]
    return {"bits_per_s": end["sum_received"]["bits_per_second"],
            "bytes": end["sum_received"]["bytes"],
            "seconds": end["sum_received"]["seconds"],
            "retransmits": end["sum_sent"].get("retransmits"),
            "iperf_cpu": end.get("cpu_utilization_percent")}


def phase_stream(args, work, proxies, placement_):
    """One TCP stream of --stream-bytes: iperf3 server behind each proxy (its control
    and data connections both go through the proxy to the one server)."""
    load_cpus, proxy_cpus, _ = placement_
    targets = ([] if args.no_direct else ["direct"]) + proxies
    nbytes = args.stream_bytes
    runs = []
    with Servers() as s:
        sport = free_port()
        server = s.add(Proc("iperf3-server", pin(load_cpus) + [
            "iperf3", "-s", "-B", "127.0.0.1", "-p", str(sport)], work, port=sport))
        server.wait_ready()
        time.sleep(0.2)  # iperf3 logs and drops wait_ready's empty connection; let it settle
        procs = {name: s.add(start_proxy(name, name, work, sport, proxy_cpus, args, hold=True))
                 for name in proxies}
        ports = {t: (sport if t == "direct" else procs[t].port) for t in targets}
        print(f"single stream of {nbytes / GIB:g} GiB; ports: "
              + ", ".join(f"{t}={p}" for t, p in ports.items()), flush=True)
        for t in targets:  # sanity: 16 MiB through every target
            run_iperf3(ports[t], 16 << 20, load_cpus)
        for rnd in range(args.rounds):
            k = rnd % len(targets)
            for t in targets[k:] + targets[:k]:
                proxy = procs.get(t)
                c0p = proxy.cpu_seconds() if proxy else 0.0
                c0s = server.cpu_seconds()
                ru0, ct0, t0 = os.times(), cpu_times(), time.monotonic()
                r = run_iperf3(ports[t], nbytes, load_cpus)
                wall = time.monotonic() - t0
                ru1, ct1 = os.times(), cpu_times()
                r.update(round=rnd, scenario="single-stream", target=t, wall_s=wall,
                         gbit_per_s=r["bits_per_s"] / 1e9)
                r["load_core_pct"], _ = busy_pct(ct0, ct1, load_cpus)
                r["proxy_core_pct"], _ = busy_pct(ct0, ct1, proxy_cpus)
                r["proxy_cpu_s"] = r["proxy_cpu_pct"] = r["cpu_s_per_gib"] = None
                if proxy:
                    proxy.alive_check()
                    r["proxy_cpu_s"] = proxy.cpu_seconds() - c0p
                    r["proxy_cpu_pct"] = 100 * r["proxy_cpu_s"] / wall
                    r["cpu_s_per_gib"] = r["proxy_cpu_s"] / (r["bytes"] / GIB)
                ours = (ru1.children_user - ru0.children_user + ru1.children_system
                        - ru0.children_system + server.cpu_seconds() - c0s
                        + (r["proxy_cpu_s"] or 0))
                used = (load_cpus + (proxy_cpus if proxy else [])) if load_cpus else None
                r["other_cpu_pct"] = other_cpu_pct(ct0, ct1, used, ours, wall)
                runs.append(r)
                print(f"round {rnd + 1}/{args.rounds} single-stream    {t:<8} "
                      f"{r['gbit_per_s']:>6.2f} Gbit/s  {r['seconds']:>5.1f} s  proxy CPU "
                      f"{fmt(r['proxy_cpu_pct'], '.0f'):>3}%  cores "
                      f"{fmt(r['load_core_pct'], '.0f')}/{fmt(r['proxy_core_pct'], '.0f')}%  "
                      f"other {r['other_cpu_pct']:.0f}%  retransmits {r['retransmits']}",
                      flush=True)
                time.sleep(0.5)

    med = medians(runs, ["single-stream"], targets, STREAM_METRICS, "gbit_per_s")
    print(f"\nSingle TCP stream of {nbytes / GIB:g} GiB (iperf3 -n; client and server on the "
          "load core(s)), medians over rounds.\nCPU s/GiB = proxy CPU seconds per GiB relayed; "
          "±% = Gbit/s spread (max-min)/median.")
    print(table(med, ["single-stream"], [
        ("target", "target", None), ("Gbit/s", "gbit_per_s", ".2f"),
        ("±%", "gbit_per_s_spread_pct", ".0f"), ("vs direct", lambda m: fmt(
            m["gbit_per_s"] / med["single-stream"]["direct"]["gbit_per_s"], ".2f")
            if "direct" in med["single-stream"] and m["gbit_per_s"] else "-", None),
        ("CPU s/GiB", "cpu_s_per_gib", ".3f"), ("proxy CPU%", "proxy_cpu_pct", ".0f"),
        ("core% load/proxy",
         lambda m: f"{fmt(m['load_core_pct'], '.0f')}/{fmt(m['proxy_core_pct'], '.0f')}", None),
        ("other%", "other_cpu_pct", ".0f"), ("retrans", "retransmits", ".0f")]))
    subject = "bascule" if "bascule" in proxies else (proxies[0] if proxies else None)
    others = [p for p in proxies if p != subject] + ([] if args.no_direct else ["direct"])
    rtext, rjson = ratios(runs, ["single-stream"], subject, others,
                          keys=("gbit_per_s", "cpu_s_per_gib"))
    print(f"\nRatios {subject}/other (median of same-round ratios; Gbit/s >1 better, "
          "CPU s/GiB <1 better)")
    print(rtext)
    return {"bytes": nbytes, "runs": runs, "medians": med, "ratios": rjson}


# ---------------------------------------------------------------- scenario: memory

MEMORY_METRICS = ("connections", "kib_per_conn", "anon_kib_per_conn", "rss_before_kib",
                  "rss_held_kib", "rss_after_close_kib", "fds_per_conn",
                  "kernel_sockets_per_conn", "kernel_tcp_kib_per_conn", "kernel_slab_kib_per_conn",
                  "open_seconds")


def sockstat():
    """(TCP sockets in use, TCP buffer pages) from /proc/net/sockstat: the whole
    network namespace, every process's sockets."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                v = line.split()
                d = dict(zip(v[1::2], map(int, v[2::2])))
                return d.get("inuse", 0), d.get("mem", 0)
    return 0, 0


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def echo_once(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b".")
        if c.recv(1) != b".":
            raise RuntimeError(f"port {port}: no echo")


def idle_connections(args):
    """Connections the fd hard limit allows: a proxy holds 2 fds per proxied
    connection (client side + backend side) plus a few hundred of its own at most."""
    hard = nofile_hard()
    feasible = max(500, (hard - 600) // 2 // 500 * 500)
    return min(args.idle_connections, feasible), hard


def memory_run(args, work, target, count, backend_port, cpus):
    """One target: fresh proxy, baseline, `count` idle connections held, close."""
    proxy = None
    port = backend_port
    with Servers() as s:
        if target != "direct":
            # Fresh for every run: a proxy that already held and freed connections keeps
            # that memory and would look cheaper the second time.
            proxy = s.add(start_proxy(target, f"{target}-idle", work, backend_port,
                                      cpus["proxy"], args, maxconn=count + 100, hold=True))
            port = proxy.port
            echo_once(port)  # past the first connection's one-time set-up
            time.sleep(0.5)
        pids = proxy.pids() if proxy else []
        rss0, anon0, fd0 = status_kib(pids, "VmRSS"), status_kib(pids, "RssAnon"), fd_count(pids)
        (socks0, tcp0), slab0 = sockstat(), meminfo_kib("Slab")
        client = s.add(Proc(f"idle-client-{target}", pin(cpus["load"]) + [
            sys.executable, os.path.join(HERE, "idle_peers.py"), "open", "--port", str(port),
            "--count", str(count), "--payload", str(args.idle_payload)], work, pipes=True))
        res = json.loads(client.read_line(timeout=180))
        time.sleep(1.0)  # let the proxy finish its bookkeeping of the last connections
        pids = proxy.pids() if proxy else []
        rss1, anon1, fd1 = status_kib(pids, "VmRSS"), status_kib(pids, "RssAnon"), fd_count(pids)
        (socks1, tcp1), slab1 = sockstat(), meminfo_kib("Slab")
        if proxy:
            proxy.alive_check()
        client.stop()  # closes its stdin: it closes every connection and exits
        rss2 = None
        if proxy:
            deadline = time.monotonic() + 30
            while fd_count(pids) > fd0 + 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
            rss2 = status_kib(pids, "VmRSS")
    n = res["established"] or 1
    r = {"round": None, "scenario": "memory", "target": target, "requested": count,
         "payload": args.idle_payload,
         "connections": res["established"], "failed": res["failed"], "errors": res["failed"],
         "error_kinds": res["errors"], "open_seconds": res["seconds"],
         "rss_before_kib": rss0 if proxy else None, "rss_held_kib": rss1 if proxy else None,
         "rss_after_close_kib": rss2, "anon_before_kib": anon0 if proxy else None,
         "anon_held_kib": anon1 if proxy else None,
         "kib_per_conn": (rss1 - rss0) / n if proxy else None,
         "anon_kib_per_conn": (anon1 - anon0) / n if proxy else None,
         "fds_per_conn": (fd1 - fd0) / n if proxy else None,
         "kernel_sockets_per_conn": (socks1 - socks0) / n,
         "kernel_tcp_kib_per_conn": (tcp1 - tcp0) * PAGE_KIB / n,
         "kernel_slab_kib_per_conn": (slab1 - slab0) / n}
    return r


def phase_memory(args, work, proxies, placement_):
    load_cpus, proxy_cpus, _ = placement_
    count, hard = idle_connections(args)
    targets = ([] if args.no_direct else ["direct"]) + proxies
    scaled = count != args.idle_connections
    print(f"memory: {count:,} idle connections per target"
          + (f" (asked {args.idle_connections:,}; the fd hard limit {hard} allows a proxy "
             f"about {(hard - 600) // 2:,}: 2 fds per proxied connection; the figures are per "
             "connection, the 10,000 column scales them)" if scaled else ""), flush=True)
    runs = []
    with Servers() as s:
        bport = free_port()
        holder = s.add(Proc("idle-backend", pin(load_cpus) + [
            sys.executable, os.path.join(HERE, "idle_peers.py"), "accept", "--port", str(bport)],
            work, port=bport))
        holder.wait_ready()
        for rnd in range(args.rounds):
            k = rnd % len(targets)
            for t in targets[k:] + targets[:k]:
                holder.alive_check()
                r = memory_run(args, work, t, count, bport, {"load": load_cpus,
                                                              "proxy": proxy_cpus})
                r["round"] = rnd
                runs.append(r)
                print(f"round {rnd + 1}/{args.rounds} memory           {t:<8} "
                      f"{r['connections']:>6,} held ({r['failed']} failed) in "
                      f"{r['open_seconds']:.1f} s  RSS "
                      + (f"{r['rss_before_kib'] / 1024:.1f} -> {r['rss_held_kib'] / 1024:.1f} MiB"
                         f" = {r['kib_per_conn']:.2f} KiB/conn, fds/conn "
                         f"{r['fds_per_conn']:.2f}" if r["kib_per_conn"] is not None else "-")
                      + f"  kernel sockets/conn {r['kernel_sockets_per_conn']:.2f}", flush=True)
                time.sleep(1.0)

    med = medians(runs, ["memory"], targets, MEMORY_METRICS, "kib_per_conn")
    m = med.get("memory", {})
    print(f"\nMemory per idle connection ({count:,} connections, each with {args.idle_payload:,} "
          "byte(s) echoed end to end), medians over rounds.\nKiB/conn = (VmRSS held - VmRSS before) / connections, "
          "summed over the proxy's processes\n(nginx: master + workers); anon = RssAnon (heap) "
          "only. 'after close' = RSS once every connection closed.\nkernel columns are the "
          "whole machine's, shared by client, proxy and backend sockets alike: TCP = buffer\n"
          "pages in /proc/net/sockstat, slab = Slab in /proc/meminfo (other tenants move it too);\n"
          "slab - direct = what the proxy hop adds in the kernel (its 2 sockets, epoll entries, "
          "pipes if it keeps any).")
    print(table(med, ["memory"], [
        ("target", "target", None), ("conns", "connections", ",.0f"),
        ("KiB/conn", "kib_per_conn", ".2f"), ("±%", "kib_per_conn_spread_pct", ".0f"),
        ("anon KiB/conn", "anon_kib_per_conn", ".2f"),
        ("MiB per 10k", lambda r: fmt(None if r["kib_per_conn"] is None
                                      else r["kib_per_conn"] * 10000 / 1024, ".1f"), None),
        ("RSS before MiB", lambda r: fmt(r["rss_before_kib"] and r["rss_before_kib"] / 1024,
                                         ".1f"), None),
        ("held MiB", lambda r: fmt(r["rss_held_kib"] and r["rss_held_kib"] / 1024, ".1f"), None),
        ("after close MiB", lambda r: fmt(r["rss_after_close_kib"]
                                          and r["rss_after_close_kib"] / 1024, ".1f"), None),
        ("fds/conn", "fds_per_conn", ".2f"),
        ("kernel sockets/conn", "kernel_sockets_per_conn", ".2f"),
        ("kernel TCP KiB/conn", "kernel_tcp_kib_per_conn", ".2f"),
        ("kernel slab KiB/conn", "kernel_slab_kib_per_conn", ".2f"),
        ("slab - direct", lambda r: "-" if "direct" not in m or r["target"] == "direct" else
         fmt(r["kernel_slab_kib_per_conn"] - m["direct"]["kernel_slab_kib_per_conn"], "+.2f"),
         None),
        ("failed", "errors", "d")]))
    subject = "bascule" if "bascule" in proxies else (proxies[0] if proxies else None)
    others = [p for p in proxies if p != subject]
    rtext, rjson = ratios(runs, ["memory"], subject, others, keys=("kib_per_conn",))
    print(f"\nRatios {subject}/other KiB per connection (median of same-round ratios; <1 = "
          "less memory)")
    print(rtext)
    return {"connections": count, "requested": args.idle_connections, "fd_hard_limit": hard,
            "payload": args.idle_payload,
            "runs": runs, "medians": med, "ratios": rjson}


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians over them)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections for *-small")
    ap.add_argument("--bulk-connections", type=int, default=8, help="wrk connections for bulk-1m")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma list of {', '.join(SCENARIOS)} (default: all)")
    ap.add_argument("--only", default=",".join(PROXIES), help="proxies to run (comma list)")
    ap.add_argument("--no-direct", action="store_true", help="skip the backend-direct reference")
    ap.add_argument("--workers", type=int, default=1,
                    help="workers/threads per proxy (every scenario but 'workers')")
    ap.add_argument("--workers-compare", default="1,2",
                    help="worker counts the 'workers' scenario compares")
    ap.add_argument("--stream-bytes", default="10G",
                    help="single-stream size: bytes, or with K/M/G (binary) (default 10G; "
                         "--quick: 1G)")
    ap.add_argument("--idle-connections", type=int, default=10000,
                    help="memory scenario: connections to hold (capped by the fd hard limit; "
                         "--quick: 2000)")
    ap.add_argument("--idle-payload", type=int, default=1,
                    help="memory scenario: bytes echoed through each connection before it is "
                         "held (1: just established; 16384: as after a real exchange)")
    ap.add_argument("--check-interval-ms", type=int, default=1000,
                    help="overhead scenario: Bascule health-check interval")
    ap.add_argument("--scrape-interval", type=float, default=1.0,
                    help="overhead scenario: seconds between /metrics scrapes")
    ap.add_argument("--pin", choices=("auto", "none"), default="auto",
                    help="auto: wrk+backend on CPU 0, proxy on CPU 1 (see README)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness for everything we start; e.g. -10 (root) to outrank other "
                         "tenants' CPU work on a shared box")
    ap.add_argument("--json", help="write every run, median and ratio here (default: "
                                   "Benchmarks/results/e2e-<UTC time>.json)")
    ap.add_argument("--no-json", action="store_true", help="write no JSON file")
    ap.add_argument("--quick", action="store_true",
                    help="1 round of 2 s, 1 GiB stream, 2000 idle connections (smoke check)")
    ap.add_argument("--bascule-bin", default=os.environ.get("BASCULE_BIN", "bascule"),
                    help="bascule binary (run.sh passes the release build via $BASCULE_BIN)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 2
        if "--stream-bytes" not in " ".join(sys.argv):
            args.stream_bytes = "1G"
        if "--idle-connections" not in " ".join(sys.argv):
            args.idle_connections = 2000
    try:
        args.stream_bytes = parse_bytes(args.stream_bytes)
        args.workers_compare = [int(n) for n in args.workers_compare.split(",") if n]
    except ValueError as e:
        ap.error(str(e))
    if not args.workers_compare or min(args.workers_compare) < 1:
        ap.error("--workers-compare needs worker counts >= 1, e.g. 1,2")
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.proxies = [p for p in args.only.split(",") if p and p != "direct"]
    for s in args.scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    for p in args.proxies:
        if p not in PROXIES:
            ap.error(f"unknown proxy {p!r}; known: {', '.join(PROXIES)}")
    if args.json is None and not args.no_json:
        args.json = os.path.join(RESULTS_DIR, time.strftime("e2e-%Y%m%dT%H%M%SZ.json",
                                                            time.gmtime()))
    return args


def parse_bytes(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*", text, re.I)
    if not m:
        raise ValueError(f"not a byte count: {text!r} (e.g. 10G, 512M, 1073741824)")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[
        m.group(2).upper()])


def main():
    args = parse_args()
    # Raise our fd limit to the hard limit; every server we start inherits it.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.nice:
        # Set on ourselves so every child (servers, wrk) inherits it; renice()
        # does the same for each child's autogroup.
        Proc.autogroup_nice = args.nice
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    # SIGTERM/SIGHUP -> exception, so the finally below still stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    proxies = args.proxies
    wrk_scenarios = [s for s in args.scenarios if s in WRK_SCENARIOS]
    own = [s for s in OWN_SCENARIOS if s in args.scenarios]
    if "overhead" in own and "bascule" not in proxies:
        print("overhead: skipped (it measures Bascule; bascule is not in --only)")
        own.remove("overhead")
    place = placement(args.workers, args.pin)
    print(f"placement: {place[2]}")
    targets = ([] if args.no_direct else ["direct"]) + proxies
    print(f"plan: {args.rounds} rounds; wrk scenarios {','.join(wrk_scenarios) or '-'} x "
          f"{len(targets)} targets x {args.duration}s (wrk -t1, -c{args.connections}, bulk "
          f"-c{args.bulk_connections}; {args.workers} worker(s) per proxy; nice {args.nice}); "
          f"then {', '.join(own) or 'nothing else'}", flush=True)

    result = {"schema": JSON_SCHEMA,
              "meta": {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "args": vars(args), "placement": place[2],
                       "cpus": sorted(os.sched_getaffinity(0)),
                       "versions": versions(proxies)},
              "runs": [], "medians": {}, "ratios": {}}

    def save():
        # After every phase, so a later failure or Ctrl-C keeps what was measured.
        result["summary"] = summary(result)
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)

    work = tempfile.mkdtemp(prefix="bascule-e2e-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user when we are root
    try:
        if wrk_scenarios and targets:
            result.update(phase_wrk(args, work, wrk_scenarios, proxies, place))
            save()
        for sc in own:
            print(f"\n######## {sc}", flush=True)
            if sc == "overhead":
                result["overhead"] = phase_overhead(args, work, place)
            elif sc == "workers" and proxies:
                result["workers"] = phase_workers(args, work, proxies)
            elif sc == "single-stream":
                result["single_stream"] = phase_stream(args, work, proxies, place)
            elif sc == "memory":
                result["memory"] = phase_memory(args, work, proxies, place)
            save()
    finally:
        for p in reversed(Proc.started):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(f"\nevery run, median and ratio written to {args.json}")


def summary(result):
    """The headline medians under flat, stable keys, for comparing runs over time
    (the full detail stays in the sections beside it)."""
    def pick(med, keys):
        return {t: {k: m.get(k) for k in keys} for t, m in med.items()}
    out = {sc: pick(m, ("rps", "cpu_per_100k", "p99_ms", "errors"))
           for sc, m in result.get("medians", {}).items()}
    if "overhead" in result:
        for key, part in (("overhead_cost_pct", "cost"), ("overhead_control_pct", "control")):
            out[key] = {w: {"rps": c["rps_cost_pct"], "cpu_per_100k": c["cpu_per_100k_cost_pct"]}
                        for w, c in result["overhead"][part].items()}
    if "workers" in result:
        out["workers"] = {w: pick(m, ("rps", "cpu_per_100k", "machine_cpu_per_100k"))
                          for w, m in result["workers"]["medians"].items()}
    if "single_stream" in result:
        out["single_stream"] = pick(result["single_stream"]["medians"].get("single-stream", {}),
                                    ("gbit_per_s", "cpu_s_per_gib"))
    if "memory" in result:
        out["memory"] = pick(result["memory"]["medians"].get("memory", {}),
                             ("connections", "kib_per_conn", "anon_kib_per_conn",
                              "kernel_slab_kib_per_conn"))
    return out


def http_get_len(port, path):
    return len(http_get(port, path))


def versions(proxies):
    def first_line(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None
    v = {"haproxy": first_line(["haproxy", "-v"]), "nginx": first_line(["nginx", "-v"]),
         "wrk": first_line(["wrk", "-v"]), "iperf3": first_line(["iperf3", "--version"]),
         "python": sys.version.split()[0], "kernel": os.uname().release}
    if "bascule" in proxies:
        v["bascule"] = first_line(["git", "-C", HERE, "describe", "--always", "--dirty"])
    return v


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        sys.exit(f"error: {e}")
