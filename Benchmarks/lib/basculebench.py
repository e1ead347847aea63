"""What the benchmark scripts share: processes started in their own session and
stopped as a group, free loopback ports, readiness waits, /proc accounting, the
admin port's /metrics and /status, wrk's report, atomic JSON writes.

Python 3 stdlib only. Used by Benchmarks/e2e/compare.py and Benchmarks/soak/soak.py,
which put Benchmarks/lib on sys.path themselves (no install step)."""

import json
import os
import re
import select
import signal
import socket
import subprocess
import time

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Abort(RuntimeError):
    """The run cannot go on: a process died or never became ready, or a wait ran out."""


class HTTPStatusError(OSError):
    """A GET answered, but not 200. An OSError, so a readiness poll retries it
    as it retries a refused connection."""


def free_port():
    # Port 0 -> the kernel picks a free one; the tiny race before our server
    # binds it is acceptable on a benchmark box.
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def write_json(path, obj, indent=2):
    """Atomic: a reload (SIGHUP) or a reader never sees a half-written file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent)
    os.replace(tmp, path)


def wait_for(pred, timeout, what, interval=0.25):
    """Polls pred() until true; OSError (refused, not 200) counts as not yet."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError as e:
            last = e
        time.sleep(interval)
    raise Abort(f"timed out after {timeout}s waiting for {what} ({last})")


# ---------------------------------------------------------------- processes

class Proc:
    """A started process in its own session (so its whole group can be killed),
    stdout and stderr appended to WORKDIR/NAME.log, which can be polled for a line
    and is shown when it dies. `pipes`: stdin and stdout are pipes to us instead
    (a client we talk to); stderr still goes to the log. `port`: where it will
    listen, for wait_ready.

    Proc.started records every Proc, so a script's last `finally` can stop what
    an error left running; Proc.autogroup_nice, when set, is given to each one."""

    started = []
    autogroup_nice = 0

    def __init__(self, name, argv, workdir, port=None, pipes=False):
        self.name, self.argv, self.port = name, argv, port
        self.admin_port = None
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.log = open(self.logpath, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if pipes else self.log,
                                  stderr=self.log, start_new_session=True)
        Proc.started.append(self)
        renice(self.p.pid, Proc.autogroup_nice)

    @property
    def pid(self):
        return self.p.pid

    def log_size(self):
        """For wait_line(start=…): only lines written after this point."""
        return os.path.getsize(self.logpath)

    def tail(self, n=4000):
        with open(self.logpath, "rb") as f:
            return f.read()[-n:].decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def alive_check(self):
        if self.p.poll() is not None:
            raise Abort(f"{self.name} died (status {self.p.returncode}):\n{self.tail()}")

    def wait_ready(self, timeout=15.0):
        """Ready = the port accepts a TCP connection. Fails loudly, with the
        process's own output, if it exits or never listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise Abort(f"{self.name} exited with status {self.p.returncode} "
                            f"before listening on {self.port}:\n{self.tail()}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise Abort(f"{self.name} not accepting on {HOST}:{self.port} after {timeout}s:\n{self.tail()}")

    def wait_line(self, pattern, timeout=20.0, start=0):
        """Waits for a line matching pattern written after byte offset start."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.logpath, "rb") as f:
                f.seek(start)
                m = rx.search(f.read().decode(errors="replace"))
            if m:
                return m
            if self.p.poll() is not None:
                raise Abort(f"{self.name} exited ({self.p.returncode}) before '{pattern}':\n{self.tail()}")
            time.sleep(0.05)
        raise Abort(f"{self.name}: no '{pattern}' after {timeout}s:\n{self.tail()}")

    def read_line(self, timeout):
        """One line from a `pipes` process's stdout, or an error with its log."""
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                if b"\n" in buf:
                    return buf.split(b"\n", 1)[0].decode()
            elif self.p.poll() is not None:
                break
        raise Abort(f"{self.name}: no answer within {timeout}s (status {self.p.poll()}):\n{self.tail()}")

    def pids(self):
        return tree_pids(self.p.pid)

    def cpu_seconds(self):
        """utime+stime of the process and its descendants (nginx's workers are
        children of its master). /proc/PID/stat counts every thread of a process."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError):
                pass
        return total / CLK_TCK

    def kill9(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        self._close_files()

    def stop(self, grace=5.0):
        """SIGTERM to the group, then SIGKILL after grace. Returns the exit status."""
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
        if self.p.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.p.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._close_files()
        return self.p.returncode

    def _close_files(self):
        if self.p.stdout:
            self.p.stdout.close()
        if not self.log.closed:
            self.log.close()


class Servers:
    """The processes of one phase, stopped in reverse order when the phase ends
    (also on an error or Ctrl-C), so phases never see each other's servers."""

    def __init__(self):
        self.procs = []

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop()


def renice(pid, nice):
    """Gives a process we started our priority. Every process runs in its own
    session (so it can be killed as a group), and with autogroup scheduling
    (Linux default) each session is its own scheduling group: plain nice then
    does nothing against other sessions. The autogroup's nice does."""
    if nice:
        try:
            with open(f"/proc/{pid}/autogroup", "w") as f:
                f.write(str(nice))
        except OSError:
            pass  # no autogroup (kernel without it): the inherited nice applies


# ---------------------------------------------------------------- /proc

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


def status_kib(pids, key):
    """Sum of a /proc/PID/status field (kB) over processes: VmRSS, RssAnon."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- admin port

def http_get(port, path, timeout=5.0):
    """One GET on a fresh connection; the body, or HTTPStatusError unless 200."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise HTTPStatusError(f"port {port} GET {path}: {head[:200]!r}")
    return body


def parse_metrics(text, prefix=""):
    """A /metrics page's samples as {sample name with labels: value}, those starting with `prefix`."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and line.startswith(prefix):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def metrics(admin_port):
    """The /metrics page as {sample name with labels: value}."""
    return parse_metrics(http_get(admin_port, "/metrics").decode(errors="replace"))


def metric_sum(samples, name):
    """Sum of every sample of one metric (all label sets) in metrics()'s result."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def status(admin_port):
    return json.loads(http_get(admin_port, "/status"))


# ---------------------------------------------------------------- wrk

UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}
WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(out):
    """wrk's report as numbers. `rps` is None (and `raw` holds the tail) when wrk
    printed no summary; latency percentiles need --latency."""
    def num_unit(pattern, units):
        m = re.search(pattern, out)
        return float(m.group(1)) * units[m.group(2)] if m else None

    done, rps = re.search(r"(\d+) requests in", out), re.search(r"Requests/sec:\s+([\d.]+)", out)
    r = {
        "requests": int(done.group(1)) if done else 0,
        "rps": float(rps.group(1)) if rps else None,
        "bytes_per_s": num_unit(r"Transfer/sec:\s+([\d.]+)(\w+)", UNITS_BYTES),
        "p50_ms": num_unit(r"\n\s+50%\s+([\d.]+)(\w+)", UNITS_TIME),
        "p99_ms": num_unit(r"\n\s+99%\s+([\d.]+)(\w+)", UNITS_TIME),
        "connect": 0, "read": 0, "write": 0, "timeout": 0,
    }
    m = WRK_SOCKET_ERRORS.search(out)
    if m:
        r.update(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["errors"] = r["socket_errors"] + r["non2xx"]
    if not done:
        r["raw"] = out[-1500:]
    return r
