#!/usr/bin/env bash
# The scale-out lab: a client, a router, two or more Bascule nodes and a pool of
# bascule-backend processes, each in a network namespace of its own on this machine, wired
# with veths and bridges that live inside those namespaces. Nothing is added to the root
# namespace; every address is in a documentation range. The lab runs keepalived (vrrp) or BIRD
# (ecmp) from the templates in deploy/, rendered per node, so the shipped files are the tested
# ones. See deploy/README.md.
#
#   lab.sh up vrrp|ecmp [options]   build the lab, print "lab ready id=ID ...", stay in the
#                                   foreground; SIGTERM/SIGINT/HUP (or --parent exiting, or
#                                   --ttl running out) tear it all down
#   lab.sh render vrrp|ecmp --out DIR [options]
#                                   only write the rendered files `up` would use into DIR/conf
#   lab.sh down [--id ID]           remove lab ID, or every lab whose `up` is no longer running
#   lab.sh exec --id ID NODE CMD... run CMD in namespace NODE (cl, rt, be, n1, n2, ...)
#   lab.sh signal --id ID NODE PROCESS [SIGNAL]
#                                   signal a lab process (bascule, keepalived, bird, announce on
#                                   a node; b1, b2... on be); default SIGTERM
#   lab.sh start --id ID NODE PROCESS   start it again, as `up` did
#   lab.sh ctl --id ID NODE ARGS... bascule ctl ARGS against NODE's admin endpoint
#   lab.sh clients --id ID ARGS...  deploy/lab/clients.py ARGS in the client namespace
#   lab.sh vip --id ID              which node holds the virtual address (vrrp), or "none"
#   lab.sh route --id ID [4|6]      the router's route to the service address (ecmp)
#
# Options for up:
#   --nodes N            balancer nodes (vrrp: 2; ecmp: 3 by default, 2...9)
#   --backends N         bascule-backend processes b1...bN (3 by default, 1...9)
#   --clients N          extra IPv6 client addresses 2001:db8:c::1:1... (1000 by default)
#   --drain-grace-ms MS  the nodes' drainGraceMs (omitted by default)
#   --second-chance      vrrp: hand segments of the old owner's connections back to it
#                        (deploy/keepalived/second-chance.nft.in)
#   --bin DIR            where bascule and bascule-backend are ($BASCULE_BIN_DIR, else
#                        .build/debug)
#   --parent PID         tear down when PID exits
#   --ttl SECONDS        tear down after this long (600 by default)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy=$(dirname "$here")
repo=$(dirname "$deploy")

# Addresses: documentation ranges only (RFC 5737, RFC 3849), ASNs from RFC 5398.
CLIENT4=203.0.113.100;        CLIENT_GW4=203.0.113.1
CLIENT6=2001:db8:c::100;      CLIENT_GW6=2001:db8:c::1
CLIENT_EXTRA6=2001:db8:c::1:  # + hex index: the many clients of the ECMP case
ROUTER4=192.0.2.1;            ROUTER6=2001:db8:1::1
NODE_PREFIX4=192.0.2.0/25;    NODE_PREFIX6=2001:db8:1::/64
node4() { echo "192.0.2.1$1"; }
node6() { echo "2001:db8:1::1$1"; }
nodeback4() { echo "198.51.100.1$1"; }
backend4() { echo "198.51.100.2$1"; }
VIP=192.0.2.10                # vrrp: the pair's virtual address
SERVICE4=192.0.2.200          # ecmp: the service addresses every node announces
SERVICE6=2001:db8:5::10
SERVICE_PORT=80
BACKEND_PORT=8080
ADMIN=127.0.0.1:9000          # each node's admin endpoint, on that node's own loopback
ROUTER_ASN=64496; NODE_ASN=64497

log() { echo "lab: $*"; }
die() { echo "lab: $*" >&2; exit 1; }

# Alive, and not a zombie: a killed `up` whose parent never reaps it still answers kill -0.
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

state_dir() { echo "${TMPDIR:-/tmp}/bascule-lab.$1"; }

namespaces_of() {
  ip netns list | awk '{print $1}' | grep -E "^$1-" || true
}

