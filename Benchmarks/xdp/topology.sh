#!/usr/bin/env bash
# The XDP lab's network, in namespaces only, documentation-range addresses only:
#
#   client (203.0.113.2-.201, 2001:db8:c::2-) --- router --- balancer (XDP on "lb0")
#                                                  |  |  |
#                                          backend1 backend2 backend3  (ipip/ip6tnl decap, VIP on lo)
#
# The router sends the virtual addresses (192.0.2.10, 2001:db8:f::10) to the balancer, whose
# XDP program sends them, inside IP-in-IP, back through the router to a backend; the backend
# answers the client directly through the router: replies never cross the balancer.
#
#   topology.sh up PREFIX [CLIENT_ADDRESSES]   # namespaces PREFIX-client, -router, -lb, -b1..-b3
#   topology.sh down PREFIX
#
# Environment: BASCULE, the bascule binary (for backends' decapsulation on kernels without ipip).
# Addresses: client net 203.0.113.0/24 and 2001:db8:c::/64; router-balancer 198.51.100.0/30 and
# 2001:db8:1::/64; router-backend i 198.51.100.4i/30 and 2001:db8:1i::/64 (backend .4i+2).
# Links on the backend side have MTU 1600, room for the 20/40 bytes of encapsulation.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
action=${1:?usage: topology.sh up|down PREFIX [CLIENT_ADDRESSES]}
prefix=${2:?usage: topology.sh up|down PREFIX [CLIENT_ADDRESSES]}
clients=${3:-200}
C=$prefix-client R=$prefix-router L=$prefix-lb

down() {
  for ns in "$C" "$R" "$L" "$prefix-b1" "$prefix-b2" "$prefix-b3"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

if [ "$action" = down ]; then down; exit 0; fi
[ "$action" = up ] || { echo "usage: topology.sh up|down PREFIX" >&2; exit 2; }
trap 'down' ERR

for ns in "$C" "$R" "$L" "$prefix-b1" "$prefix-b2" "$prefix-b3"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
run_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# client <-> router
ip link add c0 netns "$C" type veth peer name rc netns "$R"
ip -n "$C" link set c0 up; ip -n "$R" link set rc up
ip -n "$R" addr add 203.0.113.1/24 dev rc
ip -n "$R" -6 addr add 2001:db8:c::1/64 dev rc nodad
{
  for i in $(seq 2 $((clients + 1))); do
    [ "$i" -le 254 ] && echo "addr add 203.0.113.$i/24 dev c0"
    printf 'addr add 2001:db8:c::%x/64 dev c0 nodad\n' "$i"
  done
} | ip -n "$C" -batch -
ip -n "$C" route add default via 203.0.113.1
ip -n "$C" -6 route add default via 2001:db8:c::1

# router <-> balancer
ip link add rl netns "$R" type veth peer name lb0 netns "$L"
ip -n "$R" link set rl mtu 1600 up; ip -n "$L" link set lb0 mtu 1600 up
ip -n "$R" addr add 198.51.100.1/30 dev rl
ip -n "$L" addr add 198.51.100.2/30 dev lb0
ip -n "$R" -6 addr add 2001:db8:1::1/64 dev rl nodad
ip -n "$L" -6 addr add 2001:db8:1::2/64 dev lb0 nodad
ip -n "$L" route add default via 198.51.100.1
ip -n "$L" -6 route add default via 2001:db8:1::1
ip -n "$R" route add 192.0.2.10/32 via 198.51.100.2
ip -n "$R" -6 route add 2001:db8:f::10/128 via 2001:db8:1::2
# bpf_fib_lookup answers only where the balancer forwards (it does: packets come and go).
run_in "$L" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# router <-> backends
for i in 1 2 3; do
  B=$prefix-b$i
  ip link add "rb$i" netns "$R" type veth peer name eth0 netns "$B"
  ip -n "$R" link set "rb$i" mtu 1600 up; ip -n "$B" link set eth0 mtu 1600 up
  ip -n "$R" addr add "198.51.100.$((4 * i + 1))/30" dev "rb$i"
  ip -n "$B" addr add "198.51.100.$((4 * i + 2))/30" dev eth0
  ip -n "$R" -6 addr add "2001:db8:1$i::1/64" dev "rb$i" nodad
  ip -n "$B" -6 addr add "2001:db8:1$i::2/64" dev eth0 nodad
  ip -n "$B" route add default via "198.51.100.$((4 * i + 1))"
  ip -n "$B" -6 route add default via "2001:db8:1$i::1"
  # Stock kernels decapsulate with tunl0/ip6tnl0; where this kernel has neither, with
  # Bascule's own XDP decapsulation ($BASCULE: the bascule binary).
  if [ -e /sys/module/ipip ] || run_in "$B" ip link add name bascule-probe type ipip 2>/dev/null; then
    run_in "$B" ip link del bascule-probe 2>/dev/null || true
    run_in "$B" "$here/../../deploy/xdp/backend-setup.sh" up 192.0.2.10 2001:db8:f::10
  else
    BASCULE_DECAP_INTERFACE=eth0 run_in "$B" "$here/../../deploy/xdp/backend-setup.sh" up 192.0.2.10 2001:db8:f::10
  fi
done
run_in "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.rp_filter=0

# XDP_TX on a veth hands the frame to the peer's NAPI, which runs only where the peer has an
# XDP program of its own: the router's end gets one that passes everything.
pass="$(mktemp -d)/xdp_pass.o"
printf '%s\n' '#include <linux/bpf.h>' '__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }' \
  'char _license[] __attribute__((section("license"), used)) = "GPL";' > "${pass%.o}.c"
clang -O2 -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -c "${pass%.o}.c" -o "$pass"
ip -n "$R" link set dev rl xdpdrv obj "$pass" sec xdp
rm -rf "$(dirname "$pass")"
trap - ERR
