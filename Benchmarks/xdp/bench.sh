#!/usr/bin/env bash
# The same traffic through HAProxy, Bascule's proxy and Bascule's XDP data plane, in the XDP
# lab's namespaces (topology.sh: client, router, balancer, three backends running nginx), with
# the balancer's CPU per request.
#
#   Benchmarks/xdp/bench.sh [--duration SECONDS] [--bascule PATH]   (root; ~3 minutes)
#
# Scenarios (wrk from the client namespace): keepalive (small requests on 20 kept connections),
# close (one request per connection), bulk (1 MiB responses on 4 connections).
# For each path it prints requests/s and CPU per request:
#   process: user+system time of the balancer's process (HAProxy, Bascule);
#   machine: every CPU's busy time (softirq included) per request, minus the same figure for the
#            client talking to a backend directly: what the balancer hop adds, softirq included
#            (noisy on a shared machine: it sees every process);
#   program: for XDP, the program's own run time per packet (kernel.bpf_stats_enabled), and
#            the packets per second one core could forward at that cost.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
duration=10
bascule="$repo/.build/release/bascule"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --bascule) bascule=$2; shift 2 ;;
    *) echo "usage: $0 [--duration SECONDS] [--bascule PATH]" >&2; exit 2 ;;
  esac
done
[ -x "$bascule" ] || bascule="$repo/.build/debug/bascule"
[ -x "$bascule" ] || { echo "bench: build bascule first (swift build -c release)" >&2; exit 1; }
for tool in ip nginx haproxy wrk curl python3 bpftool; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

prefix="bxb$$"
work="$(mktemp -d)"
chmod 755 "$work"   # nginx's workers (not root) read the bulk file from here
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for i in 1 2 3; do ip netns exec "$prefix-b$i" nginx -p "$work/b$i" -c "$work/b$i/nginx.conf" -s stop 2>/dev/null || true; done
  sysctl -qw kernel.bpf_stats_enabled=0 2>/dev/null || true
  BASCULE="$bascule" "$here/topology.sh" down "$prefix"
  rm -rf "$work"
}
trap cleanup EXIT
BASCULE="$bascule" "$here/topology.sh" up "$prefix" 4
C=$prefix-client L=$prefix-lb
ip netns exec "$C" python3 "$here/checksum-offload-off.py" c0

# nginx on each backend: "ok" at /, 1 MiB at /bulk; on every address, so the VIP on lo too.
for i in 1 2 3; do
  mkdir -p "$work/b$i/logs"
  head -c 1048576 /dev/zero > "$work/b$i/bulk"
  cat > "$work/b$i/nginx.conf" <<CONF
worker_processes 1;
pid $work/b$i/nginx.pid;
error_log $work/b$i/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 80 reuseport; listen [::]:80 reuseport;
    location = / { return 200 "ok\n"; }
    location = /bulk { alias $work/b$i/bulk; }
  }
}
CONF
  ip netns exec "$prefix-b$i" nginx -p "$work/b$i" -c "$work/b$i/nginx.conf"
done

cat > "$work/haproxy.cfg" <<CONF
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
listen web
  bind 198.51.100.2:8081
  balance roundrobin
  server b1 198.51.100.6:80
  server b2 198.51.100.10:80
  server b3 198.51.100.14:80
CONF
ip netns exec "$L" haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &
pids+=($!); haproxy_pid=$!

cat > "$work/bascule.json" <<CONF
{"admin": {"listen": "127.0.0.1:9900"},
 "services": [
  {"name": "proxy", "listen": "198.51.100.2:8082",
   "backends": [{"name": "b1", "address": "198.51.100.6:80"}, {"name": "b2", "address": "198.51.100.10:80"}, {"name": "b3", "address": "198.51.100.14:80"}]},
  {"name": "xdp", "listen": "192.0.2.10:80", "dataPlane": "xdp", "interface": "lb0",
   "backends": [{"name": "b1", "address": "198.51.100.6:80"}, {"name": "b2", "address": "198.51.100.10:80"}, {"name": "b3", "address": "198.51.100.14:80"}]}
 ]}
