"use strict";
// Helpers for the browser tests: the real `socfeed` binary, tokens, publishing, and Debian's
// Chromium driven by playwright-core. Nothing here downloads a browser.

const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const SOCFEED_BIN = path.resolve(REPO_ROOT, process.env.SOCFEED_BIN || "target/debug/socfeed");
const CHROMIUM = process.env.SOCFEED_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(REPO_ROOT, "target", "browser");
const WAIT = 15_000; // generous upper bound for anything the page should do; never asserted on

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

fs.mkdirSync(ARTIFACTS, { recursive: true });

/** The environment for the binary: no SOCFEED_* setting from the caller leaks in. */
function serverEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SOCFEED_")) env[k] = v;
  env.SOCFEED_LOG_LEVEL = "info";
  return env;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A socfeed server on 127.0.0.1 with its own temporary data dir and HS256 secret.
 * `start()` binds port 0 the first time and the same port on every later start.
 */
class Server {
  constructor(name) {
    this.name = name;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `socfeed-browser-${name}-`));
    this.secret = `browser-test-secret-${process.pid}-${name}-0123456789abcdef`;
    this.port = 0;
    this.child = null;
    this.logPath = path.join(ARTIFACTS, `${name}-server.log`);
    fs.writeFileSync(this.logPath, "");
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!fs.existsSync(SOCFEED_BIN)) {
      throw new Error(`${SOCFEED_BIN} not found: run \`cargo build -p socfeed-cli\` or set SOCFEED_BIN`);
    }
    // Rebinding the same port right after a stop can race the kernel; retry a few times.
    let lastError;
    for (let i = 0; i < 20; i++) {
      try {
        return await this.#spawnOnce();
      } catch (e) {
        lastError = e;
        if (this.port === 0) break;
        await sleep(250);
      }
    }
    throw lastError;
  }

  #spawnOnce() {
    const args = [
      "serve",
      "--bind", `127.0.0.1:${this.port}`,
      "--data-dir", this.dataDir,
      "--jwt-secret", this.secret,
      "--heartbeat-interval", "2s",
    ];
    const child = spawn(SOCFEED_BIN, args, { env: serverEnv(), stdio: ["ignore", "ignore", "pipe"] });
    const log = fs.createWriteStream(this.logPath, { flags: "a" });
    log.write(`---- start ${new Date().toISOString()} ${args.join(" ")}\n`);
    child.stderr.pipe(log);
    return new Promise((resolve, reject) => {
      let buffered = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`server did not report its address within ${WAIT} ms (see ${this.logPath})`));
      }, WAIT);
      const onData = (chunk) => {
        buffered += chunk.toString("utf8");
        const m = /addr=127\.0\.0\.1:(\d+)/.exec(buffered);
        if (!m) return;
        clearTimeout(timer);
        child.stderr.off("data", onData);
        child.off("exit", onExit);
        this.port = Number(m[1]);
        this.child = child;
        this.exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
        resolve(this);
      };
      const onExit = (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited before listening (code ${code}, signal ${signal}):\n${buffered}`));
      };
      child.stderr.on("data", onData);
      child.once("exit", onExit);
    });
  }

  /** SIGTERM, as an operator would: sessions are closed with 1001 and the log is flushed. */
  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    let timer;
    const timeout = new Promise((resolve) => (timer = setTimeout(resolve, WAIT, null)));
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === null) {
      child.kill("SIGKILL");
      await this.exited;
      throw new Error(`server did not exit within ${WAIT} ms of SIGTERM`);
    }
    return result;
  }

  /** Empties the data dir of a stopped server: its next start begins a new history. */
  wipe() {
    if (this.child) throw new Error("wipe() needs a stopped server");
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.mkdirSync(this.dataDir);
  }

  /** Stops the server if it is running and removes its data dir. */
  async dispose() {
    try {
      await this.stop();
    } finally {
      fs.rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  /** A token signed with this server's secret, minted by `socfeed token`. */
  token({ tenant = "acme", roles = "subscriber,publisher" } = {}) {
    const out = execFileSync(
      SOCFEED_BIN,
      ["token", "--tenant", tenant, "--roles", roles, "--jwt-secret", this.secret, "--data-dir", this.dataDir],
      { env: serverEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
    const token = out.trim();
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw new Error(`unexpected token output: ${out}`);
    return token;
  }

  /** POST /v1/events with one event or an array; returns the reply's `events` ([{id, seq, tenant_id}]). */
  async publish(token, events) {
    const res = await fetch(`${this.origin}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(events),
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`publish: HTTP ${res.status}: ${text}`);
    return JSON.parse(text).events;
  }
}

/** Launches Debian's Chromium; playwright-core gives it a fresh temporary profile. */
function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * A fresh page that records every value of `document.body.dataset.status` in
 * `window.__statusLog`, and collects uncaught page errors in `pageErrors`.
 */
async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.pageErrors = [];
  page.on("pageerror", (e) => page.pageErrors.push(String(e && e.stack ? e.stack : e)));
  await page.addInitScript(() => {
    window.__statusLog = [];
    new MutationObserver(() => {
      const s = document.body && document.body.dataset.status;
      if (s && window.__statusLog[window.__statusLog.length - 1] !== s) window.__statusLog.push(s);
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
  });
  return page;
}

/** Waits until the page's status is `status`. */
function waitForStatus(page, status) {
  return page.waitForFunction((s) => document.body.dataset.status === s, status, { timeout: WAIT });
}

/** The rows of the feed table, top to bottom. */
function rowsOf(page) {
  return page.$$eval("#events tr.event", (trs) =>
    trs.map((tr) => {
      const cells = [...tr.children].map((td) => td.textContent);
      const badge = tr.querySelector(".sev");
      return {
        seq: Number(tr.dataset.seq),
        type: cells[2],
        title: cells[4],
        severity: badge ? badge.textContent : null,
        severityClass: badge ? badge.className : null,
      };
    }),
  );
}

/** Waits until the table shows exactly the rows with these seqs (any order). */
function waitForSeqs(page, seqs) {
  const want = [...seqs].sort((a, b) => a - b);
  return page.waitForFunction(
    (want) => {
      const got = [...document.querySelectorAll("#events tr.event")].map((tr) => Number(tr.dataset.seq));
      got.sort((a, b) => a - b);
      return got.length === want.length && got.every((s, i) => s === want[i]);
    },
    want,
    { timeout: WAIT },
  );
}

/** Removes the evidence an earlier failed run of `name` left. */
function clearEvidence(name) {
  for (const ext of ["png", "html"]) fs.rmSync(path.join(ARTIFACTS, `${name}-failure.${ext}`), { force: true });
}

/** On failure, keep a screenshot and the page's HTML next to the server logs. */
async function keepEvidence(page, name) {
  try {
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failure.png`), fullPage: true });
    fs.writeFileSync(path.join(ARTIFACTS, `${name}-failure.html`), await page.content());
  } catch {
    // the page may already be gone
  }
}

module.exports = {
  ARTIFACTS,
  WAIT,
  Server,
  launchBrowser,
  newPage,
  waitForStatus,
  waitForSeqs,
  rowsOf,
  keepEvidence,
  clearEvidence,
  sleep,
};
