// Server messages as the client reads them, and the messages it sends, for both dialects.

import { channelOf } from "./channels.js";
import type {
  AisocClientMessage,
  AisocEnvelope,
  GovernClientMessage,
  GovernEnvelope,
  GovernFilters,
  JsonObject,
  SocFeedEvent,
  TransportKind,
} from "./types.js";

/** One message from the server, as the client acts on it. */
export type Incoming =
  | { kind: "event"; event: SocFeedEvent }
  /** AiSOC `subscribed`. */
  | { kind: "subscribed"; channel: string; seq: number; epoch: string | null; truncated: boolean }
  /** One GOVERN `feed.replay` part. */
  | { kind: "replay"; truncated: boolean; epoch: string | null; more: boolean; events: SocFeedEvent[] }
  /** `{"type":"error"}` / `{"event":"error"}`: the connection stays. */
  | { kind: "error"; code: string; message: string }
  /** AiSOC `{"type":"ping"}` / GOVERN `feed.heartbeat`. */
  | { kind: "ping" }
  /** Acks that change nothing (`unsubscribed`, `feed.subscribed`) and unknown messages. */
  | { kind: "other" };

export class DecodeError extends Error {
  override readonly name = "DecodeError";
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function isSeq(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** RFC 3339 UTC with milliseconds, as AiSOC writes `ts`. */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

/** An AiSOC envelope as a normalised event. */
export function fromAisoc(env: AisocEnvelope, transport: TransportKind): SocFeedEvent {
  const ms = Date.parse(env.ts);
  return {
    id: env.id,
    seq: env.seq,
    type: env.type,
    payload: env.payload,
    tenantId: env.tenant_id,
    ts: ms,
    time: Number.isNaN(ms) ? env.ts : isoTime(ms),
    channel: channelOf(env.type),
    dialect: "aisoc",
    transport,
  };
}

/** A GOVERN envelope as a normalised event; GOVERN carries no tenant, so it is passed in. */
export function fromGovern(
  env: GovernEnvelope,
  tenantId: string | null,
  transport: TransportKind,
  dialect: "aisoc" | "govern" = "govern",
): SocFeedEvent {
  return {
    id: env.id,
    seq: env.seq,
    type: env.event,
    payload: env.data,
    tenantId,
    ts: env.ts,
    time: isoTime(env.ts),
    channel: channelOf(env.event),
    dialect,
    transport,
  };
}

/** A normalised event as an AiSOC envelope. */
export function toAisocEnvelope(e: SocFeedEvent): AisocEnvelope {
  return { type: e.type, payload: e.payload, tenant_id: e.tenantId ?? "", ts: e.time, id: e.id, seq: e.seq };
}

/** A normalised event as a GOVERN envelope. */
export function toGovernEnvelope(e: SocFeedEvent): GovernEnvelope {
  return { event: e.type, data: e.payload, ts: e.ts, id: e.id, seq: e.seq };
}

function parse(text: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DecodeError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(v)) throw new DecodeError("not a JSON object");
  return v;
}

/**
 * Reads one AiSOC text frame. Events are told from control messages by their `seq` and `id`
 * (an event type may be a single word such as `ping`).
 */
export function decodeAisoc(text: string, transport: TransportKind = "websocket"): Incoming {
  const f = parse(text);
  const type = str(f.type);
  if (type === null) throw new DecodeError("no type");
  if (isSeq(f.seq) && typeof f.id === "string") {
    const ts = str(f.ts);
    const tenant = str(f.tenant_id);
    if (ts === null || tenant === null || !isObject(f.payload)) {
      throw new DecodeError(`event ${f.seq} lacks ts, tenant_id or payload`);
    }
    const env: AisocEnvelope = { type, payload: f.payload, tenant_id: tenant, ts, id: f.id, seq: f.seq };
    return { kind: "event", event: fromAisoc(env, transport) };
  }
  const p = isObject(f.payload) ? f.payload : {};
  switch (type) {
    case "subscribed": {
      const channel = str(p.channel);
      if (channel === null || !isSeq(p.seq)) throw new DecodeError("subscribed without channel or seq");
      return { kind: "subscribed", channel, seq: p.seq, epoch: str(p.epoch), truncated: p.truncated === true };
    }
    case "error":
      return { kind: "error", code: str(p.code) ?? "", message: str(p.message) ?? "" };
    case "ping":
      return { kind: "ping" };
    default:
      return { kind: "other" };
  }
}

function governEvent(v: unknown): GovernEnvelope {
  if (!isObject(v)) throw new DecodeError("replayed event is not an object");
  const event = str(v.event);
  if (event === null || !isSeq(v.seq) || typeof v.id !== "string" || !isObject(v.data)) {
    throw new DecodeError("event without event, seq, id or data");
  }
  return { event, data: v.data, ts: typeof v.ts === "number" ? v.ts : 0, id: v.id, seq: v.seq };
}

/** Reads one GOVERN frame (a WebSocket text frame or an SSE `data:` line). */
export function decodeGovern(
  text: string,
  tenantId: string | null,
  transport: TransportKind = "websocket",
  dialect: "aisoc" | "govern" = "govern",
): Incoming {
  const f = parse(text);
  const name = str(f.event);
  if (name === null) throw new DecodeError("no event");
  if (isSeq(f.seq) && typeof f.id === "string") {
    return { kind: "event", event: fromGovern(governEvent(f), tenantId, transport, dialect) };
  }
  const d = isObject(f.data) ? f.data : {};
  switch (name) {
    case "feed.replay": {
      const events = Array.isArray(d.events) ? d.events : [];
      return {
        kind: "replay",
        truncated: d.truncated === true,
        epoch: str(d.epoch),
        more: d.more === true,
        events: events.map((e) => fromGovern(governEvent(e), tenantId, transport, dialect)),
      };
    }
    case "error":
      return { kind: "error", code: str(d.code) ?? "", message: str(d.message) ?? "" };
    case "feed.heartbeat":
      return { kind: "ping" };
    default:
      return { kind: "other" };
  }
}

/** `{"type":"subscribe","channel",["since"],["epoch"]}`; the epoch goes only with a `since`. */
export function aisocSubscribe(channel: string, since: number | null, epoch: string | null): string {
  const msg: AisocClientMessage = { type: "subscribe", channel };
  if (since !== null) {
    msg.since = since;
    if (epoch !== null) msg.epoch = epoch;
  }
  return JSON.stringify(msg);
}

/** Only the non-empty lists of `filters`. */
export function cleanFilters(filters: GovernFilters | undefined | null): GovernFilters {
  const out: GovernFilters = {};
  if (!filters) return out;
  for (const key of ["severities", "types", "systems", "events"] as const) {
    const list = filters[key];
    if (list && list.length > 0) out[key] = [...list];
  }
  return out;
}

/** `{"action":"subscribe","filters":{...}}`: restates the URL's filters and gets a prompt ack. */
export function governSubscribe(filters: GovernFilters): string {
  const msg: GovernClientMessage = { action: "subscribe", filters: cleanFilters(filters) };
  return JSON.stringify(msg);
}

export const AISOC_PONG = JSON.stringify({ type: "pong" } satisfies AisocClientMessage);
export const GOVERN_PONG = JSON.stringify({ action: "pong" } satisfies GovernClientMessage);
