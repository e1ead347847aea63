# Shared by callgrind.sh, cpu.sh and idle-memory.sh: a work directory cleaned up on exit, free ports,
# the fixed-count client, the nginx backend, and one proxy at a time (bascule, a saved
# bascule binary as "baseline", haproxy, or the sockmap-relay.c experiment), each with one worker.
#
# Expects: $here (this directory), $bin (bascule), optionally $baseline (another bascule
# binary), $out (keep the work directory there), and the array `profiler` (a command prefix
# for the proxy, empty for none).

# The release bascule to measure: $bin when given, else built here (unless --no-build).
resolve_bin() {
    if [ -z "$bin" ]; then
        if [ "$build" = 1 ]; then (cd "$root" && swift build -c release --product bascule >&2); fi
        bin="$(cd "$root" && swift build -c release --show-bin-path)/bascule"
    fi
    [ -x "$bin" ] || { echo "no bascule binary at $bin" >&2; exit 2; }
}

setup_work() {
    work="$(mktemp -d /tmp/bascule-profile.XXXXXX)"
    pids=()
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "${out:-}" ]; then mkdir -p "$out" && cp -r "$work"/. "$out"/; fi
    rm -rf "$work"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # port, pid, name
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "$3 exited:" >&2; cat "$work/$3.err" >&2; exit 1; }
        sleep 0.1
    done
    echo "$3 never listened on $1" >&2; exit 1
}

build_client() {
    cc -O2 -o "$work/fixedclient" "$here/fixedclient.c"
}

client() { "$work/fixedclient" "$@"; }

# nginx, one worker, as in Benchmarks/e2e: GET /small answers a 100-byte body, GET /1m a 1 MiB
# file (sendfile). Sets backend_port.
start_backend() {
    local tmp_paths="" t
    backend_port=$(free_port)
    mkdir -p "$work/nginx"
    for t in client_body proxy fastcgi uwsgi scgi; do tmp_paths+="    ${t}_temp_path $work/nginx/${t}_temp;"$'\n'; done
    cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $(ulimit -Hn);
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 32768; multi_accept on; }
http {
$tmp_paths    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$backend_port backlog=4096;
        location = /small { return 200 "$(printf 'x%.0s' $(seq 1 99))\n"; }
        location = /1m { root $work/nginx/www; }
    }
}
CONF
    mkdir -p "$work/nginx/www"
    head -c 1048576 /dev/urandom >"$work/nginx/www/1m"
    # nginx's workers drop root; mktemp made the work directory private.
    chmod 755 "$work" "$work/nginx" "$work/nginx/www" && chmod 644 "$work/nginx/www/1m"
    nginx -e stderr -p "$work/nginx" -c "$work/nginx/nginx.conf" 2>"$work/nginx.err" &
    pids+=($!)
    wait_port "$backend_port" "${pids[-1]}" nginx
}

start_proxy() {  # name (bascule, baseline, haproxy, sockmap), port; sets proxy_pid
    local name=$1 port=$2
    local program=$bin
    [ "$name" = baseline ] && program=$baseline
    case "$name" in
        bascule|baseline)
            cat >"$work/bascule.json" <<CONF
{ "workers": 1, "admin": { "listen": "127.0.0.1:$(free_port)" },
  "services": [ { "name": "bench", "listen": "127.0.0.1:$port", "strategy": "round-robin",
                  "healthCheck": { "type": "none" },
                  "backends": [ { "name": "nginx", "address": "127.0.0.1:$backend_port" } ] } ] }
CONF
            "${profiler[@]}" "$program" run --config "$work/bascule.json" >"$work/$name.out" 2>"$work/$name.err" &
            ;;
        haproxy)
            # As in Benchmarks/e2e, but maxconn fitted to the descriptor limit (HAProxy wants
            # two descriptors per connection and refuses to start without them).
            local maxconn=$(( ($(ulimit -Hn) - 200) / 2 ))
            cat >"$work/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn $maxconn
defaults
    mode tcp
    maxconn $maxconn
    timeout connect 5s
    timeout client 300s
    timeout server 300s
listen bench
    bind 127.0.0.1:$port backlog 4096
    server nginx 127.0.0.1:$backend_port
CONF
            "${profiler[@]}" haproxy -db -f "$work/haproxy.cfg" >"$work/$name.out" 2>"$work/$name.err" &
            ;;
        sockmap)  # the in-kernel splicing experiment (sockmap-relay.c), keep-alive only
            [ -x "$work/sockmap-relay" ] || cc -O2 -o "$work/sockmap-relay" "$here/sockmap-relay.c"
            "${profiler[@]}" "$work/sockmap-relay" "$port" "$backend_port" >"$work/$name.out" 2>"$work/$name.err" &
            ;;
    esac
    proxy_pid=$!
    pids+=("$proxy_pid")
    wait_port "$port" "$proxy_pid" "$name"
}

stop_proxy() {
    # Not SIGINT: a background job of a non-interactive shell starts with SIGINT ignored.
    kill -TERM "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
}
