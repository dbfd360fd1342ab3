// The feed client: connection after connection, with backoff between them, resuming from the
// last seq delivered, until the caller closes it or the server refuses its token.

import { DEFAULT_BACKOFF, Retry, type BackoffOptions } from "./backoff.js";
import { ALL, channelsOfTypes, isEventType, normaliseChannels } from "./channels.js";
import { aisocUrl, baseUrl, governUrl, sseUrl, ticketsUrl, type GovernCursor } from "./endpoint.js";
import { tenantOf } from "./jwt.js";
import { Resume, type ResumeSnapshot } from "./resume.js";
import { readSse, type FetchLike, type SseMessage } from "./sse.js";
import {
  chooseTransport,
  initialTransportState,
  recordAttempt,
  type TransportMode,
  type TransportPolicy,
  type TransportState,
} from "./transport.js";
import {
  SocFeedAuthError,
  type Dialect,
  type FeedGap,
  type FeedStatus,
  type GovernFilters,
  type SocFeedEvent,
  type TransportKind,
} from "./types.js";
import {
  AISOC_PONG,
  GOVERN_PONG,
  aisocSubscribe,
  cleanFilters,
  decodeAisoc,
  decodeGovern,
  governSubscribe,
  type Incoming,
} from "./wire.js";

/** Returns the token to connect with; called before every connection attempt. */
export type TokenProvider = () => string | Promise<string>;