# Kills every process in the lab's namespaces and deletes them. Safe to run twice. Processes
# are found by namespace, never from pid files, which could name a reused pid by now.
remove_lab() {
  local id=$1 dir ns pids
  dir=$(state_dir "$id")
  for ns in $(namespaces_of "$id"); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  done
  for ns in $(namespaces_of "$id"); do
    # A killed process can hold the namespace a moment longer; deletion works regardless (the
    # kernel frees it with the last process).
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$dir"
}

require_id() {
  [ -n "${id:-}" ] || die "--id ID is required (or LAB_ID in the environment)"
  [ -d "$(state_dir "$id")" ] || die "no lab $id is up ($(state_dir "$id") is missing)"
}

# ---- up ---------------------------------------------------------------------------------

in_ns() { local ns=$1; shift; ip netns exec "$id-$ns" "$@"; }

sysctls() { local ns=$1; shift; in_ns "$ns" sysctl -q -w "$@" >/dev/null; }

add_namespace() {
  ip netns add "$id-$1"
  ip -n "$id-$1" link set lo up
  # No duplicate address detection: addresses are usable at once, and 1,000 of them do not
  # each wait a second.
  sysctls "$1" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# A veth from namespace $1 (named $2) to namespace $3 (named $4), created inside them.
link() {
  ip -n "$id-$1" link add "$2" type veth peer name "$4" netns "$id-$3"
  ip -n "$id-$1" link set "$2" up
  ip -n "$id-$3" link set "$4" up
}

# Starts a lab process in the background: its pid in pids/NODE.NAME, its output in
# logs/NODE.NAME.log, its command in cmds/NODE.NAME (for `lab.sh start`). Under `up` it stays in
# up's process group, so even a SIGKILL of the group takes it along; `lab.sh start` gives it a
# session of its own instead, or it would die with that short-lived command's group.
launch() {
  local node=$1 name=$2; shift 2
  printf '%q ' "$@" > "$dir/cmds/$node.$name"
  ${detach:+setsid} ip netns exec "$id-$node" "$@" >>"$dir/logs/$node.$name.log" 2>&1 </dev/null &
  echo $! > "$dir/pids/$node.$name"
  # Killed at teardown on purpose: no "Killed" report from bash.
  disown $!
}

wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "lab: timed out after ${seconds}s waiting for $what" >&2
      return 1
    fi
    sleep 0.05
  done
}

render() {
  # Only the named variables: anything else that looks like $NAME in a template stays as is.
  envsubst "$(printf '${%s} ' "${@:3}")" < "$1" > "$2"
}

