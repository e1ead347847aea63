#!/usr/bin/env bash
# The outage lab: a client, a balancer and three backend hosts in network namespaces of their
# own on one bridge (itself in a namespace), documentation addresses only (192.0.2.0/24).
# Nothing touches the host's own namespace. Used by OutageLabTests and outage-figures.sh.
#
#   outage-lab.sh up ID            create ob<ID>{br,cl,lb,b1,b2,b3}
#   outage-lab.sh down ID          delete them (and with them every address and rule)
#   outage-lab.sh blackhole ID N   node N drops every packet in and out (nftables)
#   outage-lab.sh restore ID N     undo blackhole
#   outage-lab.sh linkdown ID N    node N's only interface goes down (a dead switch port)
#   outage-lab.sh linkup ID N
#   outage-lab.sh exec ID N CMD... run CMD in node N's namespace
#
# Addresses: cl 192.0.2.1, lb 192.0.2.2, b1 192.0.2.11, b2 192.0.2.12, b3 192.0.2.13.
set -euo pipefail

command=${1:?usage: outage-lab.sh up|down|blackhole|restore|linkdown|linkup|exec ID [NODE] [CMD...]}
id=${2:?an id (letters and digits) is required}
[[ $id =~ ^[A-Za-z0-9]{1,8}$ ]] || { echo "outage-lab: bad id '$id'" >&2; exit 2; }
ns() { echo "ob${id}$1"; }

address() {
  case $1 in
    cl) echo 192.0.2.1 ;; lb) echo 192.0.2.2 ;;
    b1) echo 192.0.2.11 ;; b2) echo 192.0.2.12 ;; b3) echo 192.0.2.13 ;;
    *) echo "outage-lab: unknown node '$1'" >&2; exit 2 ;;
  esac
}

nodes="cl lb b1 b2 b3"

case $command in
  up)
    ip netns add "$(ns br)"
    ip -n "$(ns br)" link add br0 type bridge
    ip -n "$(ns br)" link set br0 up
    for node in $nodes; do
      ip netns add "$(ns "$node")"
      ip -n "$(ns "$node")" link set lo up
      ip link add eth0 netns "$(ns "$node")" type veth peer name "p$node" netns "$(ns br)"
      ip -n "$(ns br)" link set "p$node" master br0 up
      ip -n "$(ns "$node")" addr add "$(address "$node")/24" dev eth0
      ip -n "$(ns "$node")" link set eth0 up
    done
    # The bridge forwards at once (no STP learning delay to wait out).
    ip -n "$(ns br)" link set br0 type bridge forward_delay 0 stp_state 0
    echo "outage lab ready id=$id"
    ;;
  down)
    for node in br $nodes; do ip netns del "$(ns "$node")" 2>/dev/null || true; done
    ;;
  blackhole)
    node=${3:?node}
    ip netns exec "$(ns "$node")" nft -f - <<'NFT'
table inet outage {
  chain in { type filter hook input priority -300; policy drop; }
  chain out { type filter hook output priority -300; policy drop; }
}
NFT
    ;;
  restore)
    node=${3:?node}
    ip netns exec "$(ns "$node")" nft delete table inet outage
    ;;
  linkdown) ip -n "$(ns "${3:?node}")" link set eth0 down ;;
  linkup) ip -n "$(ns "${3:?node}")" link set eth0 up ;;
  exec)
    node=${3:?node}; shift 3
    exec ip netns exec "$(ns "$node")" "$@"
    ;;
  *) echo "outage-lab: unknown command '$command'" >&2; exit 2 ;;
esac
