#!/usr/bin/env bash
# Runs the same `socfeed bench` scenarios against two server builds, back to back on one machine,
# with the same load generator (target/release/socfeed, or $GEN), and prints them side by side:
# before and after a change, in one run.
#
#   bench/ab.sh BEFORE_BINARY AFTER_BINARY          # e.g. a build of the previous commit, target/release/socfeed
#   TRANSPORTS="ws sse" SCENARIOS="latency cpu idle" ROUNDS=2 bench/ab.sh A B
#
# Scenarios (1,000 subscribers unless said): latency = 100 ev/s, cpu = 500 ev/s (one event per
# publish), cpu-batch = 500 ev/s in batches of 10, idle = 10,000 idle connections (RSS per
# connection). Each run spawns a fresh server on CPU 0 with the generator on CPU 1. ROUNDS
# repeats every pair; odd rounds run A first, even rounds B first (the second run of a pair
# tends to be a little slower: order is a bias of its own). JSON reports go to $OUT
# (default target/ab).
set -euo pipefail
A=${1:?usage: bench/ab.sh BEFORE_BINARY AFTER_BINARY}
B=${2:?usage: bench/ab.sh BEFORE_BINARY AFTER_BINARY}
TRANSPORTS=${TRANSPORTS:-"ws sse"}
SCENARIOS=${SCENARIOS:-"latency cpu idle"}
ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-8s}
OUT=${OUT:-target/ab}
GEN=${GEN:-target/release/socfeed}
mkdir -p "$OUT"

args() {
    case $1 in
        latency) echo "--subscribers 1000 --rate 100 --duration $DURATION" ;;
        cpu) echo "--subscribers 1000 --rate 500 --duration $DURATION" ;;
        cpu-batch) echo "--subscribers 1000 --rate 500 --batch 10 --duration $DURATION" ;;
        idle) echo "--subscribers 10000 --ramp 5000 --rate 1 --warmup 0s --duration 2s" ;;
        *) echo "unknown scenario $1" >&2; exit 2 ;;
    esac
}

for round in $(seq 1 "$ROUNDS"); do
    for scenario in $SCENARIOS; do
        for transport in $TRANSPORTS; do
            order="A B"; [ $((round % 2)) -eq 0 ] && order="B A"
            for side in $order; do
                bin=$A; [ "$side" = B ] && bin=$B
                file="$OUT/$scenario.$transport.$side.$round.json"
                echo "ab: round $round, $scenario, $transport, $side" >&2
                # shellcheck disable=SC2046
                taskset -c 1 "$GEN" bench --json --spawn --server-bin "$bin" --server-cpu 0 --transport "$transport" \
                    $(args "$scenario") >"$file" || echo "ab: $file failed" >&2
            done
        done
    done
done

python3 - "$OUT" "$ROUNDS" "$SCENARIOS" "$TRANSPORTS" <<'PY'
import json, sys
out, rounds, scenarios, transports = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
def load(s, t, side, r):
    try:
        return json.load(open(f"{out}/{s}.{t}.{side}.{r}.json"))
    except Exception:
        return None
def fig(d, s):
    if d is None:
        return "failed"
    lat, srv, dl = d["latency_ms"], d["server"], d["deliveries"]
    if d["connections"]["failed"]:
        return f'{d["connections"]["failed"]} connections failed: {d["connections"]["first_failure"][:80]}'
    loss = f'{dl["lost"]}/{dl["duplicates"]}'
    if s == "idle":
        return f'{srv["rss_per_connection_bytes"]:,.0f} B/conn, {d["connections"]["established"]} up, loss/dup {loss}'
    return (f'p50 {lat["p50"]:.2f} ms, p99 {lat["p99"]:.2f} ms, '
            f'{srv["cpu_us_per_delivery"]:.2f} µs/delivery, loss/dup {loss}')
print("| scenario | transport | round | before | after |")
print("| --- | --- | --- | --- | --- |")
for s in scenarios:
    for t in transports:
        for r in range(1, rounds + 1):
            print(f"| {s} | {t} | {r} | {fig(load(s, t, 'A', r), s)} | {fig(load(s, t, 'B', r), s)} |")
PY