node_config() {
  local i=$1 order=() b listen services
  # Every node lists the backends in a different order (rotated, every other one reversed):
  # maglev must pick by the backend set, never by the file.
  for ((b = 0; b < backends; b++)); do order+=($(( (b + i - 1) % backends + 1 ))); done
  if (( i % 2 == 0 )); then
    local reversed=()
    for ((b = ${#order[@]} - 1; b >= 0; b--)); do reversed+=("${order[b]}"); done
    order=("${reversed[@]}")
  fi
  local list="" sep=""
  for b in "${order[@]}"; do
    list+="$sep{ \"name\": \"b$b\", \"address\": \"$(backend4 "$b"):$BACKEND_PORT\" }"; sep=", "
  done
  service() {
    cat <<EOF
    { "name": "$1", "listen": "$2", "strategy": "maglev", "affinity": "single", "retries": 2,
      "healthCheck": { "type": "http", "path": "/health", "expectStatus": [200],
                       "intervalMs": 200, "timeoutMs": 150, "rise": 2, "fall": 2 },
      "backends": [ $list ] }
EOF
  }
  if [ "$mode" = vrrp ]; then
    services=$(service web "$VIP:$SERVICE_PORT")
  else
    services="$(service web "[$SERVICE6]:$SERVICE_PORT"),
$(service web4 "$SERVICE4:$SERVICE_PORT")"
  fi
  cat <<EOF
{
  "workers": 1,
  "admin": { "listen": "$ADMIN" },
  "defaults": { "connectTimeoutMs": 2000, "drainTimeoutMs": 20000 },
  "accessLog": "$dir/logs/n$i.access.log",${drain_grace_ms:+
  \"drainGraceMs\": $drain_grace_ms,}
  "services": [
$services
  ]
}
EOF
}

ready_on() { in_ns "$1" curl --fail --silent --max-time 1 --output /dev/null "http://$ADMIN/readyz"; }

up() {
  local i
  dir=$(state_dir "$id")
  [ -e "$dir" ] && die "$dir exists: lab $id is up already (lab.sh down --id $id)"
  mkdir -p "$dir"/{pids,logs,cmds,conf}
  echo $$ > "$dir/owner"
  echo "$bin" > "$dir/bin"
  # The teardown ignores further signals: a test runner killed outright sends its death signal
  # once per thread that exits, and a second SIGTERM arriving in the middle of remove_lab ran
  # `exit` again and left the namespaces behind. A write to a reader that is gone (the runner)
  # ends `up` through the same teardown instead of killing it where it stands.
  trap 'trap "" TERM INT HUP PIPE; remove_lab "$id"' EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap 'exit 129' HUP
  trap 'exit 141' PIPE

  log "id $id, $mode, $nodes nodes, $backends backends, state in $dir"
  for ns in cl rt be $(seq -f 'n%g' 1 "$nodes"); do add_namespace "$ns"; done

  # Client <-> router: one point-to-point link, IPv4 and IPv6.
  link cl eth0 rt cl0
  in_ns cl ip addr add "$CLIENT4/24" dev eth0
  in_ns cl ip -6 addr add "$CLIENT6/64" dev eth0 nodad
  in_ns cl ip route add default via "$CLIENT_GW4"
  in_ns cl ip -6 route add default via "$CLIENT_GW6"
  if [ "$clients" -gt 0 ]; then
    for ((i = 1; i <= clients; i++)); do
      printf 'addr add %s%x/64 dev eth0 nodad\n' "$CLIENT_EXTRA6" "$i"
    done > "$dir/conf/client-addresses"
    in_ns cl ip -6 -batch "$dir/conf/client-addresses"
  fi
  in_ns rt ip addr add "$CLIENT_GW4/24" dev cl0
  in_ns rt ip -6 addr add "$CLIENT_GW6/64" dev cl0 nodad

  # The node segment: a bridge in the router's namespace, one port per node.
  in_ns rt ip link add br0 type bridge
  in_ns rt ip link set br0 up
  in_ns rt ip addr add "$ROUTER4/25" dev br0
  in_ns rt ip -6 addr add "$ROUTER6/64" dev br0 nodad
  sysctls rt net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1

  # The backend segment: a bridge in the backends' namespace, holding their addresses.
  in_ns be ip link add br0 type bridge
  in_ns be ip link set br0 up
  for ((i = 1; i <= backends; i++)); do in_ns be ip addr add "$(backend4 "$i")/24" dev br0; done

  for ((i = 1; i <= nodes; i++)); do
    link "n$i" eth0 rt "n$i"
    in_ns rt ip link set "n$i" master br0
    link "n$i" eth1 be "n$i"
    in_ns be ip link set "n$i" master br0
    in_ns "n$i" ip addr add "$(node4 "$i")/25" dev eth0
    in_ns "n$i" ip -6 addr add "$(node6 "$i")/64" dev eth0 nodad
    in_ns "n$i" ip addr add "$(nodeback4 "$i")/24" dev eth1
    in_ns "n$i" ip route add default via "$ROUTER4"
    in_ns "n$i" ip -6 route add default via "$ROUTER6"
  done

  render_all
  for ((i = 1; i <= backends; i++)); do
    launch be "b$i" "$bin/bascule-backend" --listen "$(backend4 "$i"):$BACKEND_PORT" --name "b$i"
  done
  for ((i = 1; i <= backends; i++)); do
    wait_for "backend b$i" 20 grep -q "listening on" "$dir/logs/be.b$i.log"
  done

  for ((i = 1; i <= nodes; i++)); do
    if [ "$mode" = ecmp ]; then
      # The service addresses are the node's own, so what the router sends here is delivered.
      in_ns "n$i" ip addr add "$SERVICE4/32" dev lo
      in_ns "n$i" ip -6 addr add "$SERVICE6/128" dev lo nodad
    elif [ "$second_chance" = yes ]; then
      in_ns "n$i" ip addr add "$VIP/32" dev lo
      sysctls "n$i" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
        net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.eth1.rp_filter=2 \
        net.netfilter.nf_conntrack_tcp_be_liberal=1
    fi
    launch "n$i" bascule "$bin/bascule" run --config "$dir/conf/n$i.json"
  done
  for ((i = 1; i <= nodes; i++)); do
    wait_for "bascule on n$i" 30 grep -q "^ready" "$dir/logs/n$i.bascule.log"
    wait_for "/readyz 200 on n$i" 20 ready_on "n$i"
  done

  if [ "$mode" = vrrp ]; then start_vrrp; else start_ecmp; fi
  log "ready"
  echo "lab ready id=$id mode=$mode nodes=$nodes backends=$backends clients=$clients dir=$dir"

  local deadline=$((SECONDS + ttl))
  while :; do
    if [ -n "$parent" ] && ! alive "$parent"; then log "parent $parent is gone"; exit 0; fi
    if [ $SECONDS -ge $deadline ]; then log "ttl of ${ttl}s ran out"; exit 0; fi
    # In the background so a signal's trap runs at once.
    sleep 1 & wait $! || true
  done
}

# ---- templates ----------------------------------------------------------------------------
# Rendered into $dir/conf by `up`, and by `render` alone so tests can check every file with its
# own tool (keepalived -t, bird -p, nft -c) without building a lab.

render_vrrp_node() {
  local i=$1 peer=$((3 - $1)) state priority
  # n1 starts as master with the higher priority, so the lab begins in a known state.
  if [ "$i" -eq 1 ]; then state=MASTER priority=150; else state=BACKUP priority=100; fi
  NODE_NAME="$id-n$i" VRRP_STATE=$state VRRP_PRIORITY=$priority VRRP_INTERFACE=eth0 \
    VRRP_ROUTER_ID=51 SELF_ADDRESS=$(node4 "$i") PEER_ADDRESS=$(node4 $peer) VIP=$VIP \
    ADMIN_ADDRESS=$ADMIN CURL=$(command -v curl) \
    render "$deploy/keepalived/keepalived.conf.in" "$dir/conf/n$i.keepalived.conf" \
      NODE_NAME VRRP_STATE VRRP_PRIORITY VRRP_INTERFACE VRRP_ROUTER_ID SELF_ADDRESS PEER_ADDRESS \
      VIP ADMIN_ADDRESS CURL
  VIP=$VIP SERVICE_PORTS=$SERVICE_PORT VRRP_INTERFACE=eth0 BACK_INTERFACE=eth1 \
    PEER_BACK_ADDRESS=$(nodeback4 $peer) \
    render "$deploy/keepalived/second-chance.nft.in" "$dir/conf/n$i.second-chance.nft" \
      VIP SERVICE_PORTS VRRP_INTERFACE BACK_INTERFACE PEER_BACK_ADDRESS
}

render_router_bird() {
  ROUTER_ROUTER_ID=$ROUTER4 ROUTER_ADDRESS4=$ROUTER4 ROUTER_ADDRESS6=$ROUTER6 ROUTER_ASN=$ROUTER_ASN \
    NODE_ASN=$NODE_ASN NODE_PREFIX4=$NODE_PREFIX4 NODE_PREFIX6=$NODE_PREFIX6 \
    render "$here/router-bird.conf.in" "$dir/conf/rt.bird.conf" \
      ROUTER_ROUTER_ID ROUTER_ADDRESS4 ROUTER_ADDRESS6 ROUTER_ASN NODE_ASN NODE_PREFIX4 NODE_PREFIX6
}

render_ecmp_node() {
  local i=$1
  NODE_ROUTER_ID=$(node4 "$i") NODE_ADDRESS4=$(node4 "$i") NODE_ADDRESS6=$(node6 "$i") NODE_ASN=$NODE_ASN \
    ROUTER_ADDRESS4=$ROUTER4 ROUTER_ADDRESS6=$ROUTER6 ROUTER_ASN=$ROUTER_ASN \
    SERVICE_ADDRESS4=$SERVICE4 SERVICE_ADDRESS6=$SERVICE6 \
    render "$deploy/bgp/bird.conf.in" "$dir/conf/n$i.bird.conf" \
      NODE_ROUTER_ID NODE_ADDRESS4 NODE_ADDRESS6 NODE_ASN ROUTER_ADDRESS4 ROUTER_ADDRESS6 ROUTER_ASN \
      SERVICE_ADDRESS4 SERVICE_ADDRESS6
}

render_all() {
  local i
  [ "$mode" = ecmp ] && render_router_bird
  for ((i = 1; i <= nodes; i++)); do
    node_config "$i" > "$dir/conf/n$i.json"
    if [ "$mode" = vrrp ]; then render_vrrp_node "$i"; else render_ecmp_node "$i"; fi
  done
}

# ---- daemons --------------------------------------------------------------------------------

start_vrrp() {
  local i
  for ((i = 1; i <= 2; i++)); do
    [ "$second_chance" = yes ] && in_ns "n$i" nft -f "$dir/conf/n$i.second-chance.nft"
    launch "n$i" keepalived keepalived -n -l -D -f "$dir/conf/n$i.keepalived.conf" \
      -p "$dir/n$i.keepalived.pid" -r "$dir/n$i.vrrp.pid" -c "$dir/n$i.checkers.pid"
  done
  wait_for "n1 to hold $VIP" 20 vip_on n1
}

start_ecmp() {
  local i
  launch rt bird bird -f -c "$dir/conf/rt.bird.conf" -s "$dir/rt.bird.ctl" -P "$dir/rt.bird.pid"
  for ((i = 1; i <= nodes; i++)); do
    launch "n$i" bird bird -f -c "$dir/conf/n$i.bird.conf" -s "$dir/n$i.bird.ctl" -P "$dir/n$i.bird.pid"
  done
  for ((i = 1; i <= nodes; i++)); do
    wait_for "BIRD on n$i" 20 test -S "$dir/n$i.bird.ctl"
    launch "n$i" announce "$deploy/bgp/readyz-announce.sh" --admin "$ADMIN" --socket "$dir/n$i.bird.ctl" \
      --interval 0.5 --rise 2 --fall 2
  done
  wait_for "a route over all $nodes nodes on the router (IPv6)" 30 route_has_nexthops 6 "$nodes"
  wait_for "a route over all $nodes nodes on the router (IPv4)" 30 route_has_nexthops 4 "$nodes"
}

vip_on() { in_ns "$1" ip -4 addr show dev eth0 | grep -q "inet $VIP/"; }

route_of() {
  if [ "$1" = 6 ]; then in_ns rt ip -6 route show "$SERVICE6"; else in_ns rt ip -4 route show "$SERVICE4"; fi
}

route_has_nexthops() {
  local count
  count=$(route_of "$1" | grep -c "via" || true)
  [ "$count" -eq "$2" ]
}

# ---- command line -------------------------------------------------------------------------

command=${1:-}
[ -n "$command" ] && shift
id=${LAB_ID:-}

case "$command" in
  up|render)
    mode=${1:-}; [ -n "$mode" ] && shift
    [ "$mode" = vrrp ] || [ "$mode" = ecmp ] || die "usage: lab.sh $command vrrp|ecmp [options]"
    nodes=""; backends=3; clients=1000; drain_grace_ms=""; second_chance=no
    bin=${BASCULE_BIN_DIR:-$repo/.build/debug}; parent=""; ttl=600; out=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --nodes) nodes=$2; shift 2 ;;
        --backends) backends=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --drain-grace-ms) drain_grace_ms=$2; shift 2 ;;
        --second-chance) second_chance=yes; shift ;;
        --bin) bin=$2; shift 2 ;;
        --parent) parent=$2; shift 2 ;;
        --ttl) ttl=$2; shift 2 ;;
        --id) id=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) die "unknown option $1" ;;
      esac
    done
    if [ "$mode" = vrrp ]; then
      [ -z "$nodes" ] || [ "$nodes" = 2 ] || die "vrrp is a pair: --nodes 2"
      nodes=2
    fi
    nodes=${nodes:-3}
    [[ "$nodes" =~ ^[2-9]$ ]] || die "--nodes must be 2...9"
    [[ "$backends" =~ ^[1-9]$ ]] || die "--backends must be 1...9"
    [[ "$clients" =~ ^[0-9]+$ ]] && [ "$clients" -le 60000 ] || die "--clients must be 0...60000"
    [[ -z "$drain_grace_ms" || "$drain_grace_ms" =~ ^[0-9]+$ ]] || die "--drain-grace-ms must be a number"
    # Namespace names start with the id: lab.sh's pid by default, so runs never collide and
    # `down` can tell a live lab from one whose `up` was killed.
    id=${id:-bsc$$}
    [[ "$id" =~ ^[a-z][a-z0-9]{0,15}$ ]] || die "--id must be a lowercase letter then up to 15 letters or digits"
    command -v envsubst >/dev/null || die "envsubst not found (apt-get install gettext-base)"
    if [ "$command" = render ]; then
      # The files `up` would use, into --out DIR (conf/...), with paths under DIR.
      [ -n "$out" ] || die "usage: lab.sh render vrrp|ecmp --out DIR [options]"
      dir=$out
      mkdir -p "$dir/conf" "$dir/logs"
      render_all
      exit 0
    fi
    for tool in ip curl "$bin/bascule" "$bin/bascule-backend"; do
      command -v "$tool" >/dev/null || die "$tool not found"
    done
    if [ "$mode" = vrrp ]; then
      command -v keepalived >/dev/null || die "keepalived not found (apt-get install keepalived)"
      [ "$second_chance" = no ] || command -v nft >/dev/null || die "nft not found (apt-get install nftables)"
    else
      command -v bird >/dev/null && command -v birdc >/dev/null || die "bird not found (apt-get install bird2)"
    fi
    up
    ;;
  down)
    [ "${1:-}" = --id ] && { id=$2; shift 2; }
    if [ -n "$id" ]; then
      remove_lab "$id"
      log "removed $id"
    else
      # Every lab whose `up` is gone (default ids are bsc<pid of up>).
      for stale in $(ip netns list | awk '{print $1}' | sed -nE 's/^(bsc[0-9]+)-.*/\1/p' | sort -u); do
        owner=${stale#bsc}
        if [ -f "$(state_dir "$stale")/owner" ]; then owner=$(cat "$(state_dir "$stale")/owner"); fi
        if ! alive "$owner"; then remove_lab "$stale"; log "removed stale $stale"; fi
      done
    fi
    ;;
  exec|signal|start|ctl|clients|vip|route)
    if [ "${1:-}" = --id ]; then id=$2; shift 2; fi
    require_id
    dir=$(state_dir "$id")
    case "$command" in
      exec)
        node=$1; shift
        # exec: signals sent to this script reach the command itself.
        exec ip netns exec "$id-$node" "$@"
        ;;
      signal)
        node=$1 name=$2 sig=${3:-TERM}
        [ -f "$dir/pids/$node.$name" ] || die "no process $name on $node"
        pid=$(cat "$dir/pids/$node.$name")
        # Only while that pid is still in the node's namespace: once the process is gone, the
        # number may belong to someone else.
        [ "$(ip netns identify "$pid" 2>/dev/null)" = "$id-$node" ] || die "$name on $node is not running"
        kill -s "$sig" "$pid"
        ;;
      start)
        node=$1 name=$2
        [ -f "$dir/cmds/$node.$name" ] || die "no process $name on $node"
        eval "set -- $(cat "$dir/cmds/$node.$name")"
        detach=yes launch "$node" "$name" "$@"
        ;;
      ctl)
        node=$1; shift
        exec ip netns exec "$id-$node" "$(cat "$dir/bin")/bascule" ctl "$@" --admin "$ADMIN"
        ;;
      clients)
        exec ip netns exec "$id-cl" python3 "$here/clients.py" "$@"
        ;;
      vip)
        holder=none
        for ns in $(namespaces_of "$id"); do
          node=${ns#"$id-"}
          [[ "$node" == n* ]] && vip_on "$node" 2>/dev/null && holder=$node
        done
        echo "$holder"
        ;;
      route)
        route_of "${1:-6}"
        ;;
    esac
    ;;
  *)
    sed -n '2,36p' "$0"
    [ -z "$command" ] || [ "$command" = help ] || [ "$command" = -h ] || exit 2
    ;;
esac
