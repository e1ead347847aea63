#!/usr/bin/env bash
# Builds bascule_VERSION_ARCH.deb from the release binaries:
#   swift build -c release --static-swift-stdlib --product bascule   (builds bascule-backend too)
#   packaging/build-deb.sh [BIN_DIR] [OUT_DIR]     (defaults: .build/release, .build/deb)
# Man pages and completions are generated here from the binaries' own command-line
# definitions (swift-argument-parser's generate-manual and --generate-completion-script), so
# they cannot drift from the options. The version comes from BasculeVersion.swift, the one
# place it is defined. Needs dpkg-deb and gzip; no root (file owners are set by --root-owner-group).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(cd "${1:-$repo/.build/release}" && pwd)"
out="${2:-$repo/.build/deb}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

version="$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' "$repo/Sources/BasculeConfig/BasculeVersion.swift")"
[ -n "$version" ] || { echo "build-deb: no version in BasculeVersion.swift" >&2; exit 1; }
for tool in bascule bascule-backend; do
  [ -x "$bin/$tool" ] || { echo "build-deb: $bin/$tool is missing; build the release products first" >&2; exit 1; }
done
reported="$("$bin/bascule" --version)"
[ "$reported" = "$version" ] || { echo "build-deb: $bin/bascule says $reported, the source says $version; rebuild" >&2; exit 1; }
arch="$(dpkg --print-architecture)"

# The man page generator is a product of swift-argument-parser, built once.
generate_manual="$bin/generate-manual"
if [ ! -x "$generate_manual" ]; then
  (cd "$repo" && swift build -c release --product generate-manual >/dev/null)
  generate_manual="$repo/.build/release/generate-manual"
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/bascule" "$root/etc/logrotate.d" \
  "$root/usr/share/man/man1" "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/doc/bascule"

for tool in bascule bascule-backend; do
  install -m 0755 "$bin/$tool" "$root/usr/bin/$tool"
  strip --strip-unneeded "$root/usr/bin/$tool"
  "$bin/$tool" --generate-completion-script bash > "$root/usr/share/bash-completion/completions/$tool"
  "$bin/$tool" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_$tool"
  "$bin/$tool" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/$tool.fish"
done
date="$(git -C "$repo" log -1 --format=%cs 2>/dev/null || date -u +%F)"
"$generate_manual" "$bin/bascule" --multi-page --date "$date" -o "$root/usr/share/man/man1"
"$generate_manual" "$bin/bascule-backend" --date "$date" -o "$root/usr/share/man/man1"
gzip -9n "$root"/usr/share/man/man1/*.1

# The package puts the binary in /usr/bin; the unit in deploy/ is for /usr/local/bin installs.
sed 's|/usr/local/bin/bascule|/usr/bin/bascule|g' "$repo/deploy/systemd/bascule.service" > "$root/lib/systemd/system/bascule.service"
# deploy/'s example, without its access log: /var/log/bascule exists only once the unit has
# started (LogsDirectory=), and `bascule check` must pass on the file as installed.
grep -v '"accessLog"' "$repo/deploy/config.example.json" > "$root/etc/bascule/config.json"
chmod 0644 "$root/etc/bascule/config.json"
install -m 0644 "$repo/deploy/logrotate/bascule" "$root/etc/logrotate.d/bascule"
install -m 0644 "$repo/LICENSE" "$root/usr/share/doc/bascule/copyright"
gzip -9nc "$repo/CHANGELOG.md" > "$root/usr/share/doc/bascule/changelog.gz"
chmod 0644 "$root"/usr/share/*/*/* "$root"/usr/share/*/*/*/* 2>/dev/null || true

cat > "$root/DEBIAN/conffiles" <<CONF
/etc/bascule/config.json
/etc/logrotate.d/bascule
CONF
# Not enabled or started on install: the default configuration is an example to edit first.
cat > "$root/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
if [ "$1" = configure ] && [ -z "$2" ]; then
  echo "bascule: edit /etc/bascule/config.json, check it with 'bascule check', then: systemctl enable --now bascule"
fi
SCRIPT
cat > "$root/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then systemctl stop bascule.service >/dev/null 2>&1 || true; fi
SCRIPT
cat > "$root/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
SCRIPT
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: bascule
Version: $version
Architecture: $arch
Maintainer: Bascule maintainers <bascule@localhost>
Installed-Size: $size
Depends: libc6, libssl3, libbpf1, libstdc++6, libgcc-s1
Section: net
Priority: optional
Description: Layer-4 TCP load balancer
 Highly available pools of servers behind one address: an epoll relay with
 splice, seven balancing strategies, TCP/HTTP/HTTPS health checks, draining,
 hot reload, Prometheus metrics and a dashboard. Includes bascule-backend, a
 minimal backend service for tests and demos.
CONTROL

deb="$out/bascule_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
