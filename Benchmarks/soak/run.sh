#!/usr/bin/env bash
# Soak test entry point: builds Bascule (release) and runs soak.py.
#   Benchmarks/soak/run.sh [--duration SECONDS] [--workers N] [--json FILE] [...]
# Every argument goes to soak.py (see README.md). Exit status is soak.py's:
# 0 bounds held, 1 a bound exceeded, 2 the run failed, 130 interrupted.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v wrk >/dev/null || {
    echo "installing wrk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
}

echo "building bascule and bascule-backend (release)..."
(cd "$root" && swift build -c release --product bascule && swift build -c release --product bascule-backend)
bin="$(cd "$root" && swift build -c release --show-bin-path)"
export BASCULE_BIN="$bin/bascule" BASCULE_BACKEND_BIN="$bin/bascule-backend"

# soak.py stops its own processes in try/finally (and on SIGTERM/SIGHUP); the
# trap covers this shell being interrupted or killed first: it forwards SIGTERM.
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
# The real interpreter, not a wrapper (a pyenv shim is a bash script that would
# take the signal itself and leave python and everything it started running).
py="$(python3 -c 'import sys; print(sys.executable)')"
"$py" "$here/soak.py" "$@" &
pid=$!
status=0
wait "$pid" || status=$?  # not a bare wait: set -e would exit before we read it
pid=""
exit $status
