// React bindings: `useRealtimeEvents(types, options)` (the AiSOC seed's call shape: the events,
// newest first, in a bounded buffer, with the connection status on `.status`), `useRealtimeFeed`
// (the same as `{events, status, error, gaps, clear}`) and `SocFeedProvider` (one shared
// connection for every hook below it). React is a peer dependency; the core never imports it.

import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from "react";

import { SocFeedClient, type SocFeedOptions } from "./client.js";
import type { FeedGap, FeedStatus, JsonObject, SocFeedAuthError, SocFeedEvent } from "./types.js";

export interface RealtimeOptions extends Partial<SocFeedOptions> {
  /** Events kept, newest first (default 100); older ones are dropped. */
  limit?: number;
  /** Use this client (started if it is not yet) instead of the provider's or a new one. */
  client?: SocFeedClient | null;
  /** `false`: do not connect (e.g. while there is no token yet). Default true. */
  enabled?: boolean;
}

export interface RealtimeFeed<P = JsonObject> {
  /** Newest first, at most `limit`. */
  events: SocFeedEvent<P>[];
  status: FeedStatus;
  /** The auth error that stopped the feed (4001 / 4003), if one did. */
  error: SocFeedAuthError | null;
  /** Gaps reported since mount (at most `limit`, oldest first). */
  gaps: FeedGap[];
  /** Empties `events` and `gaps`. */
  clear: () => void;
}

/** The events, newest first, with the feed's state alongside. */
export type RealtimeEvents<P = JsonObject> = SocFeedEvent<P>[] & {
  status: FeedStatus;
  error: SocFeedAuthError | null;
  gaps: FeedGap[];
};

const DEFAULT_LIMIT = 100;

const IDLE: FeedStatus = Object.freeze({
  state: "disconnected",
  transport: null,
  attempt: 0,
  retryIn: null,
  reason: "not started",
  error: null,
});

const CONNECTING: FeedStatus = Object.freeze({
  state: "connecting",
  transport: null,
  attempt: 0,
  retryIn: null,
  reason: null,
  error: null,
});

const FeedContext = createContext<SocFeedClient | null>(null);

/** The options that decide what a client connects to; the rest (token hook, callbacks) may change freely. */
function connectionKey(o: Partial<SocFeedOptions>, types: readonly string[] | null): string {
  return JSON.stringify([
    o.url ?? null,
    o.dialect ?? null,
    o.channels ?? null,
    o.filters ?? null,
    types,
    o.transport ?? null,
    o.since ?? null,
    o.epoch ?? null,
    o.auth ?? null,
    o.heartbeatInterval ?? null,
    typeof o.token === "string" ? o.token : null,
  ]);
}

/**
 * Creates, starts and closes a client for `options` while mounted (`null` while `enabled` is false).
 * A token hook is read through a ref, so a new function on every render does not reconnect; a
 * changed string token does.
 */
