// Which transport the next connection attempt uses: WebSocket first, SSE when WebSocket is
// unavailable or keeps failing to connect. Pure: the clock reading is passed in.

import type { TransportKind } from "./types.js";

/** `auto`: WebSocket with SSE fallback; or one transport only. */
export type TransportMode = "auto" | "websocket" | "sse";

export interface TransportPolicy {
  mode: TransportMode;
  /** A WebSocket implementation is available. */
  wsAvailable: boolean;
  /** A streaming `fetch` is available. */
  sseAvailable: boolean;
  /** Consecutive WebSocket attempts that never opened before SSE is tried (default 3). */
  fallbackAfter: number;
  /** After SSE worked where WebSocket did not, stay on SSE this long (ms) before trying WebSocket again. */
  wsRetryAfter: number;
}

/** What the chooser remembers between attempts. */
export interface TransportState {
  /** WebSocket attempts in a row that never opened. */
  wsFailures: number;
  /** The transport of the previous attempt. */
  last: TransportKind | null;
  /** Until this time (ms), SSE is used without trying WebSocket. */
  sseUntil: number;
}

export function initialTransportState(): TransportState {
  return { wsFailures: 0, last: null, sseUntil: 0 };
}

/**
 * The transport of the next attempt. With `auto`: SSE when there is no WebSocket; SSE while it is
 * sticky (it worked after WebSocket failed); SSE right after a WebSocket attempt that made the
 * count of failures reach `fallbackAfter` — so once WebSocket keeps failing, attempts alternate
 * until one of them connects; WebSocket otherwise.
 */
export function chooseTransport(policy: TransportPolicy, state: TransportState, now: number): TransportKind {
  if (policy.mode === "websocket") return "websocket";
  if (policy.mode === "sse") return "sse";
  if (!policy.wsAvailable) return "sse";
  if (!policy.sseAvailable) return "websocket";
  if (now < state.sseUntil) return "sse";
  if (state.wsFailures >= policy.fallbackAfter && state.last === "websocket") return "sse";
  return "websocket";
}

/**
 * Records how an attempt went: `opened` is true once the WebSocket opened (or the SSE response
 * arrived); `startedAt` is when the attempt began. Returns the new state.
 */
export function recordAttempt(
  policy: TransportPolicy,
  state: TransportState,
  transport: TransportKind,
  opened: boolean,
  startedAt: number,
): TransportState {
  const next: TransportState = { ...state, last: transport };
  if (transport === "websocket") {
    next.wsFailures = opened ? 0 : state.wsFailures + 1;
  } else if (opened && policy.mode === "auto" && state.wsFailures >= policy.fallbackAfter && startedAt >= state.sseUntil) {
    // SSE connected where WebSocket kept failing: stay on it for a while (not extended while it lasts).
    next.sseUntil = startedAt + policy.wsRetryAfter;
  }
  return next;
}
