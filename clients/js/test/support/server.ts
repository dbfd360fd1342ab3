// The real `socfeed` binary for the tests: started on 127.0.0.1 with its own data dir and HS256
// secret, stopped with SIGTERM, restarted on the same port and data dir; tokens minted by
// `socfeed token`, events published over HTTP.

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PACKAGE_ROOT = path.resolve(HERE, "..", "..");
export const REPO_ROOT = path.resolve(PACKAGE_ROOT, "..", "..");
export const SOCFEED_BIN = process.env.SOCFEED_BIN
  ? path.resolve(REPO_ROOT, process.env.SOCFEED_BIN)
  : path.resolve(PACKAGE_ROOT, "../../target/debug/socfeed");
export const LOGS = path.join(REPO_ROOT, "target", "js-client");
/** Upper bound for anything a test waits for; never asserted on. */
export const WAIT = 20_000;

mkdirSync(LOGS, { recursive: true });

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The environment for the binary: no SOCFEED_* setting from the caller leaks in. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SOCFEED_")) env[k] = v;
  env.SOCFEED_LOG_LEVEL = "info";
  return env;
}

export interface ServerOptions {
  /** `--heartbeat-interval` (default 30s). */
  heartbeat?: string;
  /** More `serve` flags. */
  args?: string[];
}

export interface PublishedEvent {
  id: string;
  seq: number;
  tenant_id: string;
  duplicate?: boolean;
}

export interface NewEvent {
  type: string;
  payload: Record<string, unknown>;
  id?: string;
}

let counter = 0;

export class Server {
  readonly name: string;
  readonly dataDir: string;
  readonly secret: string;
  readonly logPath: string;
  port = 0;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();

  constructor(name: string, readonly opts: ServerOptions = {}) {
    counter += 1;
    this.name = `${name}-${process.pid}-${counter}`;
    this.dataDir = mkdtempSync(path.join(tmpdir(), `socfeed-js-${name}-`));
    this.secret = `js-client-test-secret-${this.name}-0123456789abcdef`;
    this.logPath = path.join(LOGS, `${this.name}.log`);
    writeFileSync(this.logPath, "");
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  async start(): Promise<this> {
    if (!existsSync(SOCFEED_BIN)) {
      throw new Error(`${SOCFEED_BIN} not found: run \`cargo build -p socfeed-cli\` or set SOCFEED_BIN`);
    }
    // Rebinding the same port right after a stop can race the kernel; retry a few times.
    let last: unknown;
    for (let i = 0; i < 40; i++) {
      try {
        await this.#spawnOnce();
        return this;
      } catch (e) {
        last = e;
        if (this.port === 0) break;
        await sleep(250);
      }
    }
    throw last;
  }

  #spawnOnce(): Promise<void> {
    const args = [
      "serve",
      "--bind",
      `127.0.0.1:${this.port}`,
      "--data-dir",
      this.dataDir,
      "--jwt-secret",
      this.secret,
      "--heartbeat-interval",
      this.opts.heartbeat ?? "30s",
      ...(this.opts.args ?? []),
    ];
    const child = spawn(SOCFEED_BIN, args, { env: serverEnv(), stdio: ["ignore", "ignore", "pipe"] });
    const log = createWriteStream(this.logPath, { flags: "a" });
    log.write(`---- start ${new Date().toISOString()} ${args.join(" ")}\n`);
    child.stderr!.pipe(log);
    return new Promise((resolve, reject) => {
      let buffered = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`server did not report its address within ${WAIT} ms (see ${this.logPath})`));
      }, WAIT);
      const onData = (chunk: Buffer): void => {
        buffered += chunk.toString("utf8");
        const m = /addr=127\.0\.0\.1:(\d+)/.exec(buffered);
        if (!m) return;
        clearTimeout(timer);
        child.stderr!.off("data", onData);
        child.off("exit", onExit);
        this.port = Number(m[1]);
        this.#child = child;
        this.#exited = new Promise((res) => {
          if (child.exitCode !== null || child.signalCode !== null) res();
          else child.once("exit", () => res());
        });
        resolve();
      };
      const onExit = (code: number | null, signal: string | null): void => {
        clearTimeout(timer);
        reject(new Error(`server exited before listening (code ${code}, signal ${signal}):\n${buffered}`));
      };
      child.stderr!.on("data", onData);
      child.once("exit", onExit);
    });
  }

  /** SIGTERM, as an operator would: sessions are closed with 1001 and the log is flushed. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), WAIT))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      child.kill("SIGKILL");
      await this.#exited;
      throw new Error(`server did not exit within ${WAIT} ms of SIGTERM`);
    }
  }

  /** Empties the data dir of a stopped server: its next start begins a new history. */
  wipe(): void {
    if (this.#child) throw new Error("wipe() needs a stopped server");
    rmSync(this.dataDir, { recursive: true, force: true });
    mkdirSync(this.dataDir);
  }

  /** Stops the server if it is running and removes its data dir. */
  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  /** A token signed with this server's secret, minted by `socfeed token`. */
  token(opts: { tenant?: string; roles?: string; ttl?: string; channels?: string; sub?: string } = {}): string {
    const args = [
      "token",
      "--tenant",
      opts.tenant ?? "acme",
      "--roles",
      opts.roles ?? "subscriber,publisher",
      "--jwt-secret",
      this.secret,
      "--data-dir",
      this.dataDir,
    ];
    if (opts.ttl) args.push("--ttl", opts.ttl);
    if (opts.channels) args.push("--channels", opts.channels);
    if (opts.sub) args.push("--sub", opts.sub);
    const out = execFileSync(SOCFEED_BIN, args, { env: serverEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const token = out.trim();
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw new Error(`unexpected token output: ${out}`);
    return token;
  }

  /** POST /v1/events with a batch; returns the reply's `events`. Throws on anything but 202. */
  async publish(token: string, events: NewEvent[]): Promise<PublishedEvent[]> {
    const res = await fetch(`${this.origin}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(events),
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`publish: HTTP ${res.status}: ${text}`);
    return (JSON.parse(text) as { events: PublishedEvent[] }).events;
  }

  /** Publishes `n` events of `type` (one batch) and returns their seqs. */
  async publishN(token: string, type: string, n: number, extra: Record<string, unknown> = {}): Promise<number[]> {
    const events = Array.from({ length: n }, (_, i) => ({ type, payload: { i, severity: "high", ...extra } }));
    return (await this.publish(token, events)).map((e) => e.seq);
  }
}

/** `a..=b`. */
export function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}
