#!/usr/bin/env bash
# Proxy CPU time per request for a fixed amount of work, bascule vs haproxy (one worker each).
#
#   Benchmarks/profile/cpu.sh                                  # 5 interleaved rounds, both scenarios
#   Benchmarks/profile/cpu.sh --baseline /tmp/bascule-old --targets bascule --rounds 9
#   Benchmarks/profile/cpu.sh --scenarios bulk        # 3,000 GET /1m over 8 connections
#
# Requests per second on a shared 2-core VM move by tens of percent between runs, and a
# proxy faster than the load generator cannot show it in req/s at all. The CPU the proxy
# spends (utime + stime of all its threads, from /proc/PID/stat) on a fixed number of
# requests from fixedclient.c moves far less. Kernel time is most of it (loopback TCP runs in
# the sending process's context), so this is the figure where syscalls count; callgrind.sh
# gives the user-space instructions. The proxy runs on the last CPU, backend and client on the
# others (taskset), as in Benchmarks/e2e; rounds interleave the targets so a change in the
# machine's load touches all alike; the table gives each target's median.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

rounds=5
scenarios="keepalive,close"
keepalive_requests=200000
keepalive_connections=64
close_requests=30000
close_concurrency=64
bulk_requests=3000
bulk_connections=8
targets="bascule,haproxy"
build=1
bin=""
baseline=""
out=""
profiler=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift ;;
        --scenarios) scenarios="$2"; shift ;;
        --keepalive-requests) keepalive_requests="$2"; shift ;;
        --close-requests) close_requests="$2"; shift ;;
        --bulk-requests) bulk_requests="$2"; shift ;;
        --connections) keepalive_connections="$2"; close_concurrency="$2"; shift ;;
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

setup_work
build_client

cpus=$(nproc)
proxy_cpu=$((cpus - 1))
load_cpus="0-$((cpus > 1 ? cpus - 2 : 0))"
pin_load=()
if command -v taskset >/dev/null && [ "$cpus" -gt 1 ]; then
    pin_load=(taskset -c "$load_cpus")
    profiler=(taskset -c "$proxy_cpu")
fi
# The backend starts under the load's CPUs (its children inherit the mask).
if [ ${#pin_load[@]} -gt 0 ]; then taskset -pc "$load_cpus" $$ >/dev/null; fi
start_backend

# user and user+system ticks: the split says how much of the CPU any user-space change can reach
cpu_ticks() { awk '{ print $14, $14 + $15 }' "/proc/$1/stat"; }
clk=$(getconf CLK_TCK)

IFS=, read -ra scenario_list <<<"$scenarios"
IFS=, read -ra target_list <<<"$targets"
[ -n "$baseline" ] && target_list=(baseline "${target_list[@]}")
echo "proxy on CPU $proxy_cpu, backend and client on CPU $load_cpus; $rounds rounds"
for scenario in "${scenario_list[@]}"; do
    for round in $(seq 1 "$rounds"); do
        for target in "${target_list[@]}"; do
            port=$(free_port)
            start_proxy "$target" "$port"
            client keepalive 127.0.0.1 "$port" 10 500 /small >/dev/null
            read -r user_before before < <(cpu_ticks "$proxy_pid")
            if [ "$scenario" = keepalive ]; then
                requests=$keepalive_requests
                result=$(client keepalive 127.0.0.1 "$port" "$keepalive_connections" "$requests" /small)
            elif [ "$scenario" = bulk ]; then
                requests=$bulk_requests
                result=$(client keepalive 127.0.0.1 "$port" "$bulk_connections" "$requests" /1m)
            else
                requests=$close_requests
                result=$(client close 127.0.0.1 "$port" "$close_concurrency" "$requests" /small)
            fi
            read -r user_after after < <(cpu_ticks "$proxy_pid")
            stop_proxy
            seconds=$(echo "$result" | awk '{ print $6 }')
            echo "$scenario $target $round $(( after - before )) $requests $seconds $(( user_after - user_before ))" >>"$work/results"
        done
    done
done

printf '%-10s %-9s %14s %15s %12s  %s\n' scenario proxy "CPU µs/req" "user µs/req" "req/s" "(each round: CPU µs/request)"
awk -v clk="$clk" '
    { key = $1 " " $2; n[key]++; us[key, n[key]] = $4 / clk * 1e6 / $5; rps[key, n[key]] = $5 / $6
      user[key, n[key]] = $7 / clk * 1e6 / $5
      if (!(key in seen)) { seen[key] = 1; order[++keys] = key } }
    function median(arr, key, count,   i, j, t, v) {
        for (i = 1; i <= count; i++) v[i] = arr[key, i]
        for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
    }
    END {
        for (k = 1; k <= keys; k++) {
            key = order[k]; split(key, parts, " "); each = ""
            for (i = 1; i <= n[key]; i++) each = each sprintf("%.2f ", us[key, i])
            printf "%-10s %-9s %14.2f %15.2f %12.0f  %s\n", parts[1], parts[2], median(us, key, n[key]), median(user, key, n[key]), median(rps, key, n[key]), each
        }
    }' "$work/results"
