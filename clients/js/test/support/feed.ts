// Reading a feed in tests: everything it emits, recorded, and waits with deadlines.

import WebSocket from "ws";

import { SocFeedClient, type SocFeedOptions, type WebSocketConstructor } from "../../src/index.js";
import type { FeedGap, FeedStatus, SocFeedAuthError, SocFeedEvent } from "../../src/index.js";
import { WAIT, sleep } from "./server.js";

/** Node 20 has no global WebSocket: the `ws` package stands in. */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** A schedule quick enough for tests: 20 ms doubling to 200 ms, reset after 1 s. */
export const FAST = { initial: 20, max: 200, resetAfter: 1000 };

/** Options every test feed shares; `over` wins. */
export function feedOptions(over: SocFeedOptions): SocFeedOptions {
  return { WebSocketImpl: NodeWebSocket, backoff: FAST, connectTimeout: 3000, ...over };
}

export class Recorder {
  readonly events: SocFeedEvent[] = [];
  readonly gaps: FeedGap[] = [];
  readonly statuses: FeedStatus[] = [];
  readonly errors: SocFeedAuthError[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(readonly client: SocFeedClient) {
    client.on("event", (e) => this.#push(this.events, e));
    client.on("gap", (g) => this.#push(this.gaps, g));
    client.on("status", (s) => this.#push(this.statuses, s));
    client.on("error", (e) => this.#push(this.errors, e));
  }

  #push<T>(list: T[], v: T): void {
    list.push(v);
    for (const w of [...this.#waiters]) w();
  }

  seqs(): number[] {
    return this.events.map((e) => e.seq);
  }

  states(): string[] {
    return this.statuses.map((s) => s.state);
  }

  /** Resolves once `pred()` holds (checked now and after everything the feed emits). */
  until(pred: () => boolean, what: string, timeout = WAIT): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; got seqs ${JSON.stringify(this.seqs())}, states ${JSON.stringify(this.states())}, ` +
              `last status ${JSON.stringify(this.client.status)}`,
          ),
        );
      }, timeout);
      this.#waiters.add(check);
    });
  }

  /** Waits for at least `n` events in all; returns the seqs. */
  async waitEvents(n: number): Promise<number[]> {
    await this.until(() => this.events.length >= n, `${n} events`);
    return this.seqs();
  }

  /** Waits until the status is `state` (now or later). */
  status(state: FeedStatus["state"]): Promise<void> {
    return this.until(() => this.client.status.state === state, `status ${state}`);
  }

  /** Waits until a status `state` is recorded after the first `after` statuses. */
  statusAfter(after: number, state: FeedStatus["state"]): Promise<FeedStatus> {
    return this.until(
      () => this.statuses.slice(after).some((s) => s.state === state),
      `a ${state} status after #${after}`,
    ).then(() => this.statuses.slice(after).find((s) => s.state === state)!);
  }
}

/** A started client with a recorder. */
export function startFeed(options: SocFeedOptions): { client: SocFeedClient; rec: Recorder } {
  const client = new SocFeedClient(feedOptions(options));
  const rec = new Recorder(client);
  client.start();
  return { client, rec };
}

/** Waits `ms` and checks nothing more arrived: every event once. */
export async function quiet(rec: Recorder, count: number, ms = 300): Promise<void> {
  await sleep(ms);
  if (rec.events.length !== count) {
    throw new Error(`expected exactly ${count} events, got ${rec.events.length}: ${JSON.stringify(rec.seqs())}`);
  }
}