function useOwnClient(
  options: Partial<SocFeedOptions> | null,
  types: readonly string[] | null,
  enabled: boolean,
): SocFeedClient | null {
  const latest = useRef(options);
  latest.current = options;
  const [client, setClient] = useState<SocFeedClient | null>(null);
  const key = options ? connectionKey(options, types) : null;
  useEffect(() => {
    if (!enabled || key === null || !latest.current) return;
    const o = latest.current;
    const token = o.token;
    const c = new SocFeedClient({
      ...o,
      types: types ?? o.types ?? null,
      // Always the latest hook or token.
      token: typeof token === "function" ? () => (latest.current?.token as () => string | Promise<string>)() : (token ?? ""),
    } as SocFeedOptions);
    setClient(c);
    return () => {
      setClient((cur) => (cur === c ? null : cur));
      void c.close();
    };
    // `types` is part of `key`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, enabled]);
  return client;
}

/**
 * One connection shared by the hooks below it: they filter its events by their `types`. Give it
 * a `client`, or `options` to create one (subscribed to `options.channels` / `options.filters`;
 * every channel by default).
 */
export function SocFeedProvider(props: {
  client?: SocFeedClient | null;
  options?: SocFeedOptions;
  enabled?: boolean;
  children?: ReactNode;
}): ReturnType<typeof createElement> {
  const own = useOwnClient(props.client ? null : (props.options ?? null), null, props.enabled ?? true);
  const client = props.client ?? own;
  useEffect(() => {
    client?.start();
  }, [client]);
  return createElement(FeedContext.Provider, { value: client }, props.children);
}

/** The client of the nearest `SocFeedProvider`, if any. */
export function useSocFeedClient(): SocFeedClient | null {
  return useContext(FeedContext);
}

/**
 * Live events of `types` (all types when empty or omitted), newest first, with the connection
 * status. The client is `options.client`, else a new one when `options.token` is given, else the
 * nearest `SocFeedProvider`'s.
 */
export function useRealtimeFeed<P = JsonObject>(
  types?: readonly string[] | null,
  options: RealtimeOptions = {},
): RealtimeFeed<P> {
  const limit = Math.max(1, options.limit ?? DEFAULT_LIMIT);
  const enabled = options.enabled ?? true;
  const typeList = types && types.length > 0 ? [...types] : null;
  const typesKey = JSON.stringify(typeList);
  const wantsOwn = !options.client && options.token !== undefined;
  const contextClient = useContext(FeedContext);
  const own = useOwnClient(wantsOwn ? options : null, typeList, enabled);
  const client = !enabled ? null : (options.client ?? (wantsOwn ? own : contextClient));

  const [events, setEvents] = useState<SocFeedEvent<P>[]>([]);
  const [gaps, setGaps] = useState<FeedGap[]>([]);
  const [status, setStatus] = useState<FeedStatus>(enabled ? CONNECTING : IDLE);
  const [error, setError] = useState<SocFeedAuthError | null>(null);

  useEffect(() => {
    if (!client) {
      setStatus(enabled ? CONNECTING : IDLE);
      return;
    }
    const wanted = typeList ? new Set(typeList) : null;
    if (wanted) setEvents((cur) => (cur.every((e) => wanted.has(e.type)) ? cur : cur.filter((e) => wanted.has(e.type))));
    const offEvent = client.on("event", (e) => {
      if (wanted && !wanted.has(e.type)) return;
      setEvents((cur) => {
        const next = [e as SocFeedEvent<P>, ...cur];
        if (next.length > limit) next.length = limit;
        return next;
      });
    });
    const offGap = client.on("gap", (g) => setGaps((cur) => [...cur, g].slice(-limit)));
    const offStatus = client.on("status", (s) => {
      setStatus(s);
      setError(s.error);
    });
    setStatus(client.status);
    setError(client.error);
    client.start();
    return () => {
      offEvent();
      offGap();
      offStatus();
    };
    // `typeList` is keyed by `typesKey`.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, typesKey, limit, enabled]);

  // A smaller limit applies at once.
  const shown = events.length > limit ? events.slice(0, limit) : events;
  const clear = useCallback(() => {
    setEvents([]);
    setGaps([]);
  }, []);
  return useMemo(() => ({ events: shown, status, error, gaps, clear }), [shown, status, error, gaps, clear]);
}

/**
 * The AiSOC seed's hook: `const events = useRealtimeEvents(["alert.created", "alert.updated"]);`
 * returns the events newest first (at most `options.limit`, default 100), with `events.status`
 * (`connecting` / `connected` / `reconnecting` / `disconnected`), `events.error` and `events.gaps`.
 */
export function useRealtimeEvents<P = JsonObject>(
  types?: readonly string[] | null,
  options: RealtimeOptions = {},
): RealtimeEvents<P> {
  const feed = useRealtimeFeed<P>(types, options);
  return useMemo(
    () => Object.assign([...feed.events], { status: feed.status, error: feed.error, gaps: feed.gaps }),
    [feed.events, feed.status, feed.error, feed.gaps],
  );
}

export { statusColor } from "./types.js";
export type { FeedGap, FeedStatus, SocFeedEvent } from "./types.js";
export type { SocFeedOptions } from "./client.js";
