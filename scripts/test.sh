#!/usr/bin/env bash
# Runs every test socfeed has. Usage: scripts/test.sh
# Needs only a Rust toolchain; anything else the tests use is installed or started here.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace) =="
mkdir -p target
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.txt
