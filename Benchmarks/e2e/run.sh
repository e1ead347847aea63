#!/usr/bin/env bash
# End-to-end benchmark entry point: Bascule vs HAProxy (tcp) vs nginx stream.
#   Benchmarks/e2e/run.sh [--quick] [--rounds N] [--duration S] [--connections C]
#                         [--scenarios a,b] [--only bascule,haproxy,nginx]
#                         [--workers N] [--workers-compare 1,2] [--stream-bytes 10G]
#                         [--idle-connections 10000] [--nice N] [--json FILE]
# Scenarios: keepalive-small close-small bulk-1m overhead workers single-stream memory.
# Installs missing peers, builds Bascule (release) when it is selected, then
# hands every argument to compare.py. See ../README.md and README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# --- peers: install only what is missing (Debian package names)
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v nginx   >/dev/null || need+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || need+=(libnginx-mod-stream)
command -v wrk     >/dev/null || need+=(wrk)
command -v iperf3  >/dev/null || need+=(iperf3)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing missing peers: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${need[@]}" || { apt-get update && apt-get install -y "${need[@]}"; }
fi
# Debian may start its own nginx service on install: not ours, we leave it
# alone; it listens on :80 only and our ports are picked free at run time.

# --- build Bascule only if it will be run (default: all proxies)
only="bascule,haproxy,nginx"
prev=""
for a in "$@"; do
    case "$a" in --only=*) only="${a#--only=}" ;; esac
    [ "$prev" = "--only" ] && only="$a"
    prev="$a"
done
if [[ ",$only," == *",bascule,"* ]]; then
    echo "building bascule (release)..."
    (cd "$root" && swift build -c release --product bascule)
    export BASCULE_BIN="$(cd "$root" && swift build -c release --show-bin-path)/bascule"
fi

# --- run; compare.py stops its own processes in try/finally, the trap covers
# the case where this shell is interrupted or killed first.
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
# The real interpreter, not a pyenv shim: a shim (a bash script) would take the signal itself
# and leave compare.py and everything it started running.
py="$(python3 -c 'import sys; print(sys.executable)')"
"$py" "$here/compare.py" "$@" &
pid=$!
status=0
wait "$pid" || status=$?  # not a bare wait: set -e would exit before we read it
pid=""
exit $status
