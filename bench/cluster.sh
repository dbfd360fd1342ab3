#!/usr/bin/env bash
# Cluster mode on Redis next to the embedded engine, in one run: 1,000 subscribers at 100 and
# 1,000 events/s, each rate against (a) one node on the embedded log, (b) one node on Redis,
# (c) three nodes on the same Redis (subscribers spread over them, publishing to node 0).
# Starts its own redis-server (free port, temporary directory, AOF with appendfsync always, no
# RDB snapshots; killed at exit); never the machine's shared Redis. Builds nothing: it runs
# target/release/socfeed, or $BIN.
#
#   bench/cluster.sh
#   DURATION=5s RATES="100" NODES="1 3" bench/cluster.sh
#
# Servers and redis-server run on CPU 0, the load generator on CPU 1 (on a 2-CPU machine the
# nodes and Redis share one core). Each run's JSON report goes to $OUT (default
# target/cluster/<time>/); the markdown table is printed and written to $OUT/summary.md.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/socfeed}
DURATION=${DURATION:-10s}
RATES=${RATES:-"100 1000"}
NODES=${NODES:-"1 3"}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
OUT=${OUT:-target/cluster/$(date +%Y%m%d-%H%M%S)}
SERVER_CPU=0
GEN_CPU=1
[ -x "$BIN" ] || { echo "cluster: no $BIN (cargo build --release -p socfeed-cli, or set BIN)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "cluster: redis-server is not installed" >&2; exit 2; }
mkdir -p "$OUT"

REDIS_DIR=$(mktemp -d)
REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
    --appendonly yes --appendfsync always --save "" --logfile "$REDIS_DIR/redis.log" &
REDIS_PID=$!
redis_stop() {
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    rm -rf "$REDIS_DIR"
}
trap redis_stop EXIT
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then break; fi
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null || { echo "cluster: redis-server did not come up" >&2; exit 1; }
REDIS=redis://127.0.0.1:$REDIS_PORT
ulimit -n "$(ulimit -Hn)"
echo "cluster: redis-server pid $REDIS_PID on port $REDIS_PORT, $(nproc) CPUs, output in $OUT" >&2

run() { # NAME BENCH-ARGS...
    local name=$1
    shift
    echo "cluster: $name" >&2
    taskset -c "$GEN_CPU" "$BIN" bench --json --spawn --server-cpu "$SERVER_CPU" \
        --subscribers "$SUBSCRIBERS" --duration "$DURATION" "$@" >"$OUT/$name.json" ||
        echo "cluster: $name failed" >&2
}

for rate in $RATES; do
    # A tenant per run: the feed on Redis outlives the nodes, and each run starts on its own.
    run "embedded.$rate" --rate "$rate" --tenant "embedded-$rate"
    for nodes in $NODES; do
        run "redis.$nodes.$rate" --rate "$rate" --engine "$REDIS" --nodes "$nodes" \
            --engine-pid "$REDIS_PID" --tenant "redis-$nodes-$rate"
    done
done

python3 - "$OUT" "$RATES" "$NODES" <<'PY' | tee "$OUT/summary.md"
import json, sys
out, rates, nodes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def load(name):
    try:
        return json.load(open(f"{out}/{name}.json"))
    except Exception:
        return None
def ms(x):
    return "—" if x is None else f"{x:.2f}"
print("| rate | engine | zero-loss deliveries/s | p50 / p99 delivery | server fan-out p50 / p99 (≤) | server CPU per delivery | Redis CPU |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for rate in rates:
    rows = [("embedded", "embedded, 1 node", load(f"embedded.{rate}"))]
    rows += [(n, f"Redis, {n} node{'s' if n != '1' else ''}", load(f"redis.{n}.{rate}")) for n in nodes]
    for _, label, d in rows:
        if d is None:
            print(f"| {rate} ev/s | {label} | failed | | | | |")
            continue
        dl = d["deliveries"]
        clean = dl["lost"] == 0 and dl["duplicates"] == 0 and d["connections"]["failed"] == 0
        rate_cell = f"{dl['per_s']:,.0f}" if clean else f"lost {dl['lost']}, dup {dl['duplicates']}, failed {d['connections']['failed']}"
        lat = d["latency_ms"]
        f = d.get("server_fanout_ms") or {}
        srv = d.get("server") or {}
        cpu = srv.get("cpu_us_per_delivery")
        eng = d.get("engine")
        if eng and eng.get("cpu_s") is not None:
            per = eng.get("cpu_us_per_event")
            redis = f"{eng['cpu_share'] * 100:.1f}% of a core, {per:.0f} µs per event" if per else f"{eng['cpu_share'] * 100:.1f}% of a core"
        else:
            redis = "—"
        print(f"| {rate} ev/s | {label} | {rate_cell} | {ms(lat['p50'])} / {ms(lat['p99'])} ms "
              f"| {ms(f.get('p50_at_most'))} / {ms(f.get('p99_at_most'))} ms "
              f"| {'—' if cpu is None else f'{cpu:.2f} µs'} | {redis} |")
PY
