// URLs: the base URL a caller gives, turned into the WebSocket, SSE and HTTP endpoints.

import { cleanFilters } from "./wire.js";
import type { GovernFilters } from "./types.js";

/** Where a GOVERN connection (WebSocket or SSE) resumes from. */
export type GovernCursor =
  | { kind: "live" }
  | { kind: "since"; since: number; epoch: string | null }
  /** `?replay=<ms>ms`: for a feed that started live and has seen no event yet. */
  | { kind: "window"; ms: number };

/**
 * Parses a base URL (`http(s)://host[:port][/prefix]` or `ws(s)://…`); without one, a browser's
 * page origin. Query and fragment are dropped.
 */
export function baseUrl(url: string | undefined | null): URL {
  let raw = url ?? undefined;
  if (raw === undefined) {
    const loc = (globalThis as { location?: { origin?: string } }).location;
    if (loc && typeof loc.origin === "string" && /^https?:/.test(loc.origin)) raw = loc.origin;
  }
  if (raw === undefined) throw new TypeError("a `url` is needed outside a browser page");
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TypeError(`invalid feed URL ${JSON.stringify(raw)}`);
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(u.protocol)) {
    throw new TypeError(`unsupported scheme ${u.protocol} in ${JSON.stringify(raw)}`);
  }
  u.search = "";
  u.hash = "";
  return u;
}

/** `base` with `path` appended to its own path, in the WebSocket (`ws`) or HTTP form. */
export function join(base: URL, path: string, form: "ws" | "http"): URL {
  const u = new URL(base.href);
  const secure = u.protocol === "https:" || u.protocol === "wss:";
  u.protocol = form === "ws" ? (secure ? "wss:" : "ws:") : secure ? "https:" : "http:";
  u.pathname = `${u.pathname.replace(/\/+$/, "")}${path}`;
  return u;
}

/** `GET /ws` (subscriptions are sent as messages). */
export function aisocUrl(base: URL): URL {
  return join(base, "/ws", "ws");
}

function governQuery(u: URL, filters: GovernFilters, cursor: GovernCursor, sse: boolean): URL {
  const f = cleanFilters(filters);
  for (const key of ["severities", "types", "systems", "events"] as const) {
    const list = f[key];
    if (list) u.searchParams.append(key, list.join(","));
  }
  switch (cursor.kind) {
    case "live":
      break;
    case "since":
      // Over SSE the seq goes in `Last-Event-ID`; the epoch can only go in the query.
      if (!sse) u.searchParams.append("since", String(cursor.since));
      if (cursor.epoch !== null) u.searchParams.append("epoch", cursor.epoch);
      break;
    case "window":
      u.searchParams.append("replay", `${Math.max(1, Math.ceil(cursor.ms))}ms`);
      break;
  }
  return u;
}

/** `GET /v1/soc/feed` with the filters and the cursor as query parameters. */
export function governUrl(base: URL, filters: GovernFilters, cursor: GovernCursor): URL {
  return governQuery(join(base, "/v1/soc/feed", "ws"), filters, cursor, false);
}

/** `GET /v1/soc/feed/sse` with the filters (and epoch or window) as query parameters. */
export function sseUrl(base: URL, filters: GovernFilters, cursor: GovernCursor): URL {
  return governQuery(join(base, "/v1/soc/feed/sse", "http"), filters, cursor, true);
}

/** `POST /v1/tickets`. */
export function ticketsUrl(base: URL): URL {
  return join(base, "/v1/tickets", "http");
}
