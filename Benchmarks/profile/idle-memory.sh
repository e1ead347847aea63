#!/usr/bin/env bash
# Resident memory per idle proxied connection, bascule vs haproxy (one worker each).
#
#   Benchmarks/profile/idle-memory.sh                     # 8,000 connections, both proxies
#   Benchmarks/profile/idle-memory.sh --connections 4000 --targets bascule --no-build
#   Benchmarks/profile/idle-memory.sh --baseline /tmp/bascule-old     # a saved binary beside
#
# Each connection sends one request through the proxy and gets its response (so every buffer
# the relay touches has been touched), then stays open and idle. The proxy's resident set
# (VmRSS) is read before and after, with the connections held: the growth divided by the
# count is the cost of one idle proxied connection (client side and backend side together) in
# the proxy's own memory; socket buffers are the kernel's and count for neither. The sandbox's
# descriptor limit (ulimit -n) caps the count: the proxy needs two descriptors per connection.
# 10,000 connections cost 10,000 x that figure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

connections=8000
targets="bascule,haproxy"
build=1
bin=""
baseline=""
out=""
hold=3
profiler=()
while [ $# -gt 0 ]; do
    case "$1" in
        --connections) connections="$2"; shift ;;
        --targets) targets="$2"; shift ;;
        --no-build) build=0 ;;
        --bin) bin="$2"; shift ;;
        --baseline) baseline="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

. "$here/common.sh"
resolve_bin
limit=$(ulimit -Hn)
ulimit -n "$limit"
if [ $((connections * 2 + 100)) -gt "$limit" ]; then
    echo "ulimit -n is $limit: at most $(((limit - 100) / 2)) connections" >&2; exit 2
fi

setup_work
build_client
start_backend

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

IFS=, read -ra target_list <<<"$targets"
[ -n "$baseline" ] && target_list=(baseline "${target_list[@]}")
printf '%-9s %11s %12s %12s %14s %16s\n' proxy connections "RSS before" "RSS after" "KiB/connection" "MiB per 10,000"
for target in "${target_list[@]}"; do
    port=$(free_port)
    start_proxy "$target" "$port"
    # Warm: the first connections grow tables and pools that any number of connections share.
    client keepalive 127.0.0.1 "$port" 10 200 /small >/dev/null
    sleep 0.5
    before=$(rss_kib "$proxy_pid")
    # The binary itself, not the `client` function: a backgrounded function is a subshell, and
    # killing it would leave fixedclient holding its connections.
    "$work/fixedclient" idle 127.0.0.1 "$port" "$connections" 3600 /small >"$work/idle.$target" 2>&1 &
    idle_pid=$!
    pids+=("$idle_pid")
    for _ in $(seq 1 600); do grep -q '^open' "$work/idle.$target" && break; sleep 0.2; done
    grep -q "^open $connections errors 0" "$work/idle.$target" || { cat "$work/idle.$target" >&2; exit 1; }
    sleep "$hold"
    after=$(rss_kib "$proxy_pid")
    kill "$idle_pid" 2>/dev/null; wait "$idle_pid" 2>/dev/null || true
    stop_proxy
    per=$(echo "($after - $before) / $connections" | bc -l)
    printf '%-9s %11d %9d KiB %9d KiB %14.2f %16.1f\n' "$target" "$connections" "$before" "$after" "$per" \
        "$(echo "$per * 10000 / 1024" | bc -l)"
done
