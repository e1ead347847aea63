#!/usr/bin/env bash
# Instruction and syscall counts per proxied request, repeatable on a noisy machine.
#
#   Benchmarks/profile/callgrind.sh                  # callgrind: keep-alive and close, Ir/request + top functions
#   Benchmarks/profile/callgrind.sh --baseline OLD   # the same, OLD (a saved bascule binary) interleaved, for A/B
#   Benchmarks/profile/callgrind.sh --strace         # syscalls/request, bascule and haproxy, both scenarios
#   Benchmarks/profile/callgrind.sh --targets bascule,haproxy   # HAProxy's Ir on the same work, for reference
#   Benchmarks/profile/callgrind.sh --scenarios keepalive --keepalive-requests 40000 --top 40 --repeat 3
#   Benchmarks/profile/callgrind.sh --strace --scenarios bulk   # also: 200 GET /1m over 8 connections
#   Benchmarks/profile/callgrind.sh --no-build --bin /path/to/bascule --out /tmp/prof
#   Benchmarks/profile/callgrind.sh --dump-instr --out /tmp/prof   # costs per instruction, for objdump
#
# Wall-clock throughput on a shared 2-core VM moves by tens of percent between runs; the
# instructions Bascule executes in user space for a fixed amount of work hardly move. So: one
# worker (`workers: 1`) under `valgrind --tool=callgrind` with instrumentation off until warm
# (start-up, first allocations of pools and tables are not the per-request cost), then a fixed
# number of requests from fixedclient.c (20,000 keep-alive requests over 10 connections;
# 5,000 one-request connections, 10 at a time), then a dump: Ir / requests, median of 5 runs.
# What still moves is how many readiness events arrive per wake-up, which depends on timing:
# every run is printed with its epoll_wait calls per request, and a least-squares fit
# (fixed + per wake-up) when they varied. Kernel time is invisible to callgrind; `--strace`
# counts the syscalls (`strace -c -f`, attached after the warm-up) for bascule and haproxy.
#
# The backend is nginx (as in Benchmarks/e2e: `GET /small` → 100-byte body), outside any
# profiler. Everything started is stopped on exit; ports are picked free at run time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

scenarios="keepalive,close"
keepalive_requests=20000
keepalive_connections=10
close_requests=5000
close_concurrency=10
bulk_requests=200
mode=callgrind
targets="bascule,haproxy"
build=1
bin=""
out=""
top=25
repeat=5
baseline=""
dump_instr=no
profiler=()
targets_set=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scenarios) scenarios="$2"; shift ;;
        --keepalive-requests) keepalive_requests="$2"; shift ;;
        --keepalive-connections) keepalive_connections="$2"; shift ;;
        --close-requests) close_requests="$2"; shift ;;
        --close-concurrency) close_concurrency="$2"; shift ;;
        --bulk-requests) bulk_requests="$2"; shift ;;
        --strace) mode=strace ;;
        --targets) targets="$2"; targets_set="$2"; shift ;;
        --repeat) repeat="$2"; shift ;;
        --no-build) build=0 ;;
        --bin) bin="$2"; shift ;;
        --baseline) baseline="$2"; shift ;;
        --out) out="$2"; shift ;;
        --top) top="$2"; shift ;;
        --dump-instr) dump_instr=yes ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

for tool in nginx cc python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
if [ "$mode" = callgrind ]; then
    command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 2; }
    targets="${targets_set:-bascule}"
else
    command -v strace >/dev/null || { echo "needs strace (apt-get install -y strace)" >&2; exit 2; }
fi

. "$here/common.sh"
resolve_bin
setup_work

if [ "$mode" = callgrind ]; then
    # Valgrind 3.19 gives up on the DWARF 5 that Swift 6 emits; the symbol table is enough
    # for function-level costs.
    cp "$bin" "$work/bascule" && strip --strip-debug "$work/bascule" && bin="$work/bascule"
    if [ -n "$baseline" ]; then
        cp "$baseline" "$work/bascule-baseline" && strip --strip-debug "$work/bascule-baseline" && baseline="$work/bascule-baseline"
    fi
