#!/usr/bin/env python3
"""End-to-end side-by-side benchmark: Bascule vs HAProxy (tcp) vs nginx stream.

One nginx HTTP backend, three L4 proxies in front of it, wrk as the load
generator, all on 127.0.0.1 with ports picked free at run time. Runs are
interleaved (round -> scenario -> proxy, order rotated per round) so slow
drift of the machine spreads evenly over the proxies. Python stdlib only.
See README.md next to this file for how to read the output.
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
import time

PROXIES = ("bascule", "haproxy", "nginx")
SCENARIOS = {
    # name: (path, keep-alive?, uses --bulk-connections?)
    "keepalive-small": ("/small", True, False),
    "close-small": ("/small", False, False),
    "bulk-1m": ("/1m", True, True),
}
STREAM_MODULE_CANDIDATES = (
    "/usr/lib/nginx/modules/ngx_stream_module.so",
    "/usr/lib64/nginx/modules/ngx_stream_module.so",
    "/usr/share/nginx/modules/ngx_stream_module.so",
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- processes

def free_port():
    # Bind to port 0 and let the kernel pick; the tiny race before the
    # server binds it is acceptable on a benchmark box.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NICE = 0  # set from --nice


def renice(pid):
    """Give a process we started our priority. Every server and wrk runs in its
    own session (so it can be killed as a group), and with autogroup scheduling
    (Linux default) each session is its own scheduling group: plain nice then
    does nothing against other sessions. The autogroup's nice does."""
    if NICE:
        try:
            with open(f"/proc/{pid}/autogroup", "w") as f:
                f.write(str(NICE))
        except OSError:
            pass  # no autogroup (kernel without it): the inherited nice applies


def pin(cpus):
    return ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []


class Proc:
    """A started server: own session (so we can kill its whole group) and
    stderr captured to a file, shown if it dies."""

    def __init__(self, name, argv, port, workdir):
        self.name, self.port = name, port
        self.errpath = os.path.join(workdir, f"{name}.stderr")
        self.errfile = open(self.errpath, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.errfile,
                                  stderr=self.errfile, start_new_session=True)
        renice(self.p.pid)

    def stderr_tail(self):
        with open(self.errpath, "rb") as f:
            return f.read()[-4000:].decode(errors="replace")

    def wait_ready(self, timeout=15.0):
        # Ready = the port accepts a TCP connection. Fail loudly, with the
        # server's own stderr, if it exits or never listens.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.p.returncode} "
                                   f"before listening on {self.port}:\n{self.stderr_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} not accepting on 127.0.0.1:{self.port} after "
                           f"{timeout}s:\n{self.stderr_tail()}")

    def alive_check(self):
        if self.p.poll() is not None:
            raise RuntimeError(f"{self.name} died (status {self.p.returncode}):\n"
                               f"{self.stderr_tail()}")

    def cpu_seconds(self):
        # utime+stime of the process and its descendants (nginx's worker is a
        # child of its master). /proc/PID/stat counts every thread of a process.
        pids = tree_pids(self.p.pid)
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError):
                pass
        return total / CLK_TCK

    def stop(self):
        if self.p.poll() is None:
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
                try:
                    os.killpg(self.p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.p.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.errfile.close()


def tree_pids(root):
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


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


# ---------------------------------------------------------------- configs

def stream_module_path():
    for p in STREAM_MODULE_CANDIDATES:
        if os.path.exists(p):
            return p
    raise RuntimeError("ngx_stream_module.so not found; apt-get install -y libnginx-mod-stream")


def nginx_common(prefix, workers):
    # Everything nginx writes goes under its own prefix, never /var/log or /run.
    return f"""worker_processes {workers};
worker_rlimit_nofile 65536;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; multi_accept on; }}
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
        location = /1m {{ root {www}; }}
    }}
}}
"""


def nginx_stream_conf(prefix, port, backend_port, workers):
    return f"load_module {stream_module_path()};\n" + nginx_common(prefix, workers) + f"""stream {{
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_pass 127.0.0.1:{backend_port};
        proxy_connect_timeout 5s;
        proxy_timeout 60s;
    }}
}}
"""


def haproxy_conf(port, backend_port, workers):
    # No 'log' lines: HAProxy logs nothing unless told to. maxconn as high as
    # the fd limit allows (HAProxy refuses to start if it cannot get 2 fds per
    # connection); far above the few dozen connections wrk opens anyway.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    maxconn = max(1000, min(100000, (nofile - 200) // 2))
    return f"""global
    nbthread {workers}
    maxconn {maxconn}
defaults
    mode tcp
    maxconn {maxconn}
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen bench
    bind 127.0.0.1:{port} backlog 4096
    server nginx 127.0.0.1:{backend_port}
"""


def bascule_conf(port, backend_port, admin_port, workers):
    # Schema: /work/shared/DESIGN.md (config.json).
    return {
        "workers": workers,
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
        "services": [{
            "name": "bench",
            "listen": f"127.0.0.1:{port}",
            "strategy": "round-robin",
            "healthCheck": {"type": "none"},
            "backends": [{"name": "nginx", "address": f"127.0.0.1:{backend_port}"}],
        }],
    }


def start_target(name, work, backend_port, cpus, args):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    port = free_port()
    if name == "bascule":
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump(bascule_conf(port, backend_port, free_port(), args.workers), f, indent=2)
        argv = [args.bascule_bin, "run", "--config", path]
    elif name == "haproxy":
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(haproxy_conf(port, backend_port, args.workers))
        argv = ["haproxy", "-db", "-f", path]  # -db: foreground, no daemon
    elif name == "nginx":
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(nginx_stream_conf(d, port, backend_port, args.workers))
        argv = ["nginx", "-e", "stderr", "-p", d, "-c", path]
    else:
        raise ValueError(name)
    proc = Proc(name, pin(cpus) + argv, port, work)
    proc.wait_ready()
    return proc


# ---------------------------------------------------------------- wrk

UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def parse_wrk(out):
    def num_unit(pattern, units):
        m = re.search(pattern, out)
        return float(m.group(1)) * units[m.group(2)] if m else None

    done, rps = re.search(r"(\d+) requests in", out), re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not done or not rps:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    r = {
        "requests": int(done.group(1)),
        "rps": float(rps.group(1)),
        "bytes_per_s": num_unit(r"Transfer/sec:\s+([\d.]+)(\w+)", UNITS_BYTES),
        "p50_ms": num_unit(r"\n\s+50%\s+([\d.]+)(\w+)", UNITS_TIME),
        "p99_ms": num_unit(r"\n\s+99%\s+([\d.]+)(\w+)", UNITS_TIME),
    }
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["errors"] = r["socket_errors"] + r["non2xx"]
    return r


def run_wrk(url, connections, duration, close, cpus):
    argv = pin(cpus) + ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    p = subprocess.Popen(argv + [url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    renice(p.pid)
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
    r = parse_wrk(out)
    r["duration"], r["wall_s"] = duration, wall
    r["mb_per_s"] = r["bytes_per_s"] / 1e6 if r["bytes_per_s"] else None
    # wrk is our only child reaped during the run, so children times = wrk.
    r["wrk_cpu_s"] = (ru1.children_user - ru0.children_user
                      + ru1.children_system - ru0.children_system)
    r["backend_cpu_s"] = backend.cpu_seconds() - c0b
    r["load_cpu_pct"] = 100 * (r["wrk_cpu_s"] + r["backend_cpu_s"]) / wall
    r["load_core_pct"], r["load_steal_pct"] = busy_pct(ct0, ct1, load_cpus)
    r["proxy_core_pct"], r["proxy_steal_pct"] = busy_pct(ct0, ct1, proxy_cpus)
    r["proxy_cpu_s"] = r["proxy_cpu_pct"] = r["cpu_per_100k"] = None
    if proxy:
        proxy.alive_check()
        r["proxy_cpu_s"] = proxy.cpu_seconds() - c0p
        r["proxy_cpu_pct"] = 100 * r["proxy_cpu_s"] / wall
        if r["requests"]:
            r["cpu_per_100k"] = r["proxy_cpu_s"] / r["requests"] * 1e5
    # CPU used by anything but our processes, in % of one core: the noise
    # from other tenants of the machine (a parallel build, say). Only over the
    # cores this run uses: others filling the idle proxy core in a "direct"
    # run do not disturb it.
    ours = r["wrk_cpu_s"] + r["backend_cpu_s"] + (r["proxy_cpu_s"] or 0)
    used = (load_cpus + (proxy_cpus if proxy else [])) if load_cpus else list(ct1)
    procjiff = sum(ct1[c][3] - ct0[c][3] for c in used)
    r["other_cpu_pct"] = max(0.0, 100 * (procjiff / CLK_TCK - ours) / wall)
    return r


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
    return load, proxy, (f"wrk + backend on CPU {','.join(map(str, load))}; "
                         f"proxy under test on CPU {','.join(map(str, proxy))}")


# ---------------------------------------------------------------- report

METRICS = ("rps", "mb_per_s", "p99_ms", "cpu_per_100k", "proxy_cpu_pct", "load_core_pct",
           "proxy_core_pct", "other_cpu_pct", "errors")


def medians(runs, scenarios, targets):
    out = {}
    for sc in scenarios:
        for t in targets:
            rs = [r for r in runs if r["scenario"] == sc and r["target"] == t]
            if not rs:
                continue
            m = {}
            for k in METRICS:
                vals = [r[k] for r in rs if r.get(k) is not None]
                m[k] = statistics.median(vals) if vals else None
            m["errors"] = sum(r["errors"] for r in rs)  # total, not median: any error matters
            m["rounds"] = len(rs)
            if len(rs) > 1:  # spread = (max-min)/median of req/s, a noise indicator
                rps = [r["rps"] for r in rs]
                m["rps_spread_pct"] = 100 * (max(rps) - min(rps)) / statistics.median(rps)
            out.setdefault(sc, {})[t] = m
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(med, scenarios):
    cols = [("target", "<8", None), ("req/s", ">10", ",.0f"), ("±%", ">5", ".0f"),
            ("MB/s", ">8", ".1f"), ("p99 ms", ">8", ".2f"), ("CPU s/100k", ">10", ".3f"),
            ("proxy CPU%", ">10", ".0f"), ("core% load/proxy", ">16", None),
            ("other%", ">6", ".0f"), ("errors", ">6", "d")]
    keys = [None, "rps", "rps_spread_pct", "mb_per_s", "p99_ms", "cpu_per_100k",
            "proxy_cpu_pct", "cores", "other_cpu_pct", "errors"]
    lines = []
    header = "  ".join(format(c[0], c[1]) for c in cols)
    for sc in scenarios:
        if sc not in med:
            continue
        lines += ["", f"== {sc} ==", header, "-" * len(header)]
        for t, m in med[sc].items():
            cells = [format(t, cols[0][1])]
            for (name, align, spec), k in zip(cols[1:], keys[1:]):
                v = (f"{fmt(m['load_core_pct'], '.0f')}/{fmt(m['proxy_core_pct'], '.0f')}"
                     if k == "cores" else fmt(m.get(k), spec))
                cells.append(format(v, align))
            lines.append("  ".join(cells))
    return "\n".join(lines)


def ratios(runs, scenarios, subject, others):
    """subject/other per scenario, as the median over rounds of the ratio
    within each round. Why paired: runs of one round are seconds apart, so a
    machine-wide slowdown (it moves every target of a round together here)
    cancels out in the pair instead of adding to the spread."""
    by = {(r["scenario"], r["round"], r["target"]): r for r in runs}
    rounds = sorted({r["round"] for r in runs})
    rows, out = [], {}
    for sc in scenarios:
        for o in others:
            pairs = [(by[sc, n, subject], by[sc, n, o]) for n in rounds
                     if (sc, n, subject) in by and (sc, n, o) in by]
            if not pairs:
                continue
            r = {"rounds": len(pairs)}
            for k in ("rps", "cpu_per_100k", "p99_ms"):
                qs = [a[k] / b[k] for a, b in pairs if a.get(k) and b.get(k)]
                r[k] = statistics.median(qs) if qs else None
                r[k + "_range"] = (min(qs), max(qs)) if qs else None
            out.setdefault(sc, {})[f"{subject}/{o}"] = r
            lo_hi = r["rps_range"]
            rows.append(f"{sc:<16}  {subject + '/' + o:<16}  {fmt(r['rps'], '>6.2f')}  "
                        f"{(f'{lo_hi[0]:.2f}-{lo_hi[1]:.2f}' if lo_hi else '-'):>11}  "
                        f"{fmt(r['cpu_per_100k'], '>9.2f')}  {fmt(r['p99_ms'], '>6.2f')}")
    head = (f"{'scenario':<16}  {'ratio':<16}  {'req/s':>6}  {'req/s range':>11}  "
            f"{'CPU/100k':>9}  {'p99':>6}")
    text = "\n".join([head, "-" * len(head)] + rows) if rows else "(no pair to compare)"
    return text, out


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians over them)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections for *-small")
    ap.add_argument("--bulk-connections", type=int, default=8, help="wrk connections for bulk-1m")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list")
    ap.add_argument("--only", default=",".join(PROXIES), help="proxies to run (comma list)")
    ap.add_argument("--no-direct", action="store_true", help="skip the backend-direct reference")
    ap.add_argument("--workers", type=int, default=1, help="workers/threads per proxy")
    ap.add_argument("--pin", choices=("auto", "none"), default="auto",
                    help="auto: wrk+backend on CPU 0, proxy on CPU 1 (see README)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness for everything we start; e.g. -10 (root) to outrank other "
                         "tenants' CPU work on a shared box")
    ap.add_argument("--json", help="write raw runs + medians here")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s (smoke check)")
    ap.add_argument("--bascule-bin", default=os.environ.get("BASCULE_BIN", "bascule"),
                    help="bascule binary (run.sh passes the release build via $BASCULE_BIN)")
    args = ap.parse_args()
    # Raise our fd limit to the hard limit; every server we start inherits it.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.quick:
        args.rounds, args.duration = 1, 2
    scenarios = [s for s in args.scenarios.split(",") if s]
    proxies = [p for p in args.only.split(",") if p and p != "direct"]
    for s in scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    for p in proxies:
        if p not in PROXIES:
            ap.error(f"unknown proxy {p!r}; known: {', '.join(PROXIES)}")
    targets = ([] if args.no_direct else ["direct"]) + proxies

    if args.nice:
        # Set on ourselves so every child (servers, wrk) inherits it; renice()
        # does the same for each child's autogroup.
        global NICE
        NICE = args.nice
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    # SIGTERM -> exception, so the finally below still stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_cpus, proxy_cpus, where = placement(args.workers, args.pin)
    print(f"placement: {where}")
    print(f"plan: {args.rounds} rounds x {len(scenarios)} scenarios x {len(targets)} targets "
          f"x {args.duration}s (wrk -t1, -c{args.connections}, bulk -c{args.bulk_connections}; "
          f"{args.workers} worker(s) per proxy; nice {args.nice})", flush=True)

    work = tempfile.mkdtemp(prefix="bascule-e2e-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user when we are root
    procs = {}
    runs = []
    try:
        bdir = os.path.join(work, "backend")
        os.makedirs(os.path.join(bdir, "www"))
        with open(os.path.join(bdir, "www", "1m"), "wb") as f:
            f.write(os.urandom(1 << 20))  # random: nothing on the path can compress it
        for p, mode in ((bdir, 0o755), (f"{bdir}/www", 0o755), (f"{bdir}/www/1m", 0o644)):
            os.chmod(p, mode)  # readable by nginx's unprivileged worker whatever the umask
        backend_port = free_port()
        with open(os.path.join(bdir, "nginx.conf"), "w") as f:
            f.write(backend_conf(bdir, backend_port))
        procs["backend"] = Proc("backend", pin(load_cpus) + ["nginx", "-e", "stderr", "-p", bdir,
                                "-c", os.path.join(bdir, "nginx.conf")], backend_port, work)
        procs["backend"].wait_ready()
        for name in proxies:
            procs[name] = start_target(name, work, backend_port, proxy_cpus, args)
        ports = {t: (backend_port if t == "direct" else procs[t].port) for t in targets}
        print("ports: " + ", ".join(f"{t}={p}" for t, p in ports.items()), flush=True)

        # Sanity + warm-up: every target must serve both paths with the right size.
        for t in targets:
            for path, size in (("/small", 100), ("/1m", 1 << 20)):
                try:
                    got = http_get_len(ports[t], path)
                except OSError as e:  # e.g. a proxy that accepts but never relays
                    raise RuntimeError(f"{t}: GET {path} failed: {e!r}" + (
                        f"\n{procs[t].stderr_tail()}" if t in procs else ""))
                if got != size:
                    raise RuntimeError(f"{t}: GET {path} returned {got} bytes, expected {size}")
            run_wrk(f"http://127.0.0.1:{ports[t]}/small", args.connections, 1, False, load_cpus)

        for rnd in range(args.rounds):
            for sc in scenarios:
                k = rnd % len(targets)
                for t in targets[k:] + targets[:k]:  # rotate order per round
                    path, keepalive, bulk = SCENARIOS[sc]
                    conns = args.bulk_connections if bulk else args.connections
                    r = measure(ports[t], path, conns, args.duration, keepalive,
                                procs.get(t), procs["backend"], load_cpus, proxy_cpus)
                    r.update(round=rnd, scenario=sc, target=t, connections=conns)
                    runs.append(r)
                    print(f"round {rnd + 1}/{args.rounds} {sc:<16} {t:<8} "
                          f"{r['rps']:>10,.0f} req/s  p99 {fmt(r['p99_ms'], '.2f'):>7} ms  "
                          f"proxy CPU {fmt(r['proxy_cpu_pct'], '.0f'):>3}%  cores "
                          f"{fmt(r['load_core_pct'], '.0f')}/{fmt(r['proxy_core_pct'], '.0f')}%  "
                          f"other {r['other_cpu_pct']:.0f}%  "
                          f"errors {r['errors']}", flush=True)
                    time.sleep(0.5)  # let closed connections drain between runs
    finally:
        for p in reversed(list(procs.values())):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)

    med = medians(runs, scenarios, targets)
    print("\nMedians over rounds. ±% = req/s spread (max-min)/median; proxy CPU% = proxy\n"
          "process utime+stime / wall; core% = busy % (incl. softirq) of the load (wrk +\n"
          "backend) core(s) / the proxy core(s); other% = CPU used by processes not ours\n"
          "on the cores the run uses (other tenants), % of one core; errors = total")
    print(table(med, scenarios))
    noise = statistics.median(r["other_cpu_pct"] for r in runs) if runs else 0
    if noise > 10:
        print(f"\nwarning: other processes used a median {noise:.0f}% of a core during the "
              "runs; absolute figures are noisy, trust ratios and medians over more rounds"
              + ("" if args.nice < 0 else ", or run with --nice -10 (as root)") + ".")
    subject = "bascule" if "bascule" in proxies else (proxies[0] if proxies else None)
    others = [p for p in proxies if p != subject]
    print(f"\nRatios {subject}/other: median over rounds of the same-round ratio; range = min-max\n"
          "(req/s >1 better; CPU/100k and p99 <1 better)")
    if subject != "bascule":
        print("(bascule not run: showing the ratio of the first proxy instead)")
    rtext, rjson = ratios(runs, scenarios, subject, others)
    print(rtext)
    if args.json:
        meta = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "args": vars(args), "placement": where, "versions": versions(args, proxies)}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "runs": runs, "medians": med, "ratios": rjson}, f, indent=1)
        print(f"\nraw runs + medians written to {args.json}")


def http_get_len(port, path):
    # Minimal one-shot GET for the sanity check; returns the body length.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"port {port} GET {path}: {head[:200]!r}")
    return len(body)


def versions(args, proxies):
    def first_line(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return None
    v = {"haproxy": first_line(["haproxy", "-v"]), "nginx": first_line(["nginx", "-v"]),
         "wrk": first_line(["wrk", "-v"]), "kernel": os.uname().release}
    if "bascule" in proxies:
        v["bascule"] = first_line(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                                   "describe", "--always", "--dirty"])
    return v


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        sys.exit(f"error: {e}")