/** The part of the WebSocket API the client uses (browsers' WebSocket, the `ws` package, …). */
export interface WebSocketLike {
  readonly readyState: number;
  /* eslint-disable @typescript-eslint/no-explicit-any */
  onopen: ((ev: any) => any) | null;
  onmessage: ((ev: any) => any) | null;
  onclose: ((ev: any) => any) | null;
  onerror: ((ev: any) => any) | null;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** How the token reaches the server on a WebSocket (SSE over fetch always uses `Authorization`). */
export type WebSocketAuth = "protocol" | "query" | "ticket";

export interface SocFeedOptions {
  /** The server: `https://host[:port][/prefix]` (or `ws(s)://`); default: the page's origin. */
  url?: string;
  /** `aisoc` (`/ws`, channels; the default) or `govern` (`/v1/soc/feed`, filters). */
  dialect?: Dialect;
  /** The token, or a hook called before each (re)connect that returns one. */
  token: string | TokenProvider;
  /** AiSOC channels (default: derived from `types`, else `all`). */
  channels?: readonly string[];
  /** GOVERN filters (sent as query parameters, so replays are filtered too). */
  filters?: GovernFilters;
  /**
   * Deliver only events of these types. AiSOC subscribes to their channels (unless `channels` is
   * given); GOVERN sends them as the `events` filter (unless `filters.events` is given).
   */
  types?: readonly string[] | null;
  /** Start after this seq, replaying what is retained (0: everything); default: live. */
  since?: number | null;
  /** The epoch `since` belongs to, if known (a mismatch is reported as a gap). */
  epoch?: string | null;
  /** `auto` (default): WebSocket, falling back to SSE; or one of them only. */
  transport?: TransportMode;
  /** WebSocket attempts in a row that never open before SSE is tried (default 3). */
  fallbackAfter?: number;
  /** How long (ms) SSE is kept after it worked where WebSocket did not (default 300 000). */
  wsRetryAfter?: number;
  /** How the token goes on a WebSocket: `protocol` (default; `Sec-WebSocket-Protocol: bearer, <jwt>`), `query` (`?token=`), `ticket` (`POST /v1/tickets`, then `?ticket=`). */
  auth?: WebSocketAuth;
  /** The reconnect schedule (default 500 ms doubling to 30 s, reset after 10 s up). */
  backoff?: Partial<BackoffOptions>;
  /** The server's heartbeat interval, ms: the connection is given up after two of silence (default 30 000). */
  heartbeatInterval?: number;
  /** How long the token hook, then the connect (WebSocket open / SSE response), may each take (default 10 000 ms). */
  connectTimeout?: number;
  /** The WebSocket implementation (default: the global `WebSocket`); in Node 20, `ws`. */
  WebSocketImpl?: WebSocketConstructor;
  /** The `fetch` used for SSE and tickets (default: the global one). */
  fetch?: FetchLike;
  /** Uniform random numbers in [0, 1) for the jitter (default `Math.random`). */
  random?: () => number;
  onEvent?: (event: SocFeedEvent) => void;
  onGap?: (gap: FeedGap) => void;
  onStatus?: (status: FeedStatus) => void;
  /** The feed stopped because the server refused the token (4001 / 4003 / 401 / 403). */
  onError?: (error: SocFeedAuthError) => void;
  /** A non-fatal `error` message from the server (the connection stays). */
  onWarning?: (warning: { code: string; message: string }) => void;
}

type Listeners = {
  event: (event: SocFeedEvent) => void;
  gap: (gap: FeedGap) => void;
  status: (status: FeedStatus) => void;
  error: (error: SocFeedAuthError) => void;
  warning: (warning: { code: string; message: string }) => void;
};

/** How one connection ended, and whether the feed goes on. */
type Ended =
  | { kind: "stopped" }
  | { kind: "token"; message: string }
  | { kind: "connect"; message: string }
  | { kind: "refused"; code: number; reason: string }
  | { kind: "closed"; code: number; reason: string }
  | { kind: "lost"; message: string }
  | { kind: "silent"; ms: number }
  /** The server's history was reset under our cursor: reconnect at once from the start. */
  | { kind: "reset" };

const CLOSE_REASONS: Record<number, string> = {
  1000: "normal closure",
  1001: "server shutting down",
  1005: "no status",
  1006: "abnormal closure",
  1009: "message too big",
  1011: "server error",
  4001: "unauthorized",
  4002: "heartbeat timeout",
  4003: "forbidden",
  4008: "slow consumer",
  4029: "too many connections or messages",
};

function describe(e: Ended): string {
  switch (e.kind) {
    case "stopped":
      return "closed by the client";
    case "token":
      return `fetching a token: ${e.message}`;
    case "connect":
      return `connecting: ${e.message}`;
    case "refused":
    case "closed":
      return `server closed the connection (${e.code} ${e.reason || CLOSE_REASONS[e.code] || "unknown"})`;
    case "lost":
      return `connection lost: ${e.message}`;
    case "silent":
      return `no message from the server for ${e.ms} ms`;
    case "reset":
      return "the server's event history was reset";
  }
}

/** A close code that stops the feed: the server refused the token or the rights. */
function isAuthCode(code: number): boolean {
  return code === 4001 || code === 4003 || code === 401 || code === 403;
}

interface Outcome {
  ended: Ended;
  /** The WebSocket opened / the SSE response arrived. */
  opened: boolean;
  /** When the server first answered (ms), if it did. */
  upSince: number | null;
  /** The token this attempt used. */
  token: string | null;
}

/** What one connection keeps while it is read. */
interface Link {
  transport: TransportKind;
  tenant: string | null;
  /** AiSOC over WebSocket: subscribed to `all`. */
  all: boolean;
  /** AiSOC over WebSocket: the `since` sent per channel, until its ack arrives. */
  asked: Map<string, number | null>;
  /** GOVERN / SSE: the cursor sent. */
  cursor: number | null;
  /** GOVERN WebSocket: inside a `feed.replay` split in parts. */
  inReplay: boolean;
  /** SSE: the streams it advances (it reads every stream in one seq order). */
  streams: string[];
  /** SSE: a seq at or below the cursor arrived once (history reset) and was reported. */
  resetSeen: boolean;
  /** The connection has ended: later messages of it are ignored. */
  finished: boolean;
  send: (text: string) => void;
  finish: (ended: Ended) => void;
  heard: () => void;
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: unknown }).cause;
    return cause instanceof Error && cause.message && cause.message !== e.message
      ? `${e.message} (${cause.message})`
      : e.message;
  }
  return String(e);
}

function messageText(data: unknown): string | null {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null;
}

/**
 * A subscription that outlives connections. Events are delivered once each and in seq order per
 * stream (a GOVERN feed is one stream; an AiSOC feed has one per channel, or one for `all`), with
 * gaps where the server could not fill a resume. See the package README.
 */
