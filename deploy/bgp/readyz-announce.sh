#!/usr/bin/env bash
# Announces the service address over BGP while Bascule is ready, and withdraws it when not:
# polls /readyz and enables or disables BIRD's "bascule_service*" static protocols (see
# bird.conf.in). Run one beside every node's BIRD (systemd unit, or deploy/lab/lab.sh).
#
#   readyz-announce.sh [--admin HOST:PORT] [--socket BIRD_CTL] [--interval SECONDS]
#                      [--rise N] [--fall N] [--protocols PATTERN]
#
# 503 from /readyz (no eligible backend, draining after SIGTERM, drained by
# `bascule ctl drain-node`) or no answer counts as a failure; `fall` failures in a row withdraw,
# `rise` successes in a row announce. On SIGTERM/SIGINT it withdraws before exiting, so stopping
# it takes the node out of the router's multipath route.
set -u

admin=127.0.0.1:9000
socket=/run/bird/bird.ctl
interval=1
rise=2
fall=2
protocols='bascule_service*'

while [ $# -gt 0 ]; do
  case "$1" in
    --admin) admin=$2; shift 2 ;;
    --socket) socket=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --rise) rise=$2; shift 2 ;;
    --fall) fall=$2; shift 2 ;;
    --protocols) protocols=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "readyz-announce: unknown option $1" >&2; exit 2 ;;
  esac
done

log() { echo "readyz-announce: $*"; }

# birdc answers "disabled"/"enabled" per protocol, or "... already disabled"; either way the
# protocols end in the wanted state. Its exit status is 0 even for errors, so look at the text.
set_announced() {
  local verb=$1 output
  if output=$(birdc -s "$socket" "$verb" "\"$protocols\"" 2>&1) && ! grep -qiE 'error|unable|syntax' <<<"$output"; then
    return 0
  fi
  log "birdc $verb failed: $output"
  return 1
}

announced=unknown
successes=0
failures=0

withdraw_and_exit() {
  set_announced disable && log "withdrawn (stopping)"
  exit 0
}
trap withdraw_and_exit TERM INT

while :; do
  if curl --fail --silent --max-time 1 --output /dev/null "http://$admin/readyz"; then
    successes=$((successes + 1)); failures=0
    if [ "$announced" != yes ] && [ "$successes" -ge "$rise" ] && set_announced enable; then
      announced=yes; log "announced (/readyz 200)"
    fi
  else
    failures=$((failures + 1)); successes=0
    if [ "$announced" != no ] && [ "$failures" -ge "$fall" ] && set_announced disable; then
      announced=no; log "withdrawn (/readyz failed $failures times)"
    fi
  fi
  # In the background so the trap runs at once instead of after the sleep.
  sleep "$interval" & wait $!
done
