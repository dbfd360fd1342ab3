// Resume state: the last seq delivered on each stream, the tenant's epoch, and what an ack or a
// replay header means for them. Pure: no IO, no clock.
//
// A *stream* is what the server orders by seq: a GOVERN feed is one stream (keyed `all`); an AiSOC
// connection has one per subscribed channel (`all` when subscribed to every channel). An event is
// delivered only when its seq is above its stream's position, and then becomes the position:
// nothing is delivered twice, and a reconnect asks for `since = position`.

import { ALL } from "./channels.js";
import type { FeedGap } from "./types.js";

/** What the server said about a (re)subscription. */
export interface Resumed {
  /** The `since` sent for this stream; null for a live start. */
  asked: number | null;
  /** The tenant's head in an AiSOC ack; GOVERN replays carry none. */
  head: number | null;
  epoch: string | null;
  truncated: boolean;
}

/** A snapshot of the cursor, e.g. to persist and pass back as `since` / `epoch` later. */
export interface ResumeSnapshot {
  epoch: string | null;
  positions: Record<string, number>;
  /** The smallest position over the streams (what a single `since` must be); null if none. */
  since: number | null;
}

export class Resume {
  #epoch: string | null;
  readonly #positions = new Map<string, number>();
  /** The position of a stream not seen yet (the caller's `since`); null: start live. */
  #default: number | null;

  constructor(
    since: number | null,
    epoch: string | null,
    /** Gaps name their channel (AiSOC). */
    readonly perChannel: boolean,
  ) {
    this.#default = since;
    this.#epoch = epoch;
  }

  /** The `since` to send for `stream`; null when nothing is known yet (live start). */
  since(stream: string): number | null {
    return this.#positions.get(stream) ?? this.#default;
  }

  /** The epoch to send with a `since`. */
  get epoch(): string | null {
    return this.#epoch;
  }

  /**
   * One cursor for several streams read as a single ordered stream (SSE): the smallest of their
   * positions, or null when any of them has none.
   */
  sinceAll(streams: readonly string[]): number | null {
    let min: number | null = null;
    for (const s of streams) {
      const p = this.since(s);
      if (p === null) return null;
      min = min === null ? p : Math.min(min, p);
    }
    return min;
  }

  /** Whether an event at `seq` on `stream` is new; if so it becomes the stream's position. */
  accept(stream: string, seq: number): boolean {
    const floor = this.since(stream);
    if (floor !== null && seq <= floor) return false;
    this.#positions.set(stream, seq);
    return true;
  }

  /**
   * A connection that reads every stream in one seq order (SSE) saw `seq`: every event of
   * `streams` up to it has been seen, so each stream's position is at least `seq`.
   */
  advance(streams: readonly string[], seq: number): void {
    for (const s of streams) {
      const p = this.since(s);
      if (p === null || p < seq) this.#positions.set(s, seq);
    }
  }

  /**
   * Applies an ack (AiSOC) or a replay header (GOVERN); returns the gap to report, if any.
   *
   * - A different epoch than the one known (or none, with `truncated`) means the history was
   *   reset: every position goes back to 0, since seqs started over.
   * - `truncated` is a gap: the server resumes at its oldest retained event.
   * - A live start (nothing asked) takes the head as the position, so the next reconnect resumes
   *   from there.
   */
  onResumed(stream: string, r: Resumed): FeedGap | null {
    // Another epoch than ours, or — answering our cursor with `truncated` — none at all: the
    // tenant's history was reset (and may be empty yet).
    const changed =
      this.#epoch !== null &&
      r.epoch !== this.#epoch &&
      (r.epoch !== null || (r.truncated && r.asked !== null));
    if (changed) this.startOver(r.epoch);
    else if (r.epoch !== null) this.#epoch = r.epoch;
    if (r.asked === null && r.head !== null) {
      const p = this.#positions.get(stream);
      this.#positions.set(stream, p === undefined ? r.head : Math.max(p, r.head));
    }
    if (!r.truncated && !changed) return null;
    return {
      channel: this.perChannel ? stream : null,
      after: r.asked ?? 0,
      epoch: this.#epoch,
      epochChanged: changed,
    };
  }

  /**
   * The server's history was reset (a new epoch, or a head below our cursor): seqs start over,
   * so every position goes back to 0. `epoch` is the new one when known.
   */
  startOver(epoch?: string | null): void {
    for (const k of this.#positions.keys()) this.#positions.set(k, 0);
    this.#default = 0;
    if (epoch !== undefined) this.#epoch = epoch;
  }

  snapshot(streams: readonly string[] = [ALL]): ResumeSnapshot {
    return {
      epoch: this.#epoch,
      positions: Object.fromEntries(this.#positions),
      since: this.sinceAll(streams),
    };
  }
}
