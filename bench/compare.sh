#!/usr/bin/env bash
# Side by side: socfeed and nginx + nchan (one worker), the same scenarios in one run, so that the
# ratios hold even on a noisy machine. Servers run on CPU 0, the load generator (`socfeed bench`)
# on CPU 1. Installs nginx and Debian's libnginx-mod-nchan when they are missing.
#
#   bench/compare.sh                 # every scenario, 10 s each (about 6 minutes)
#   DURATION=5s bench/compare.sh     # shorter windows
#   SCENARIOS="latency cpu" bench/compare.sh
#
# Each run's JSON report goes to $OUT (default target/compare/<time>/); summary.md there holds
# the table with the ratios.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
SCENARIOS=${SCENARIOS:-"latency cpu open max idle fdmax ingest"}
OUT=${OUT:-$ROOT/target/compare/$(date +%Y%m%d-%H%M%S)}
NCHAN_PORT=${NCHAN_PORT:-18090}
SERVER_CPU=0
GEN_CPU=1
mkdir -p "$OUT"

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
    echo "compare: installing nginx and libnginx-mod-nchan" >&2
    need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx-light libnginx-mod-nchan >/dev/null
fi
# The package's own instance is not used; only ours, on its own port and directory.

cargo build --release -p socfeed-cli >&2
SOCFEED=$ROOT/target/release/socfeed

ulimit -n "$(ulimit -Hn)"
echo "compare: fd limit $(ulimit -n), $(nproc) CPUs, output in $OUT" >&2

NGINX_DIR=$(mktemp -d)
nginx_stop() {
    if [ -f "$NGINX_DIR/nginx.pid" ]; then
        kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
        sleep 0.5
    fi
}
trap 'nginx_stop; rm -rf "$NGINX_DIR"' EXIT

# A fresh nginx for each run, so its memory and CPU start from the same place as socfeed's.
nginx_start() {
    nginx_stop
    rm -f "$NGINX_DIR/nginx.pid"
    sed -e "s|@PORT@|$NCHAN_PORT|" -e "s|@DIR@|$NGINX_DIR|g" bench/nchan.conf.in >"$NGINX_DIR/nginx.conf"
    taskset -c "$SERVER_CPU" nginx -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log"
    for _ in $(seq 50); do
        [ -s "$NGINX_DIR/nginx.pid" ] && curl -fsS -o /dev/null -X POST -d '{}' \
            "http://127.0.0.1:$NCHAN_PORT/pub/ready" 2>/dev/null && break
        sleep 0.1
    done
    NGINX_WORKER=$(pgrep -P "$(cat "$NGINX_DIR/nginx.pid")" | head -1)
    [ -n "$NGINX_WORKER" ] || { echo "compare: nginx did not start" >&2; cat "$NGINX_DIR/error.log" >&2; exit 1; }
}

# run NAME SERVER ARGS... : one `socfeed bench` run, its JSON in $OUT/NAME.SERVER.json
run() {
    local name=$1 server=$2
    shift 2
    local file="$OUT/$name.$server.json"
    echo "compare: $name on $server: $*" >&2
    if [ "$server" = nchan ]; then
        nginx_start
        taskset -c "$GEN_CPU" "$SOCFEED" bench --json --transport nchan \
            --url "http://127.0.0.1:$NCHAN_PORT" --server-pid "$NGINX_WORKER" "$@" >"$file" || true
        nginx_stop
    else
        taskset -c "$GEN_CPU" "$SOCFEED" bench --json --spawn --server-cpu "$SERVER_CPU" "$@" >"$file" || true
    fi
    [ -s "$file" ] || echo "compare: $name on $server produced no report" >&2
}

for scenario in $SCENARIOS; do
    case $scenario in
    latency) # publish→deliver latency, 1,000 subscribers × 100 events/s, one event per publish
        run latency nchan --subscribers 1000 --rate 100 --duration "$DURATION"
        run latency socfeed --subscribers 1000 --rate 100 --duration "$DURATION"
        run latency socfeed-memory --subscribers 1000 --rate 100 --duration "$DURATION" --log memory
        ;;
    cpu) # server CPU per delivery, 1,000 subscribers × 500 events/s, one event per publish
        run cpu nchan --subscribers 1000 --rate 500 --duration "$DURATION"
        run cpu socfeed --subscribers 1000 --rate 500 --duration "$DURATION"
        ;;
    open) # 1,000 subscribers × 1,000 events/s: a million deliveries a second, open loop
        run open nchan --subscribers 1000 --rate 1000 --duration "$DURATION"
        run open socfeed --subscribers 1000 --rate 1000 --duration "$DURATION"
        ;;
    max) # closed loop: the next publish as soon as the previous ones are acknowledged
        run max nchan --subscribers 1000 --max --batch 1 --concurrency 4 --duration "$DURATION"
        run max socfeed --subscribers 1000 --max --batch 1 --concurrency 4 --duration "$DURATION"
        run max-batch socfeed --subscribers 1000 --max --batch 100 --duration "$DURATION"
        ;;
    idle) # memory per subscribed, idle WebSocket at 10,000 connections
        run idle nchan --subscribers 10000 --ramp 5000 --rate 1 --warmup 0s --duration 2s
        run idle socfeed --subscribers 10000 --ramp 5000 --rate 1 --warmup 0s --duration 2s
        ;;
    fdmax) # as many connections as one process may open (the fd hard limit, minus a margin)
        local_max=$(($(ulimit -Hn) - 100))
        run fdmax nchan --subscribers "$local_max" --ramp 5000 --rate 1 --warmup 0s --duration 2s
        run fdmax socfeed --subscribers "$local_max" --ramp 5000 --rate 1 --warmup 0s --duration 2s
        ;;
    ingest) # durable publish ingest (embedded log), no subscribers
        run ingest-batch socfeed --subscribers 0 --max --batch 100 --concurrency 16 --duration "$DURATION"
        run ingest-single socfeed --subscribers 0 --max --batch 1 --duration "$DURATION"
        ;;
    *) echo "compare: unknown scenario $scenario" >&2; exit 2 ;;
    esac
done

python3 bench/summarize.py "$OUT" | tee "$OUT/summary.md"
