#!/usr/bin/env bash
# Time from a backend failure to the client's reset, and failed new connections meanwhile,
# for Bascule and for HAProxy (`on-marked-down shutdown-sessions`) in the same namespaces
# (outage-lab.sh). Slow (about 16 runs of up to 20 s): not run in CI. Needs root, ip, nft,
# curl, haproxy, and built binaries.
#
#   deploy/lab/outage-figures.sh [--bin DIR] [--balancers "bascule haproxy"] [--failures "kill stop blackhole linkdown"]
#
# Per run: b1 and b2 serve; the client downloads 512 MiB at 20 MB/s; once 4 MiB arrived the
# serving backend fails; a loop of new short connections runs for 8 s from the failure.
# With checks: HTTP /health every 500 ms, timeout 300 ms, fall 2 (bound 2.3 s). Without: no
# check; keepalive 1 s idle, 1 s interval, 2 probes on both balancers (bound 3 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lab=$here/outage-lab.sh
bin=$(cd "$here/../.." && pwd)/.build/release
balancers="bascule haproxy"
failures="kill stop blackhole linkdown"
while [[ $# -gt 0 ]]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --balancers) balancers=$2; shift 2 ;;
    --failures) failures=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "outage-figures: needs root (network namespaces)" >&2; exit 1; }

id=f$$
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -9 "$pid" 2>/dev/null || true; done
  "$lab" down "$id" || true
  rm -rf "$work"
}
trap cleanup EXIT

bascule_config() {  # $1: checks on|off
  local check='{"type": "none"}'
  [[ $1 == on ]] && check='{"type": "http", "path": "/health", "intervalMs": 500, "timeoutMs": 300, "rise": 2, "fall": 2}'
  cat <<JSON
{"workers": 1, "admin": {"listen": "127.0.0.1:9000"},
 "defaults": {"keepAliveIdleSeconds": 1, "keepAliveIntervalSeconds": 1, "keepAliveCount": 2},
 "services": [{"name": "svc", "listen": "192.0.2.2:8000", "strategy": "round-robin",
   "connectTimeoutMs": 300, "retries": 2, "healthCheck": $check,
   "backends": [{"name": "b1", "address": "192.0.2.11:8080"}, {"name": "b2", "address": "192.0.2.12:8080"}]}]}
JSON
}

haproxy_config() {  # $1: checks on|off
  local check="" httpchk=""
  if [[ $1 == on ]]; then check="check inter 500 fall 2 rise 2"; httpchk="option httpchk GET /health"; fi
  cat <<CFG
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 300ms
  timeout client 300s
  timeout server 300s
  timeout check 300ms
  retries 2
  option redispatch
  option clitcpka
  option srvtcpka
  clitcpka-idle 1s
  clitcpka-intvl 1s
  clitcpka-cnt 2
  srvtcpka-idle 1s
  srvtcpka-intvl 1s
  srvtcpka-cnt 2
listen svc
  bind 192.0.2.2:8000
  balance roundrobin
  $httpchk
  default-server on-marked-down shutdown-sessions
  server b1 192.0.2.11:8080 $check
  server b2 192.0.2.12:8080 $check
CFG
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

run_one() {  # balancer checks failure
  local balancer=$1 checks=$2 failure=$3
  "$lab" up "$id" >/dev/null
  declare -A backend_pid
  for node in b1 b2; do
    "$lab" exec "$id" "$node" "$bin/bascule-backend" --listen "192.0.2.1${node#b}:8080" --name "$node" >"$work/$node.log" 2>&1 &
    backend_pid[$node]=$!; pids+=($!)
  done
  if [[ $balancer == bascule ]]; then
    bascule_config "$checks" >"$work/config.json"
    "$lab" exec "$id" lb "$bin/bascule" run --config "$work/config.json" >"$work/lb.log" 2>&1 &
  else
    haproxy_config "$checks" >"$work/haproxy.cfg"
    "$lab" exec "$id" lb haproxy -db -f "$work/haproxy.cfg" >"$work/lb.log" 2>&1 &
  fi
  pids+=($!)
  for _ in $(seq 100); do
    "$lab" exec "$id" cl curl -s -o /dev/null --max-time 1 http://192.0.2.2:8000/whoami && break
    sleep 0.1
  done
  sleep 1.2  # both balancers: let the checks see both backends up (rise 2 at 500 ms)
  rm -f "$work/pkg" "$work/pkg.head"
  "$lab" exec "$id" cl curl -s --max-time 60 --limit-rate 20M -o "$work/pkg" -D "$work/pkg.head" \
    "http://192.0.2.2:8000/content/pkg?size=$((512 << 20))" &
  local curl=$!
  for _ in $(seq 200); do
    [[ -f $work/pkg && $(stat -c %s "$work/pkg") -ge $((4 << 20)) ]] && break
    sleep 0.02
  done
  local victim
  victim=$(grep -i '^x-backend:' "$work/pkg.head" | tr -d '\r' | awk '{print $2}')
  "$lab" exec "$id" cl sh -c 'end=$(($(date +%s) + 8)); while [ $(date +%s) -lt $end ]; do
      curl -s -o /dev/null --max-time 3 -w "%{http_code} %{exitcode}\n" http://192.0.2.2:8000/whoami; done' >"$work/loop" &
  local loop=$!
  local failed_at
  failed_at=$(now_ms)
  case $failure in
    kill) kill -9 "${backend_pid[$victim]}" ;;
    stop) kill -STOP "${backend_pid[$victim]}" ;;
    blackhole) "$lab" blackhole "$id" "$victim" ;;
    linkdown) "$lab" linkdown "$id" "$victim" ;;
  esac
  local reset="no reset in 20 s" status
  for _ in $(seq 2000); do
    if ! kill -0 "$curl" 2>/dev/null; then
      wait "$curl" && status=0 || status=$?
      reset="$(( $(now_ms) - failed_at )) ms (curl $status)"
      break
    fi
    sleep 0.01
  done
  kill "$curl" 2>/dev/null || true
  wait "$loop" || true
  local attempts failed
  attempts=$(wc -l <"$work/loop"); failed=$(grep -vc '^200 0$' "$work/loop" || true)
  printf '%-8s checks=%-3s %-9s victim=%s  client reset after %-26s new connections: %s, failed %s\n' \
    "$balancer" "$checks" "$failure" "$victim" "$reset" "$attempts" "$failed"
  kill -CONT "${backend_pid[$victim]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  pids=()
  wait 2>/dev/null || true
  "$lab" down "$id"
}

for checks in on off; do
  for failure in $failures; do
    for balancer in $balancers; do
      run_one "$balancer" "$checks" "$failure"
    done
  done
done