CONF
ip netns exec "$L" "$bascule" run --config "$work/bascule.json" > "$work/bascule.log" 2>&1 &
pids+=($!); bascule_pid=$!
for _ in $(seq 100); do
  ip netns exec "$C" curl -s --max-time 1 http://192.0.2.10/ >/dev/null 2>&1 &&
    ip netns exec "$C" curl -s --max-time 1 http://198.51.100.2:8081/ >/dev/null 2>&1 &&
    ip netns exec "$C" curl -s --max-time 1 http://198.51.100.2:8082/ >/dev/null 2>&1 && break
  sleep 0.2
done
sysctl -qw kernel.bpf_stats_enabled=1
xdp_id=$(ip -n "$L" -d link show lb0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1)

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }     # user nice system irq softirq, in ticks
proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
prog_stats() { bpftool prog show id "$xdp_id" | sed -n 's/.*run_time_ns \([0-9]*\) run_cnt \([0-9]*\).*/\1 \2/p'; }
hz=$(getconf CLK_TCK)

# run NAME URL SCENARIO PID: prints "requests ticks_machine ticks_process".
run() {
  local url=$1 scenario=$2 pid=$3 args=(-t1 -c20 -d"${duration}s")
  case "$scenario" in
    close) args+=(-H "Connection: close") ;;
    bulk) args=(-t1 -c4 -d"${duration}s"); url="$url/bulk" ;;
  esac
  local m0 p0 m1 p1 out
  m0=$(busy); p0=$([ "$pid" = 0 ] && echo 0 || proc_ticks "$pid")
  out=$(ip netns exec "$C" wrk "${args[@]}" "$url" 2>&1)
  m1=$(busy); p1=$([ "$pid" = 0 ] && echo 0 || proc_ticks "$pid")
  local requests
  requests=$(echo "$out" | awk '/requests in/{print $1}')
  if echo "$out" | grep -q "Non-2xx\|Socket errors"; then
    echo "bench: $url $scenario: $(echo "$out" | grep "Non-2xx\|Socket errors" | tr -s ' ')" >&2
  fi
  echo "$requests $((m1 - m0)) $((p1 - p0))"
}

printf '%-10s %-9s %10s %14s %16s %14s\n' path scenario "req/s" "process µs/req" "machine µs/req" "+hop µs/req"
for scenario in keepalive close bulk; do
  read -r dreq dmach _ <<<"$(run "http://198.51.100.6" "$scenario" 0)"
  direct=$(awk -v m="$dmach" -v r="$dreq" -v hz="$hz" 'BEGIN{printf "%.1f", m/hz*1e6/r}')
  printf '%-10s %-9s %10.0f %14s %16s %14s\n' direct "$scenario" "$(awk -v r="$dreq" -v d="$duration" 'BEGIN{print r/d}')" - "$direct" -
  for path in haproxy bascule-proxy bascule-xdp; do
    case $path in
      haproxy) url=http://198.51.100.2:8081 pid=$haproxy_pid ;;
      bascule-proxy) url=http://198.51.100.2:8082 pid=$bascule_pid ;;
      bascule-xdp) url=http://192.0.2.10 pid=$bascule_pid ;;
    esac
    [ "$path" = bascule-xdp ] && read -r t0 n0 <<<"$(prog_stats)"
    read -r req mach proc <<<"$(run "$url" "$scenario" "$pid")"
    [ "$path" = bascule-xdp ] && read -r t1 n1 <<<"$(prog_stats)"
    awk -v r="$req" -v m="$mach" -v p="$proc" -v hz="$hz" -v d="$duration" -v base="$direct" -v path="$path" -v s="$scenario" 'BEGIN{
      mu = m/hz*1e6/r; printf "%-10s %-9s %10.0f %14.2f %16.1f %14.1f\n", path, s, r/d, p/hz*1e6/r, mu, mu-base }'
    if [ "$path" = bascule-xdp ]; then
      awk -v t="$((t1 - t0))" -v n="$((n1 - n0))" -v r="$req" 'BEGIN{ if (n > 0) printf "           xdp program: %d packets, %.0f ns/packet (%.2f µs/request), %.1f Mpackets/s per core at that cost\n", n, t/n, t/r/1000, 1000/(t/n) }'
    fi
  done
done