fi
build_client
start_backend

run_load() {  # scenario, port
    case "$1" in
        keepalive) client keepalive 127.0.0.1 "$2" "$keepalive_connections" "$keepalive_requests" /small ;;
        close) client close 127.0.0.1 "$2" "$close_concurrency" "$close_requests" /small ;;
        bulk) client keepalive 127.0.0.1 "$2" 8 "$bulk_requests" /1m ;;
    esac
}

warm_up() {  # scenario, port: fills pools, grows tables, faults pages in
    case "$1" in
        keepalive) client keepalive 127.0.0.1 "$2" "$keepalive_connections" 500 /small >/dev/null ;;
        close) client close 127.0.0.1 "$2" "$close_concurrency" 300 /small >/dev/null ;;
        bulk) client keepalive 127.0.0.1 "$2" 8 16 /1m >/dev/null ;;
    esac
}

requests_of() {
    case "$1" in keepalive) echo "$keepalive_requests" ;; close) echo "$close_requests" ;; bulk) echo "$bulk_requests" ;; esac
}

demangle() { if command -v swift >/dev/null; then swift demangle --simplified --compact 2>/dev/null || cat; else cat; fi; }

IFS=, read -ra scenario_list <<<"$scenarios"
IFS=, read -ra target_list <<<"$targets"

profile_once() {  # scenario, target, run: appends "Ir wake-ups" to $work/result.SCENARIO.TARGET
    local scenario=$1 target=$2 run=$3 port tag dump
    port=$(free_port)
    tag="$scenario.$target.$run"
    profiler=(valgrind --tool=callgrind --instr-atstart=no --dump-instr="$dump_instr" --callgrind-out-file="$work/callgrind.out.$tag")
    start_proxy "$target" "$port"
    warm_up "$scenario" "$port"
    callgrind_control --zero "$proxy_pid" >/dev/null 2>&1
    callgrind_control --instr=on "$proxy_pid" >/dev/null 2>&1
    run_load "$scenario" "$port" >"$work/client.$tag" || { cat "$work/client.$tag" >&2; exit 1; }
    callgrind_control --instr=off "$proxy_pid" >/dev/null 2>&1
    callgrind_control --dump="$tag" "$proxy_pid" >/dev/null 2>&1
    stop_proxy
    # The requested dump is part 1 (.1); the file without a suffix is the exit dump.
    dump="$work/callgrind.out.$tag.1"
    [ -s "$dump" ] || { echo "no callgrind dump for $tag" >&2; exit 1; }
    echo "$(awk '/^totals:/ { print $2; exit }' "$dump") $(python3 "$here/callgrind_calls.py" "$dump" cl_epoll_wait,epoll_wait) $run" \
        >>"$work/result.$scenario.$target"
}

summarise() {  # scenario, target
    local scenario=$1 target=$2 requests median_run
    requests=$(requests_of "$scenario")
    # The median run: how many readiness events one wake-up carries depends on timing, and
    # per-wake-up costs move the total from run to run (a few tenths of a percent in
    # keep-alive, up to tens of percent in close); each run is printed with its wake-ups.
    awk -v r="$requests" -v s="$scenario" -v t="$target" '
        { ir[NR] = $1; w[NR] = $2; run[NR] = $3; order[NR] = NR }
        END {
            n = NR
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                if (ir[order[j]] < ir[order[i]]) { k = order[i]; order[i] = order[j]; order[j] = k }
            m = order[int((n + 1) / 2)]
            each = ""
            for (i = 1; i <= n; i++) each = each sprintf("%.0f@%.2f ", ir[i] / r, w[i] / r)
            printf "%-10s %-9s %9d %14d %11.0f %9.2f  %s\n", s, t, r, ir[m], ir[m] / r, w[m] / r, each
            # Least squares over the runs: Ir/request = fixed + per_wakeup * wake-ups/request,
            # when the wake-ups varied enough to fit.
            for (i = 1; i <= n; i++) { x[i] = w[i] / r; y[i] = ir[i] / r; sx += x[i]; sy += y[i] }
            mx = sx / n; my = sy / n; lo = x[1]; hi = x[1]
            for (i = 1; i <= n; i++) {
                sxx += (x[i] - mx) ^ 2; sxy += (x[i] - mx) * (y[i] - my)
                if (x[i] < lo) lo = x[i]; if (x[i] > hi) hi = x[i]
            }
            if (n >= 3 && hi - lo > 0.1 * mx) {
                b = sxy / sxx
                printf "%-10s %-9s fit: %.0f + %.0f per wake-up (wake-ups/request %.2f..%.2f)\n", "", "", my - b * mx, b, lo, hi
            }
            print run[m] > "/dev/stderr"
        }' "$work/result.$scenario.$target" 2>"$work/median.$scenario.$target"
}

