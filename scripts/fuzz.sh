#!/usr/bin/env bash
# Fuzzes socfeed's parsers with cargo fuzz (libFuzzer).
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 seconds, every target)
#
# Targets (fuzz/fuzz_targets/, each documents the invariants it asserts):
#   aisoc_client   socfeed_proto::aisoc::parse_client
#   govern_client  socfeed_proto::govern::parse_client
#   publish_body   socfeed_proto::publish::parse_body (first byte even: Json, odd: Ndjson)
#   filter_match   FilterFields::extract_raw / extract and Filters::matches
#   ws_frames      socfeed_proto::wsframe::Reader (the first byte picks where the input is split)
#   ijson_check    socfeed_proto::ijson::check (the first byte is the depth limit)
#   forwarded      socfeed_proto::forwarded (Forwarded / X-Forwarded-For and the client rule)
#
# Installs cargo-fuzz if it is missing (cargo install cargo-fuzz --locked), builds every target once,
# then runs each for the given time. Exits non-zero if any target crashes (a panic is a failed
# invariant), times out or runs out of memory; the input is then in fuzz/artifacts/<target>/
# (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>). A bug
# found this way gets fixed with a regression unit test beside the code, not a committed artifact.
#
# Not part of scripts/test.sh: CI time is limited. A smoke run is cheap once built (a first build
# takes a few minutes; later ones reuse fuzz/target/):  scripts/fuzz.sh 5
#
# Toolchain: only stable Rust is needed. cargo fuzz passes nightly-only flags (-Zsanitizer,
# -Cpasses=sancov), so the script sets RUSTC_BOOTSTRAP=1. AddressSanitizer works that way on
# stable; FUZZ_SANITIZER=none builds without it (faster, for a toolchain lacking the ASan runtime).
#
# Corpora: fuzz/seeds/<target>/ holds named, hand-written inputs (docs/protocol.md's examples and
# edge cases near the bugs fixed so far); fuzz/corpus/<target>/ is what fuzzing grew from them,
# minimised. Both are committed and only read. Each run writes new inputs to fuzz/target/corpus/<target>/.
# FUZZ_UPDATE_CORPUS=1 merges them back into fuzz/corpus/<target>/ and minimises it with
# `cargo fuzz cmin ... -- -set_cover_merge=1 -use_counters=0` (a small set covering every edge);
# keep the committed corpus small (a few hundred files per target at most).
#
# Other settings: FUZZ_DICT (default fuzz/dict/socfeed.dict), FUZZ_ARGS (more libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
# libFuzzer reads -max_total_time=0 as "no limit": require at least one second.
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$((10#$seconds))" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2
  exit 2
fi
seconds=$((10#$seconds))
all_targets=(aisoc_client govern_client publish_body filter_match ws_frames ijson_check forwarded)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
sanitizer="${FUZZ_SANITIZER:-address}"
dict="${FUZZ_DICT:-fuzz/dict/socfeed.dict}"
export RUSTC_BOOTSTRAP=1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked) =="
  cargo install cargo-fuzz --locked
fi

echo "== building fuzz targets (sanitizer: $sanitizer) =="
cargo fuzz build --sanitizer "$sanitizer"

mkdir -p fuzz/target/logs
failed=()
for t in "${targets[@]}"; do
  work="fuzz/target/corpus/$t"
  mkdir -p "$work" "fuzz/corpus/$t" "fuzz/seeds/$t"
  log="fuzz/target/logs/$t.log"
  echo "== $t: ${seconds}s =="
  # The first corpus directory receives new inputs; the committed ones are read only.
  # shellcheck disable=SC2086
  if cargo fuzz run --sanitizer "$sanitizer" "$t" "$work" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -dict="$dict" \
      -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    failed+=("$t")
    grep -E -A12 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$log" | head -40 || true
    grep -E "Test unit written to" "$log" || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  echo "$t: $result, ${runs:-?} runs, ${eps:-?} exec/s, ${cov:-cov: ?}, log $log"
  if [ "$result" = ok ] && [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ]; then
    cp -n "$work"/* "fuzz/corpus/$t/" 2>/dev/null || true
    # Keep a smallest set of inputs covering every edge (not every hit-count bucket).
    cargo fuzz cmin --sanitizer "$sanitizer" "$t" "fuzz/corpus/$t" -- -set_cover_merge=1 -use_counters=0 \
      >"fuzz/target/logs/$t.cmin.log" 2>&1
    echo "$t: corpus now $(find "fuzz/corpus/$t" -type f | wc -l) files, $(du -sh "fuzz/corpus/$t" | cut -f1)"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzzing passed: ${targets[*]}, ${seconds}s each"
