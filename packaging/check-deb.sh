#!/usr/bin/env bash
# Checks a .deb from build-deb.sh: every file an operator expects is inside, the version is
# the source's, and (with --install, as root) it installs, `bascule --version` runs from
# /usr/bin, the shipped configuration passes `bascule check`, and the installed unit passes
# `systemd-analyze verify` with a security exposure under 3.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
deb="$1"
install="${2:-}"
version="$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' "$repo/Sources/BasculeConfig/BasculeVersion.swift")"
fail() { echo "check-deb: $*" >&2; exit 1; }

[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is $(dpkg-deb -f "$deb" Version), the source says $version"
contents="$(dpkg-deb -c "$deb" | awk '{print $6}')"
for path in ./usr/bin/bascule ./usr/bin/bascule-backend ./lib/systemd/system/bascule.service \
    ./etc/bascule/config.json ./etc/logrotate.d/bascule ./usr/share/doc/bascule/copyright \
    ./usr/share/man/man1/bascule.1.gz ./usr/share/man/man1/bascule-backend.1.gz \
    ./usr/share/man/man1/bascule.run.1.gz ./usr/share/man/man1/bascule.ctl.reload.1.gz \
    ./usr/share/bash-completion/completions/bascule ./usr/share/zsh/vendor-completions/_bascule \
    ./usr/share/fish/vendor_completions.d/bascule.fish; do
  grep -qxF "$path" <<<"$contents" || fail "$path is not in $deb"
done
dpkg-deb -f "$deb" Depends | grep -q libssl3 || fail "Depends does not name libssl3"
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
grep -qxF /etc/bascule/config.json <<<"$conffiles" || fail "/etc/bascule/config.json is not a conffile"
unit="$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/bascule.service)"
grep -q '^ExecReload=/usr/bin/bascule ctl reload' <<<"$unit" || fail "the unit does not reload with bascule ctl reload from /usr/bin"
! grep -q /usr/local/bin <<<"$unit" || fail "the packaged unit still points at /usr/local/bin"
echo "check-deb: $(basename "$deb"): $(stat -c %s "$deb") bytes, $(grep -c . <<<"$contents") entries, contents as expected"

[ "$install" = "--install" ] || exit 0
dpkg -i "$deb" >/dev/null
reported="$(/usr/bin/bascule --version)"
[ "$reported" = "$version" ] || fail "/usr/bin/bascule --version says $reported"
[ "$(/usr/bin/bascule-backend --version)" = "$version" ] || fail "/usr/bin/bascule-backend --version is wrong"
/usr/bin/bascule check --config /etc/bascule/config.json >/dev/null || fail "the shipped /etc/bascule/config.json fails bascule check"
man -w bascule >/dev/null 2>&1 || [ ! -x /usr/bin/man ] || fail "man cannot find bascule(1)"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/bascule.service || fail "systemd-analyze verify rejects the unit"
  exposure="$(systemd-analyze security --offline=true /lib/systemd/system/bascule.service 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')"
  awk -v e="$exposure" 'BEGIN { exit !(e != "" && e < 3) }' || fail "systemd-analyze security exposure is ${exposure:-unknown}, not under 3"
  echo "check-deb: installed; bascule $reported from /usr/bin; unit exposure $exposure"
else
  echo "check-deb: installed; bascule $reported from /usr/bin"
fi