if [ "$mode" = callgrind ]; then
    command -v callgrind_control >/dev/null || { echo "needs callgrind_control (valgrind)" >&2; exit 2; }
    [ -n "$baseline" ] && target_list=(baseline "${target_list[@]}")
    printf '%-10s %-9s %9s %14s %11s %9s  %s\n' scenario proxy requests "Ir (user)" "Ir/request" wake-ups \
        "(per request; each run: Ir@wake-ups)"
    for scenario in "${scenario_list[@]}"; do
        # Runs interleave the targets, so a change in the machine's load between runs touches
        # every target alike.
        for run in $(seq 1 "$repeat"); do
            for target in "${target_list[@]}"; do profile_once "$scenario" "$target" "$run"; done
        done
        for target in "${target_list[@]}"; do
            summarise "$scenario" "$target"
            median_run=$(cat "$work/median.$scenario.$target")
            callgrind_annotate --threshold=100 "$work/callgrind.out.$scenario.$target.$median_run.1" 2>/dev/null | demangle \
                | awk -v top="$top" 'f && NF && n < top { print "    " $0; n++ } /^Ir +file:function/ { getline; f = 1 }' \
                >"$work/top.$scenario.$target"
        done
    done
    if [ "$top" -gt 0 ]; then
        for scenario in "${scenario_list[@]}"; do
            for target in "${target_list[@]}"; do
                echo
                echo "top functions by self Ir, $scenario, $target (median run; share of its total):"
                cut -c1-160 "$work/top.$scenario.$target"
            done
        done
    fi
else
    printf '%-10s %-8s %10s %10s %12s  %s\n' scenario proxy requests syscalls "per request" "largest (per request)"
    for scenario in "${scenario_list[@]}"; do
        for target in "${target_list[@]}"; do
            port=$(free_port)
            start_proxy "$target" "$port"
            warm_up "$scenario" "$port"
            # -f with -p attaches every thread of the process.
            strace -c -f -o "$work/strace.$scenario.$target" -p "$proxy_pid" 2>"$work/strace.err" &
            strace_pid=$!
            sleep 1  # strace attaches asynchronously
            run_load "$scenario" "$port" >"$work/client.$scenario.$target" || { cat "$work/client.$scenario.$target" >&2; exit 1; }
            kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true
            stop_proxy
            requests=$(requests_of "$scenario")
            summary="$work/strace.$scenario.$target"
            # strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall.
            total=$(awk '$NF == "total" { print $4 }' "$summary")
            largest=$(awk -v r="$requests" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ && $NF != "total" {
                    printf "%s %.2f\n", $NF, $4 / r }' "$summary" \
                | sort -k2 -nr | head -6 | awk '{ printf "%s %s, ", $1, $2 }')
            printf '%-10s %-8s %10d %10d %12.2f  %s\n' "$scenario" "$target" "$requests" "$total" \
                "$(echo "$total / $requests" | bc -l)" "${largest%, }"
        done
    done
fi
