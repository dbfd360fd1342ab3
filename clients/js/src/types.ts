// Wire envelopes of both dialects (docs/protocol.md §3, §4) and the normalised event the client
// hands to its listeners.

/** Which dialect a feed speaks. */
export type Dialect = "aisoc" | "govern";

/** How a connection reaches the server. */
export type TransportKind = "websocket" | "sse";

/** A JSON object (event payloads are objects). */
export type JsonObject = { [key: string]: unknown };

// ---- AiSOC (`GET /ws`) -------------------------------------------------------------------------

/** An AiSOC event frame: `{type, payload, tenant_id, ts (RFC 3339, ms), id, seq}`. */
export interface AisocEnvelope<P = JsonObject> {
  type: string;
  payload: P;
  tenant_id: string;
  ts: string;
  id: string;
  seq: number;
}

/** `{"type":"subscribed"}`: the ack of a subscribe; `seq` is the tenant's head. */
export interface AisocSubscribed {
  type: "subscribed";
  payload: { channel: string; seq: number; epoch: string | null; truncated?: boolean };
}

export interface AisocUnsubscribed {
  type: "unsubscribed";
  payload: { channel: string };
}

export interface AisocPing {
  type: "ping";
  ts: string;
}

export interface AisocError {
  type: "error";
  payload: { code: string; message: string };
}

/** Anything the server sends on `/ws`. */
export type AisocServerMessage = AisocEnvelope | AisocSubscribed | AisocUnsubscribed | AisocPing | AisocError;

/** What the client sends on `/ws`. */
export type AisocClientMessage =
  | { type: "subscribe"; channel: string; since?: number; epoch?: string }
  | { type: "unsubscribe"; channel: string }
  | { type: "pong" };

// ---- GOVERN (`GET /v1/soc/feed`, `/v1/soc/feed/sse`) -----------------------------------------

/** A GOVERN event frame: `{event, data, ts (unix ms), id, seq}`. Carries no tenant. */
export interface GovernEnvelope<D = JsonObject> {
  event: string;
  data: D;
  ts: number;
  id: string;
  seq: number;
}

/** GOVERN filters: within a list any value matches, across lists all must. */
export interface GovernFilters {
  severities?: string[];
  types?: string[];
  systems?: string[];
  events?: string[];
}

/** One part of a replay; parts with `more: true` are followed by another. */
export interface GovernReplay {
  event: "feed.replay";
  data: {
    from: string;
    to: string;
    truncated: boolean;
    epoch: string | null;
    more: boolean;
    events: GovernEnvelope[];
  };
  ts: number;
}

export interface GovernHeartbeat {
  event: "feed.heartbeat";
  data: JsonObject;
  ts: number;
}

export interface GovernSubscribed {
  event: "feed.subscribed";
  data: { filters: GovernFilters };
  ts: number;
}

export interface GovernError {
  event: "error";
  data: { code: string; message: string };
  ts: number;
}

/** Anything the server sends on `/v1/soc/feed`. */
export type GovernServerMessage = GovernEnvelope | GovernReplay | GovernHeartbeat | GovernSubscribed | GovernError;

/** What the client sends on `/v1/soc/feed`. */
export type GovernClientMessage = { action: "subscribe"; filters: GovernFilters } | { action: "pong" };

// ---- normalised --------------------------------------------------------------------------------

/** An event as the client delivers it, whatever the dialect and transport. */
export interface SocFeedEvent<P = JsonObject> {
  /** Unique id (`evt_…` or the publisher's). */
  id: string;
  /** Per-tenant, strictly increasing: the resume cursor. */
  seq: number;
  /** Dotted event type, e.g. `alert.created`. */
  type: string;
  /** The event's JSON object, as published. */
  payload: P;
  /** The tenant; GOVERN envelopes carry none, so it is read from the token (null if it names none). */
  tenantId: string | null;
  /** Event time, unix milliseconds. */
  ts: number;
  /** Event time, RFC 3339 UTC with milliseconds. */
  time: string;
  /** The AiSOC channel of the type (`alert.created` → `alerts`). */
  channel: string;
  /** The dialect of the feed that delivered it. */
  dialect: Dialect;
  /** The transport of the connection that delivered it. */
  transport: TransportKind;
}

/**
 * The server could not fill a resume (`truncated: true`): the cursor was older than the retained
 * history, or its epoch did not match (the history was reset). Delivery continues from the oldest
 * retained event.
 */
export interface FeedGap {
  /** The AiSOC channel whose replay is truncated; null for a GOVERN feed (one stream). */
  channel: string | null;
  /** The resume cursor the server could not honour (the last seq delivered before the gap). */
  after: number;
  /** The tenant's epoch as the server now reports it (null when not known, e.g. over SSE). */
  epoch: string | null;
  /** The history was reset: seqs started over, and delivery restarts from the new history. */
  epochChanged: boolean;
}

/** Where a feed's connection stands: yellow (`connecting`, `reconnecting`), green, red. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

export interface FeedStatus {
  state: ConnectionState;
  /** The transport of the current (or last) connection attempt. */
  transport: TransportKind | null;
  /** `reconnecting`: the number of the retry that comes next (1 for the first). */
  attempt: number;
  /** `reconnecting`: milliseconds until that retry starts. */
  retryIn: number | null;
  /** Why the last connection ended, or why the feed stopped. */
  reason: string | null;
  /** `disconnected` because the server refused the token: the error. */
  error: SocFeedAuthError | null;
}

/** The dot colour of a status: green when connected, red when stopped, yellow otherwise. */
export function statusColor(status: Pick<FeedStatus, "state">): "green" | "yellow" | "red" {
  switch (status.state) {
    case "connected":
      return "green";
    case "disconnected":
      return "red";
    default:
      return "yellow";
  }
}

/**
 * The server refused the token or the rights: close 4001 (missing, invalid or expired token),
 * 4003 (no subscriber role, or a channel outside the allow-list), or HTTP 401/403. The feed stops:
 * it is not retried with the same token.
 */
export class SocFeedAuthError extends Error {
  override readonly name = "SocFeedAuthError";
  constructor(
    /** 4001, 4003, 401 or 403. */
    readonly code: number,
    /** The server's close reason or message. */
    readonly reason: string,
  ) {
    super(`not authorised (${code}): ${reason}`);
  }
}
