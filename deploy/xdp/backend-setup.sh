#!/usr/bin/env bash
# Prepares a Linux backend of a Bascule service with "dataPlane": "xdp" (direct server return):
# the balancer sends it the client's packets inside IP-in-IP (IPv4 in IPv4, IPv6 in IPv6); the
# backend takes them off the tunnel, holds the virtual address itself, and answers the client
# directly from that address.
#
#   backend-setup.sh up   VIP [VIP...]    # e.g. 192.0.2.10 2001:db8:f::10
#   backend-setup.sh down VIP [VIP...]
#
# Environment: BASCULE_DECAP_INTERFACE=eth0 (and BASCULE=/path/to/bascule) to decapsulate with
# Bascule's XDP program instead, for kernels built without ipip / ip6_tunnel (it is also used
# when tunl0 / ip6tnl0 cannot be had).
#
# What "up" does, and why:
# - loads ipip / ip6_tunnel and brings up their catch-all devices tunl0 / ip6tnl0, which take
#   IP-in-IP from any sender to any local address (no per-balancer tunnel to configure);
# - puts each VIP on lo as a /32 or /128, so the decapsulated packet is local and replies leave
#   from the VIP;
# - rp_filter 0 on tunl0 (and "all", since the kernel uses the larger): the inner source is a
#   client that is routed via the physical interface, not via the tunnel, which strict reverse
#   path filtering would drop;
# - arp_ignore 1 / arp_announce 2: the backend must not answer ARP for the VIP on its LAN
#   (only the balancer or the router owns it there);
# The service itself listens on the VIP's port (or on 0.0.0.0 / ::).
# MTU: the outer header adds 20 (IPv4) or 40 (IPv6) bytes between balancer and backend; raise
# the MTU of that path, or lower the MSS the backend announces (`ip route ... advmss`), see
# DESIGN.md. Windows backends: see DESIGN.md (Windows has no IP-in-IP decapsulation).
set -euo pipefail

action=${1:-}
shift || true
[ "$action" = up ] || [ "$action" = down ] || { echo "usage: $0 up|down VIP [VIP...]" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: $0 up|down VIP [VIP...]" >&2; exit 2; }

has_v4=no; has_v6=no
for vip in "$@"; do
  case "$vip" in *:*) has_v6=yes ;; *) has_v4=yes ;; esac
done

bascule=${BASCULE:-bascule}
decap_interface=${BASCULE_DECAP_INTERFACE:-}

if [ "$action" = up ]; then
  if [ -z "$decap_interface" ]; then
    [ "$has_v4" = no ] || modprobe ipip 2>/dev/null || true
    [ "$has_v6" = no ] || modprobe ip6_tunnel 2>/dev/null || true
    if { [ "$has_v4" = yes ] && ! ip link show tunl0 >/dev/null 2>&1; } ||
       { [ "$has_v6" = yes ] && ! ip link show ip6tnl0 >/dev/null 2>&1; }; then
      echo "backend-setup: this kernel has no tunl0/ip6tnl0 (ipip, ip6_tunnel); set BASCULE_DECAP_INTERFACE to decapsulate with XDP" >&2
      exit 1
    fi
  fi
  if [ "$has_v4" = yes ]; then
    sysctl -qw net.ipv4.conf.all.rp_filter=0
    sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  fi
  if [ -n "$decap_interface" ]; then
    "$bascule" xdp-decap attach --interface "$decap_interface" >/dev/null
  else
    if [ "$has_v4" = yes ]; then
      ip link set tunl0 up
      sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
    fi
    [ "$has_v6" = no ] || ip link set ip6tnl0 up
  fi
  for vip in "$@"; do
    case "$vip" in
      *:*) ip -6 addr replace "$vip/128" dev lo nodad ;;
      *) ip addr replace "$vip/32" dev lo ;;
    esac
  done
else
  for vip in "$@"; do
    case "$vip" in
      *:*) ip -6 addr del "$vip/128" dev lo 2>/dev/null || true ;;
      *) ip addr del "$vip/32" dev lo 2>/dev/null || true ;;
    esac
  done
  if [ -n "$decap_interface" ]; then
    "$bascule" xdp-decap detach --interface "$decap_interface" >/dev/null
  else
    [ "$has_v4" = no ] || ip link set tunl0 down 2>/dev/null || true
    [ "$has_v6" = no ] || ip link set ip6tnl0 down 2>/dev/null || true
  fi
fi