export class SocFeedClient {
  readonly dialect: Dialect;
  readonly #base: URL;
  readonly #opts: SocFeedOptions;
  readonly #channels: string[];
  readonly #filters: GovernFilters;
  readonly #types: Set<string> | null;
  readonly #backoff: BackoffOptions;
  readonly #heartbeat: number;
  readonly #connectTimeout: number;
  readonly #policy: TransportPolicy;
  readonly #WebSocket: WebSocketConstructor | undefined;
  readonly #fetch: FetchLike | undefined;
  readonly #random: () => number;
  readonly #resume: Resume;
  readonly #retry: Retry;
  readonly #listeners: { [K in keyof Listeners]: Set<Listeners[K]> } = {
    event: new Set(),
    gap: new Set(),
    status: new Set(),
    error: new Set(),
    warning: new Set(),
  };
  #transportState: TransportState = initialTransportState();
  #status: FeedStatus = {
    state: "connecting",
    transport: null,
    attempt: 0,
    retryIn: null,
    reason: null,
    error: null,
  };
  #error: SocFeedAuthError | null = null;
  #started = false;
  #closed = false;
  #startedAt = 0;
  #attempts = 0;
  /** A token the server refused with 4001; the provider is asked once for a different one. */
  #refusedToken: string | null = null;
  #stopCurrent: (() => Promise<void>) | null = null;
  #wake: (() => void) | null = null;
  #done: Promise<void> = Promise.resolve();
  /** Fails what is awaited during a connect (token hook, ticket) once the feed is closed. */
  readonly #onClose = new Set<() => void>();

  constructor(options: SocFeedOptions) {
    if (!options || (typeof options.token !== "string" && typeof options.token !== "function")) {
      throw new TypeError("`token` (a string or a function returning one) is required");
    }
    this.#opts = options;
    this.dialect = options.dialect ?? "aisoc";
    if (this.dialect !== "aisoc" && this.dialect !== "govern") {
      throw new TypeError(`unknown dialect ${JSON.stringify(this.dialect)}`);
    }
    this.#base = baseUrl(options.url);
    const types = options.types && options.types.length > 0 ? [...options.types] : null;
    for (const t of types ?? []) {
      if (!isEventType(t)) throw new TypeError(`invalid event type ${JSON.stringify(t)}`);
    }
    this.#types = types ? new Set(types) : null;
    this.#channels = normaliseChannels(options.channels ?? (types ? channelsOfTypes(types) : null));
    const filters = cleanFilters(options.filters);
    if (types && !filters.events) filters.events = types;
    this.#filters = filters;
    this.#backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this.#heartbeat = options.heartbeatInterval ?? 30_000;
    this.#connectTimeout = options.connectTimeout ?? 10_000;
    this.#WebSocket =
      options.WebSocketImpl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? undefined;
    const injected = options.fetch;
    const globalFetch = (globalThis as { fetch?: FetchLike }).fetch;
    // The global fetch is called on the global object (some browsers refuse another `this`).
    this.#fetch = injected ?? (globalFetch ? (input, init) => globalFetch.call(globalThis, input, init) : undefined);
    const mode = options.transport ?? "auto";
    this.#policy = {
      mode,
      wsAvailable: this.#WebSocket !== undefined,
      sseAvailable: this.#fetch !== undefined && typeof ReadableStream !== "undefined",
      fallbackAfter: Math.max(1, options.fallbackAfter ?? 3),
      wsRetryAfter: options.wsRetryAfter ?? 300_000,
    };
    if (mode === "websocket" && !this.#policy.wsAvailable) {
      throw new TypeError("no WebSocket implementation: pass `WebSocketImpl` (e.g. the `ws` package)");
    }
    if (mode === "sse" && !this.#policy.sseAvailable) {
      throw new TypeError("no streaming fetch: pass `fetch`");
    }
    if (!this.#policy.wsAvailable && !this.#policy.sseAvailable) {
      throw new TypeError("neither WebSocket nor a streaming fetch is available");
    }
    for (const [name, v] of [["since", options.since], ["heartbeatInterval", options.heartbeatInterval], ["connectTimeout", options.connectTimeout]] as const) {
      if (v !== undefined && v !== null && !(Number.isSafeInteger(v) && v >= 0)) {
        throw new TypeError(`\`${name}\` must be a non-negative integer (got ${String(v)})`);
      }
    }
    this.#random = options.random ?? Math.random;
    this.#resume = new Resume(options.since ?? null, options.epoch ?? null, this.dialect === "aisoc");
    this.#retry = new Retry(this.#backoff);
    if (options.onEvent) this.on("event", options.onEvent);
    if (options.onGap) this.on("gap", options.onGap);
    if (options.onStatus) this.on("status", options.onStatus);
    if (options.onError) this.on("error", options.onError);
    if (options.onWarning) this.on("warning", options.onWarning);
  }

  /** The connection status now. */
  get status(): FeedStatus {
    return this.#status;
  }

  /** The auth error that stopped the feed, if one did. */
  get error(): SocFeedAuthError | null {
    return this.#error;
  }

  /** `true` once the feed has stopped for good (closed, or refused by the server). */
  get closed(): boolean {
    return this.#status.state === "disconnected";
  }

  /** The AiSOC channels subscribed (`["all"]` for every channel). */
  get channels(): readonly string[] {
    return this.#channels;
  }

  /** The GOVERN filters sent. */
  get filters(): GovernFilters {
    return cleanFilters(this.#filters);
  }

  /** The resume cursor now: pass `since` (and `epoch`) to a later feed to continue from here. */
  cursor(): ResumeSnapshot {
    return this.#resume.snapshot(this.#streams());
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Listeners>(type: K, listener: Listeners[K]): () => void {
    this.#listeners[type].add(listener);
    return () => {
      this.#listeners[type].delete(listener);
    };
  }

  /** Starts connecting in the background (once); returns the client. */
  start(): this {
    if (this.#started || this.#closed) return this;
    this.#started = true;
    this.#startedAt = Date.now();
    this.#done = this.#run();
    return this;
  }

  /** Stops the feed: closes the connection with 1000 and resolves once it is closed. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const abort of [...this.#onClose]) abort();
      this.#wake?.();
      const stop = this.#stopCurrent;
      if (stop) await stop();
      if (!this.#started) this.#finish(describe({ kind: "stopped" }));
    }
    await this.#done;
  }

  // ---- the loop ------------------------------------------------------------------------------

  async #run(): Promise<void> {
    while (!this.#closed) {
      const attemptStart = Date.now();
      const transport = chooseTransport(this.#policy, this.#transportState, attemptStart);
      this.#attempts += 1;
      let outcome: Outcome;
      try {
        outcome = await this.#connect(transport);
      } catch (e) {
        outcome = { ended: { kind: "lost", message: errorMessage(e) }, opened: false, upSince: null, token: null };
      }
      const now = Date.now();
      // Stickiness counts from when the attempt started, not from when its connection ended.
      this.#transportState = recordAttempt(this.#policy, this.#transportState, transport, outcome.opened, attemptStart);
      if (outcome.upSince !== null) this.#retry.connectionEnded(now - outcome.upSince);
      const ended = outcome.ended;
      if (ended.kind === "stopped" || this.#closed) break;
      if (ended.kind === "refused") {
        // A token refused with 4001 (expired, say) is not retried as it is: the provider is asked
        // once for another one, and the feed stops if it returns the same, or that one fails too.
        const refreshable =
          ended.code === 4001 &&
          typeof this.#opts.token === "function" &&
          this.#refusedToken === null &&
          outcome.token !== null;
        if (!refreshable) {
          this.#fail(new SocFeedAuthError(ended.code, ended.reason || CLOSE_REASONS[ended.code] || "refused"));
          return;
        }
        this.#refusedToken = outcome.token;
        this.#setStatus({ state: "reconnecting", transport, attempt: 1, retryIn: 0, reason: describe(ended), error: null });
        continue;
      }
      if (ended.kind === "reset") {
        this.#setStatus({ state: "reconnecting", transport, attempt: 1, retryIn: 0, reason: describe(ended), error: null });
        continue;
      }
      const delay = this.#retry.nextDelay(this.#random());
      this.#setStatus({
        state: "reconnecting",
        transport,
        attempt: this.#retry.attempt,
        retryIn: delay,
        reason: describe(ended),
        error: null,
      });
      await this.#sleep(delay);
    }
    this.#finish(describe({ kind: "stopped" }));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  #finish(reason: string): void {
    if (this.#status.state === "disconnected") return;
    this.#setStatus({ state: "disconnected", transport: this.#status.transport, attempt: 0, retryIn: null, reason, error: null });
  }

  #fail(error: SocFeedAuthError): void {
    this.#error = error;
    this.#closed = true;
    this.#setStatus({
      state: "disconnected",
      transport: this.#status.transport,
      attempt: 0,
      retryIn: null,
      reason: error.message,
      error,
    });
    this.#emit("error", error);
  }

  /** The first message of a connection: it is up (green), and the token worked. */
  #heard(outcome: Outcome, transport: TransportKind): void {
    if (outcome.upSince !== null) return;
    outcome.upSince = Date.now();
    this.#refusedToken = null;
    this.#setStatus({ state: "connected", transport, attempt: 0, retryIn: null, reason: null, error: null });
  }

  #setStatus(s: FeedStatus): void {
    const o = this.#status;
    if (
      o.state === s.state &&
      o.transport === s.transport &&
      o.attempt === s.attempt &&
      o.retryIn === s.retryIn &&
      o.reason === s.reason &&
      o.error === s.error
    ) {
      return;
    }
    this.#status = Object.freeze({ ...s });
    this.#emit("status", this.#status);
  }

  #emit<K extends keyof Listeners>(type: K, value: Parameters<Listeners[K]>[0]): void {
    for (const l of [...this.#listeners[type]]) {
      try {
        (l as (v: typeof value) => void)(value);
      } catch (e) {
        // A listener's bug must not break the feed.
        console.error(`socfeed-client: a ${type} listener threw`, e);
      }
    }
  }

  // ---- one connection ------------------------------------------------------------------------

  async #token(): Promise<string> {
    const t = this.#opts.token;
    const token = typeof t === "function" ? await t() : t;
    if (typeof token !== "string" || token.length === 0) throw new Error("the token provider returned no token");
    return token;
  }

  /** `p`, failing after the connect timeout, or at once when the feed is closed. */
  #timeout<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#onClose.delete(abort);
      };
      const abort = (): void => {
        done();
        reject(new Error("closed"));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what} timed out after ${this.#connectTimeout} ms`));
      }, this.#connectTimeout);
      this.#onClose.add(abort);
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  async #connect(transport: TransportKind): Promise<Outcome> {
    const fail = (ended: Ended, token: string | null = null): Outcome => ({ ended, opened: false, upSince: null, token });
    let token: string;
    try {
      token = await this.#timeout(this.#token(), "the token provider");
    } catch (e) {
      if (this.#closed) return fail({ kind: "stopped" });
      return fail({ kind: "token", message: errorMessage(e) });
    }
    if (this.#closed) return fail({ kind: "stopped" });
    if (this.#refusedToken !== null && token === this.#refusedToken) {
      return fail({ kind: "refused", code: 4001, reason: "the token provider returned the token the server refused" });
    }
    return transport === "websocket" ? this.#webSocket(token) : this.#sse(token);
  }

  /** The streams an SSE connection advances, and what a single cursor covers. */
  #streams(): string[] {
    return this.dialect === "govern" ? [ALL] : this.#channels;
  }

  /** Where a GOVERN-style connection (GOVERN WebSocket, any SSE) resumes from. */
  #governCursor(): GovernCursor {
    const since = this.#resume.sinceAll(this.#streams());
    if (since !== null) return { kind: "since", since, epoch: this.#resume.epoch };
    // Started live and has seen nothing yet: after the first connection, replay everything
    // ingested since the feed started (plus a second for clock steps), so an outage loses nothing.
    if (this.#attempts > 1) return { kind: "window", ms: Date.now() - this.#startedAt + 1000 };
    return { kind: "live" };
  }

  async #ticket(token: string): Promise<string> {
    const f = this.#fetch;
    if (!f) throw new Error("tickets need fetch");
    const res = await f(ticketsUrl(this.#base).href, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new SocFeedAuthError(res.status, text.trim() || `HTTP ${res.status} from POST /v1/tickets`);
    }
    if (res.status !== 201) throw new Error(`POST /v1/tickets: HTTP ${res.status}`);
    const ticket = (JSON.parse(text) as { ticket?: unknown }).ticket;
    if (typeof ticket !== "string") throw new Error("POST /v1/tickets: no ticket in the reply");
    return ticket;
  }

  async #webSocket(token: string): Promise<Outcome> {
    const WS = this.#WebSocket;
    const fail = (ended: Ended): Outcome => ({ ended, opened: false, upSince: null, token });
    if (!WS) return fail({ kind: "connect", message: "no WebSocket implementation" });
    const tenant = tenantOf(token);
    let url: URL;
    let first: string[];
    const link: Link = this.#newLink("websocket", tenant);
    if (this.dialect === "aisoc") {
      url = aisocUrl(this.#base);
      link.all = this.#channels.includes(ALL);
      first = this.#channels.map((c) => {
        const since = this.#resume.since(c);
        link.asked.set(c, since);
        return aisocSubscribe(c, since, this.#resume.epoch);
      });
    } else {
      const cursor = this.#governCursor();
      link.cursor = cursor.kind === "since" ? cursor.since : null;
      url = governUrl(this.#base, this.#filters, cursor);
      first = [governSubscribe(this.#filters)];
    }
    const auth = this.#opts.auth ?? "protocol";
    let protocols: string[] | undefined;
    if (auth === "protocol") protocols = ["bearer", token];
    else if (auth === "query") url.searchParams.set("token", token);
    else {
      try {
        url.searchParams.set("ticket", await this.#timeout(this.#ticket(token), "POST /v1/tickets"));
      } catch (e) {
        if (this.#closed) return fail({ kind: "stopped" });
        if (e instanceof SocFeedAuthError) return fail({ kind: "refused", code: e.code, reason: e.reason });
        return fail({ kind: "connect", message: errorMessage(e) });
      }
      if (this.#closed) return fail({ kind: "stopped" });
    }

    let ws: WebSocketLike;
    try {
      ws = protocols ? new WS(url.href, protocols) : new WS(url.href);
    } catch (e) {
      return fail({ kind: "connect", message: errorMessage(e) });
    }

    return new Promise<Outcome>((resolve) => {
      const outcome: Outcome = { ended: { kind: "stopped" }, opened: false, upSince: null, token };
      let settled = false;
      let lastError = "";
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      let closedResolve: () => void = () => {};
      const socketClosed = new Promise<void>((r) => {
        closedResolve = r;
      });
      const silence = this.#heartbeat * 2;
      const connectTimer = setTimeout(
        () => link.finish({ kind: "connect", message: `timed out after ${this.#connectTimeout} ms` }),
        this.#connectTimeout,
      );
      const arm = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => link.finish({ kind: "silent", ms: silence }), silence);
      };

      link.send = (text) => {
        try {
          ws.send(text);
        } catch (e) {
          link.finish({ kind: "lost", message: errorMessage(e) });
        }
      };
      link.heard = () => this.#heard(outcome, "websocket");
      link.finish = (ended) => {
        if (settled) return;
        settled = true;
        link.finished = true;
        clearTimeout(connectTimer);
        clearTimeout(watchdog);
        this.#stopCurrent = null;
        outcome.ended = ended;
        ws.onmessage = null;
        ws.onopen = null;
        // Some implementations (ws) throw on an `error` nobody listens to.
        ws.onerror = () => {};
        // Keep onclose until the socket is closed, so a stop can wait for the close handshake.
        ws.onclose = () => closedResolve();
        if (ws.readyState === 3) closedResolve();
        try {
          const terminate = (ws as { terminate?: () => void }).terminate;
          if (ended.kind === "silent" && typeof terminate === "function") {
            // A silent peer will not answer a close handshake either (ws can drop it at once).
            terminate.call(ws);
          } else if (ws.readyState === 0 || ws.readyState === 1) {
            ws.close(1000);
          }
        } catch {
          closedResolve();
        }
        resolve(outcome);
      };
      this.#stopCurrent = async () => {
        link.finish({ kind: "stopped" });
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([socketClosed, new Promise((r) => (timer = setTimeout(r, 1000)))]);
        clearTimeout(timer);
      };

      ws.onopen = () => {
        if (settled) return;
        clearTimeout(connectTimer);
        outcome.opened = true;
        arm();
        for (const msg of first) link.send(msg);
      };
      ws.onmessage = (ev: { data: unknown }) => {
        if (settled) return;
        arm();
        const text = messageText(ev.data);
        if (text === null) return;
        let incoming: Incoming;
        try {
          incoming = this.dialect === "aisoc" ? decodeAisoc(text, "websocket") : decodeGovern(text, tenant, "websocket");
        } catch {
          link.heard();
          return; // an unreadable message is skipped
        }
        // A refused subscribe is no sign of a working connection (no green before the red).
        if (!(incoming.kind === "error" && incoming.code === "forbidden_channel")) link.heard();
        this.#onIncoming(link, incoming);
      };
      ws.onerror = (ev: { message?: string; error?: unknown }) => {
        lastError = ev?.message || (ev?.error ? errorMessage(ev.error) : "") || lastError;
      };
      ws.onclose = (ev: { code?: number; reason?: string }) => {
        closedResolve();
        if (settled) return;
        const code = ev?.code ?? 1006;
        const reason = ev?.reason ?? "";
        if (!outcome.opened) {
          // socfeed never refuses an upgrade (it upgrades, then closes with 4001/4003), and a
          // browser cannot read the status of a refused one: whatever refused it (a proxy that
          // does not pass WebSocket, say) counts as a failed connect, towards the SSE fallback.
          link.finish({ kind: "connect", message: lastError || `closed before opening (${code})` });
          return;
        }
        if (isAuthCode(code)) link.finish({ kind: "refused", code, reason });
        else if (code === 1006) link.finish({ kind: "lost", message: lastError || "the connection dropped" });
        else link.finish({ kind: "closed", code, reason });
      };
    });
  }

  async #sse(token: string): Promise<Outcome> {
    const f = this.#fetch;
    const fail = (ended: Ended): Outcome => ({ ended, opened: false, upSince: null, token });
    if (!f) return fail({ kind: "connect", message: "no fetch" });
    const tenant = tenantOf(token);
    const link = this.#newLink("sse", tenant);
    link.streams = this.#streams();
    const cursor = this.#governCursor();
    link.cursor = cursor.kind === "since" ? cursor.since : null;
    // An AiSOC feed over SSE reads the whole GOVERN feed and keeps its own channels.
    const url = sseUrl(this.#base, this.dialect === "govern" ? this.#filters : {}, cursor);
    const headers: Record<string, string> = { accept: "text/event-stream", "cache-control": "no-cache" };
    const auth = this.#opts.auth ?? "protocol";
    if (auth === "query") url.searchParams.set("token", token);
    else if (auth === "ticket") {
      try {
        url.searchParams.set("ticket", await this.#timeout(this.#ticket(token), "POST /v1/tickets"));
      } catch (e) {
        if (this.#closed) return fail({ kind: "stopped" });
        if (e instanceof SocFeedAuthError) return fail({ kind: "refused", code: e.code, reason: e.reason });
        return fail({ kind: "connect", message: errorMessage(e) });
      }
    } else headers.authorization = `Bearer ${token}`;
    if (cursor.kind === "since") headers["last-event-id"] = String(cursor.since);
    if (this.#closed) return fail({ kind: "stopped" });

    const controller = new AbortController();
    const outcome: Outcome = { ended: { kind: "stopped" }, opened: false, upSince: null, token };
    let settled = false;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    const silence = this.#heartbeat * 2;
    const connectTimer = setTimeout(
      () => link.finish({ kind: "connect", message: `timed out after ${this.#connectTimeout} ms` }),
      this.#connectTimeout,
    );
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => link.finish({ kind: "silent", ms: silence }), silence);
    };
    link.send = () => {};
    link.heard = () => this.#heard(outcome, "sse");
    link.finish = (ended) => {
      if (settled) return;
      settled = true;
      link.finished = true;
      clearTimeout(connectTimer);
      clearTimeout(watchdog);
      this.#stopCurrent = null;
      outcome.ended = ended;
      controller.abort();
      resolveDone();
    };
    this.#stopCurrent = async () => {
      link.finish({ kind: "stopped" });
    };

    const onMessage = (msg: SseMessage): void => {
      if (settled) return;
      if (msg.type === "feed.heartbeat") return;
      if (msg.type === "error") {
        let code = "";
        let message = msg.data;
        try {
          const d = (JSON.parse(msg.data) as { data?: { code?: string; message?: string } }).data;
          code = d?.code ?? "";
          message = d?.message ?? message;
        } catch {
          // not JSON: keep the text
        }
        if (code === "token_expired") link.finish({ kind: "refused", code: 4001, reason: "token expired" });
        else this.#emit("warning", { code, message });
        return;
      }
      let incoming: Incoming;
      try {
        incoming = decodeGovern(msg.data, tenant, "sse", this.dialect);
      } catch {
        return;
      }
      this.#onIncoming(link, incoming);
    };

    (async () => {
      let res: Response;
      try {
        res = await f(url.href, { headers, signal: controller.signal, cache: "no-store" });
      } catch (e) {
        link.finish({ kind: "connect", message: errorMessage(e) });
        return;
      }
      if (settled) {
        void res.body?.cancel().catch(() => {});
        return;
      }
      if (res.status === 401 || res.status === 403) {
        const text = (await res.text().catch(() => "")).trim();
        link.finish({ kind: "refused", code: res.status, reason: text || `HTTP ${res.status}` });
        return;
      }
      const type = res.headers.get("content-type") ?? "";
      if (res.status !== 200 || !type.startsWith("text/event-stream") || !res.body) {
        void res.body?.cancel().catch(() => {});
        link.finish({ kind: "connect", message: `HTTP ${res.status} ${type}`.trim() });
        return;
      }
      clearTimeout(connectTimer);
      outcome.opened = true;
      arm();
      link.heard();
      try {
        await readSse(res.body, arm, onMessage);
        link.finish({ kind: "lost", message: "the event stream ended" });
      } catch (e) {
        link.finish({ kind: "lost", message: errorMessage(e) });
      }
    })();

    await done;
    return outcome;
  }

  #newLink(transport: TransportKind, tenant: string | null): Link {
    return {
      transport,
      tenant,
      all: false,
      asked: new Map(),
      cursor: null,
      inReplay: false,
      streams: [],
      resetSeen: false,
      finished: false,
      send: () => {},
      finish: () => {},
      heard: () => {},
    };
  }

  // ---- messages ------------------------------------------------------------------------------

  #onIncoming(link: Link, incoming: Incoming): void {
    switch (incoming.kind) {
      case "event":
        this.#onEvent(link, incoming.event);
        return;
      case "ping":
        link.send(this.dialect === "aisoc" ? AISOC_PONG : GOVERN_PONG);
        return;
      case "subscribed": {
        if (!link.asked.has(incoming.channel)) return; // an ack not asked for on this connection
        const since = link.asked.get(incoming.channel) ?? null;
        link.asked.delete(incoming.channel);
        if (since !== null && incoming.seq < since) {
          // The head is below our cursor: the history was reset (and we did not know its epoch).
          // Start over from its beginning on a new connection.
          this.#resume.startOver(incoming.epoch);
          this.#emit("gap", { channel: null, after: since, epoch: incoming.epoch, epochChanged: true });
          link.finish({ kind: "reset" });
          return;
        }
        const gap = this.#resume.onResumed(incoming.channel, {
          asked: since,
          head: incoming.seq,
          epoch: incoming.epoch,
          truncated: incoming.truncated,
        });
        if (gap) this.#emit("gap", gap);
        return;
      }
      case "replay": {
        const first = !link.inReplay;
        // `more: true`: another part follows; the last part has `more: false`.
        link.inReplay = incoming.more;
        if (first) {
          const gap = this.#resume.onResumed(ALL, {
            asked: link.cursor,
            head: null,
            epoch: incoming.epoch,
            truncated: incoming.truncated,
          });
          if (gap) this.#emit("gap", gap);
        }
        for (const e of incoming.events) {
          if (link.finished) return;
          this.#onEvent(link, e);
        }
        return;
      }
      case "error":
        if (incoming.code === "forbidden_channel") {
          link.finish({ kind: "refused", code: 4003, reason: incoming.message || "forbidden channel" });
        } else {
          this.#emit("warning", { code: incoming.code, message: incoming.message });
        }
        return;
      case "other":
        return;
    }
  }

  #onEvent(link: Link, e: SocFeedEvent): void {
    if (link.transport === "sse") {
      if (link.cursor !== null && e.seq <= link.cursor && !link.resetSeen) {
        // Over SSE the server sends only seqs above the cursor, unless its history was reset
        // (the epoch did not match): seqs started over. Report it and take the new history.
        link.resetSeen = true;
        this.#resume.startOver(null);
        this.#emit("gap", { channel: null, after: link.cursor, epoch: null, epochChanged: true });
      }
      const wanted = this.dialect === "govern" || this.#channels.includes(ALL) || this.#channels.includes(e.channel);
      const stream = this.dialect === "govern" || this.#channels.includes(ALL) ? ALL : e.channel;
      if (wanted && this.#resume.accept(stream, e.seq)) this.#deliver(e);
      this.#resume.advance(link.streams, e.seq);
      return;
    }
    const stream = this.dialect === "govern" || link.all ? ALL : e.channel;
    if (this.#resume.accept(stream, e.seq)) this.#deliver(e);
  }

  #deliver(e: SocFeedEvent): void {
    if (this.#types && !this.#types.has(e.type)) return;
    this.#emit("event", e);
  }
}

/** Creates a feed client and starts it. */
export function createFeed(options: SocFeedOptions): SocFeedClient {
  return new SocFeedClient(options).start();
}
