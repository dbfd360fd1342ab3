#!/usr/bin/env bash
# Runs every test socfeed has. Usage: scripts/test.sh
# Needs only a Rust toolchain; anything else the tests use is installed or started here.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p target
# The Redis log's tests start private redis-servers (each on a free 127.0.0.1 port, never 6379);
# they need Debian's redis-server binary, installed here when it is missing.
if ! command -v redis-server >/dev/null; then
  echo "installing Debian's redis-server (apt-get)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  if ! { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
      >target/redis-apt.log 2>&1; then
    cat target/redis-apt.log; exit 1
  fi
fi

echo "== cargo test (workspace) =="
cargo test --workspace --locked --no-fail-fast 2>&1 | tee target/test-output.txt

# The fuzz targets (fuzz/, their own workspace, run by scripts/fuzz.sh) must keep compiling
# against the parsers they exercise.
echo "== fuzz targets compile (cargo check) =="
cargo check --manifest-path fuzz/Cargo.toml --locked --bins --quiet

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

# ---- JavaScript client (clients/js) ------------------------------------------------------------
# The TypeScript client for browsers and Node (clients/js): built with tsc, type-checked, and tested
# with vitest against the real binary (target/debug/socfeed, built above, or SOCFEED_BIN). Installs
# node_modules when missing or older than the lockfile. Prints one line on success, everything on
# failure (server logs in target/js-client/).
echo "== JavaScript client tests (clients/js) =="
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed for the JavaScript client tests" >&2; exit 1; }
if [ ! clients/js/node_modules/.package-lock.json -nt clients/js/package-lock.json ]; then
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ -z "${SOCFEED_BIN:-}" ] && [ ! -x target/debug/socfeed ]; then
  cargo build -p socfeed-cli --locked --quiet
fi
rm -f target/js-client-results.json
if ! (cd clients/js && npm run --silent build && npm run --silent typecheck \
      && npm test --silent -- --reporter=default --reporter=json --outputFile.json=../../target/js-client-results.json) \
      >target/js-client-test-output.txt 2>&1; then
  cat target/js-client-test-output.txt
  echo "JavaScript client tests failed (output above; server logs in target/js-client/)" >&2
  exit 1
fi
node -e 'const r = require(process.argv[1]);
  if (r.numTotalTests === 0) { console.error("vitest ran no test"); process.exit(1); }
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));' \
  "$PWD/target/js-client-results.json"
# ---- end of JavaScript client tests ------------------------------------------------------------
