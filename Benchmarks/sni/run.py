#!/usr/bin/env python3
"""TLS passthrough routed by SNI, side by side: Bascule (serverNames), HAProxy (req.ssl_sni with
tcp-request inspect-delay) and nginx stream (ssl_preread + map), each in front of the same three
HTTPS backends (bascule-backend --tls-cert, one certificate per name), each with one worker.

Every connection is a new, full TLS 1.3 handshake (tlsclient.c: no tickets, no session cache)
carrying one HTTP/1.1 request with Connection: close; the names rotate over the two routed
names and one that goes to the default. Per proxy and round: connections per second, and the
proxy's own CPU per connection (utime+stime of its process tree from /proc, before and after).
Rounds interleave the proxies so load from elsewhere on the machine hits each alike; medians
are printed. Loopback only. Not run in CI.

    Benchmarks/sni/run.py [--rounds 5] [--seconds 10] [--threads 6] [--bin DIR]
"""
import argparse, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
names = ["www.example.com", "api.example.com", "other.example.org"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if process.poll() is not None:
            sys.exit(f"{what} exited at start: " + open(process.args_log).read()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port}")


def tree_cpu_seconds(pid):
    """utime+stime of pid, its threads and its child processes (nginx workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = open(f"/proc/{current}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in os.listdir(f"/proc/{current}/task"):
                todo += [int(c) for c in open(f"/proc/{current}/task/{task}/children").read().split()]
        except FileNotFoundError:
            pass
    return total / ticks


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=6, help="client threads, spread over the names")
    parser.add_argument("--bin", help="directory with release bascule and bascule-backend (default: build them)")
    parser.add_argument("--proxies", default="bascule,haproxy,nginx")
    args = parser.parse_args()
    for tool in ["openssl", "cc", "haproxy", "nginx"]:
        if not shutil.which(tool) and (tool not in ("haproxy", "nginx") or tool in args.proxies):
            sys.exit(f"{tool} is needed (apt-get install {tool})")
    bin_dir = args.bin
    if not bin_dir:
        subprocess.run(["swift", "build", "-c", "release", "--product", "bascule"], cwd=root, check=True)
        bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True,
                                 capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="bascule-sni-bench-")
    client = f"{work}/tlsclient"
    subprocess.run(["cc", "-O2", "-o", client, os.path.join(root, "Benchmarks/sni/tlsclient.c"), "-lssl", "-lcrypto", "-lpthread"], check=True)
    started = []

    def start(argv, what, port, **kwargs):
        log = open(f"{work}/{what}.log", "w")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)
        process.args_log = f"{work}/{what}.log"
        started.append(process)
        wait_listening(port, process, what)
        return process

    try:
        backends = {}
        for label, host in [("www", "www.example.com"), ("api", "api.example.com"), ("fallback", "default.example.com")]:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                            "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
                            "-keyout", f"{work}/{label}.key", "-out", f"{work}/{label}.crt"], check=True, capture_output=True)
            port = free_port()
            start([f"{bin_dir}/bascule-backend", "--listen", f"127.0.0.1:{port}", "--name", label,
                   "--tls-cert", f"{work}/{label}.crt", "--tls-key", f"{work}/{label}.key"], f"backend-{label}", port)
            backends[label] = port

        proxies = {}
        wanted = args.proxies.split(",")
        if "bascule" in wanted:
            port, admin = free_port(), free_port()
            listen = f"127.0.0.1:{port}"
            service = lambda name, extra: dict(name=name, listen=listen, healthCheck={"type": "none"},
                                               backends=[{"name": f"{name}-1", "address": f"127.0.0.1:{backends[name]}"}], **extra)
            import json
            config = {"workers": 1, "admin": {"listen": f"127.0.0.1:{admin}"},
                      "services": [service("www", {"serverNames": ["www.example.com"]}),
                                   service("api", {"serverNames": ["api.example.com"]}),
                                   service("fallback", {})]}
            open(f"{work}/bascule.json", "w").write(json.dumps(config))
            proxies["bascule"] = (start([f"{bin_dir}/bascule", "run", "--config", f"{work}/bascule.json", "--log-level", "error"],
                                        "bascule", port), port)
        if "haproxy" in wanted:
            port = free_port()
            open(f"{work}/haproxy.cfg", "w").write(f"""global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend tls
    bind 127.0.0.1:{port}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend www if {{ req.ssl_sni -i www.example.com }}
    use_backend api if {{ req.ssl_sni -i api.example.com }}
    default_backend fallback
backend www
    server s 127.0.0.1:{backends['www']}
backend api
    server s 127.0.0.1:{backends['api']}
backend fallback
    server s 127.0.0.1:{backends['fallback']}
""")
            proxies["haproxy"] = (start(["haproxy", "-db", "-f", f"{work}/haproxy.cfg"], "haproxy", port), port)
        if "nginx" in wanted:
            port = free_port()
            open(f"{work}/nginx.conf", "w").write(f"""load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log error;
events {{ worker_connections 4000; }}
stream {{
    map $ssl_preread_server_name $route {{
        www.example.com 127.0.0.1:{backends['www']};
        api.example.com 127.0.0.1:{backends['api']};
        default 127.0.0.1:{backends['fallback']};
    }}
    server {{
        listen 127.0.0.1:{port};
        ssl_preread on;
        proxy_pass $route;
    }}
}}
""")
            proxies["nginx"] = (start(["nginx", "-c", f"{work}/nginx.conf", "-e", f"{work}/nginx-error.log"], "nginx", port), port)

        results = {name: [] for name in proxies}
        per_name = max(1, args.threads // len(names))
        for round_index in range(args.rounds):
            for name, (process, port) in proxies.items():
                before = tree_cpu_seconds(process.pid)
                runs = [subprocess.Popen([client, str(port), sni, str(per_name), str(args.seconds)], stdout=subprocess.PIPE, text=True)
                        for sni in names]
                outputs = [run.communicate()[0] for run in runs]
                cpu = tree_cpu_seconds(process.pid) - before
                connections = sum(int(re.search(r"connections (\d+)", out).group(1)) for out in outputs)
                errors = sum(int(re.search(r"errors (\d+)", out).group(1)) for out in outputs)
                rate = connections / args.seconds
                results[name].append((rate, cpu / max(connections, 1) * 1e6, errors))
                print(f"round {round_index + 1} {name:8} {rate:8.0f} conn/s  {cpu / max(connections, 1) * 1e6:7.1f} µs CPU/conn  errors {errors}",
                      flush=True)
        print("\nmedians over", args.rounds, "rounds:")
        for name, rows in results.items():
            print(f"  {name:8} {statistics.median(r[0] for r in rows):8.0f} new TLS conn/s  "
                  f"{statistics.median(r[1] for r in rows):7.1f} µs proxy CPU per connection  errors {sum(r[2] for r in rows)}")
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
