#!/usr/bin/env bash
# Runs every test socfeed has. Usage: scripts/test.sh
# Needs only a Rust toolchain; anything else the tests use is installed or started here.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace) =="
mkdir -p target
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.txt

# ---- browser tests (tests/browser) -------------------------------------------------------------
# The live feed page (GET /) in Debian's headless Chromium, driven by playwright-core from npm,
# against the real binary. Installs what is missing (chromium, node_modules), builds the binary.
echo "== browser tests (tests/browser) =="
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (apt-get)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
      >target/browser-apt.log 2>&1; then
    cat target/browser-apt.log; exit 1
  fi
fi
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed for the browser tests" >&2; exit 1; }
# npm ci only when node_modules is missing or older than the lockfile.
if [ ! tests/browser/node_modules/.package-lock.json -nt tests/browser/package-lock.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ -z "${SOCFEED_BIN:-}" ]; then
  cargo build -p socfeed-cli --locked --quiet
fi
node --test tests/browser/ 2>&1 | tee target/browser-test-output.txt
# ---- end of browser tests ----------------------------------------------------------------------
