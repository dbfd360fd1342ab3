// The reconnect schedule: exponential backoff with full jitter, reset after a stable connection.
// Pure: the random number and the uptime are passed in, so the schedule is tested without a clock.

export interface BackoffOptions {
  /** Ceiling of the first retry, ms (default 500). */
  initial: number;
  /** Largest ceiling, ms (default 30 000). */
  max: number;
  /** A connection up at least this long (ms) resets the schedule (default 10 000). */
  resetAfter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initial: 500,
  max: 30_000,
  resetAfter: 10_000,
});

/** The largest delay retry `attempt` (0 for the first) may wait: `min(max, initial · 2^attempt)`. */
export function backoffCeiling(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const n = Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 0));
  // 2^31 is far beyond any cap; clamping keeps the product finite.
  return Math.min(opts.max, opts.initial * 2 ** Math.min(n, 31));
}

/** The delay of retry `attempt` for a uniform random `unit` in [0, 1) (full jitter); clamped. */
export function backoffDelay(attempt: number, unit: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const u = Number.isNaN(unit) ? 0 : Math.min(1, Math.max(0, unit));
  return backoffCeiling(attempt, opts) * u;
}

/** Retry state of one feed: which attempt comes next. */
export class Retry {
  #attempt = 0;
  constructor(readonly opts: BackoffOptions = DEFAULT_BACKOFF) {}

  /** The attempt number the next `nextDelay` uses (0 after a reset). */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next retry, drawn with `unit` in [0, 1); counts the attempt. */
  nextDelay(unit: number): number {
    const d = backoffDelay(this.#attempt, unit, this.opts);
    this.#attempt += 1;
    return d;
  }

  /** A connection ended after being up for `uptime` ms: a stable one resets the schedule. */
  connectionEnded(uptime: number): void {
    if (uptime >= this.opts.resetAfter) this.#attempt = 0;
  }

  /** Starts the schedule over. */
  reset(): void {
    this.#attempt = 0;
  }
}
