// Pure parts, without a server or a clock: the backoff schedule, transport choice, resume state,
// the SSE parser, wire decoding, URLs, channels and token claims.

import { describe, expect, it } from "vitest";

import {
  DEFAULT_BACKOFF,
  Resume,
  Retry,
  SseParser,
  backoffCeiling,
  backoffDelay,
  baseUrl,
  channelOf,
  chooseTransport,
  decodeAisoc,
  decodeGovern,
  governUrl,
  initialTransportState,
  normaliseChannels,
  recordAttempt,
  sseUrl,
  statusColor,
  tenantOf,
  toAisocEnvelope,
  toGovernEnvelope,
  aisocUrl,
  type TransportPolicy,
} from "../src/index.js";
import { aisocSubscribe, governSubscribe } from "../src/wire.js";

describe("backoff (pure)", () => {
  it("doubles from 0.5 s up to the 30 s cap", () => {
    const ceilings = Array.from({ length: 10 }, (_, i) => backoffCeiling(i));
    expect(ceilings).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    expect(backoffCeiling(1000)).toBe(30000);
    expect(backoffCeiling(-3)).toBe(500);
    expect(DEFAULT_BACKOFF).toEqual({ initial: 500, max: 30000, resetAfter: 10000 });
  });

  it("draws uniformly below the ceiling (full jitter)", () => {
    expect(backoffDelay(0, 0)).toBe(0);
    expect(backoffDelay(0, 0.5)).toBe(250);
    expect(backoffDelay(3, 0.25)).toBe(1000);
    expect(backoffDelay(20, 0.999)).toBeCloseTo(29970);
    // Clamped and NaN-safe.
    expect(backoffDelay(1, 7)).toBe(1000);
    expect(backoffDelay(1, -1)).toBe(0);
    expect(backoffDelay(1, Number.NaN)).toBe(0);
    const custom = { initial: 20, max: 200, resetAfter: 1000 };
    expect(Array.from({ length: 6 }, (_, i) => backoffDelay(i, 1, custom))).toEqual([20, 40, 80, 160, 200, 200]);
  });

  it("counts attempts and resets after a stable connection only", () => {
    const r = new Retry();
    expect([r.nextDelay(1), r.nextDelay(1), r.nextDelay(1)]).toEqual([500, 1000, 2000]);
    expect(r.attempt).toBe(3);
    r.connectionEnded(9_999); // up, but not long enough
    expect(r.nextDelay(1)).toBe(4000);
    r.connectionEnded(10_000);
    expect(r.attempt).toBe(0);
    expect(r.nextDelay(0.5)).toBe(250);
  });
});

describe("transport choice (pure)", () => {
  const policy: TransportPolicy = {
    mode: "auto",
    wsAvailable: true,
    sseAvailable: true,
    fallbackAfter: 3,
    wsRetryAfter: 60_000,
  };

  it("uses WebSocket first and SSE once it keeps failing, alternating until one connects", () => {
    let s = initialTransportState();
    const picks: string[] = [];
    for (let i = 0; i < 7; i++) {
      const t = chooseTransport(policy, s, 0);
      picks.push(t);
      s = recordAttempt(policy, s, t, false, 0);
    }
    expect(picks).toEqual(["websocket", "websocket", "websocket", "sse", "websocket", "sse", "websocket"]);
  });

  it("keeps SSE for a while after it worked where WebSocket did not", () => {
    let s = initialTransportState();
    for (let i = 0; i < 3; i++) s = recordAttempt(policy, s, "websocket", false, 0);
    expect(chooseTransport(policy, s, 1000)).toBe("sse");
    s = recordAttempt(policy, s, "sse", true, 1000);
    expect(s.sseUntil).toBe(61_000);
    expect(chooseTransport(policy, s, 30_000)).toBe("sse");
    // Another SSE success while sticky does not extend it.
    s = recordAttempt(policy, s, "sse", true, 30_000);
    expect(s.sseUntil).toBe(61_000);
    expect(chooseTransport(policy, s, 61_000)).toBe("websocket");
    // WebSocket works again: back to normal.
    s = recordAttempt(policy, s, "websocket", true, 61_000);
    expect(s.wsFailures).toBe(0);
    expect(chooseTransport(policy, s, 61_001)).toBe("websocket");
  });

  it("a WebSocket that opened resets the count; no WebSocket means SSE; modes are honoured", () => {
    let s = initialTransportState();
    s = recordAttempt(policy, s, "websocket", false, 0);
    s = recordAttempt(policy, s, "websocket", false, 0);
    s = recordAttempt(policy, s, "websocket", true, 0);
    expect(s.wsFailures).toBe(0);
    expect(chooseTransport({ ...policy, wsAvailable: false }, s, 0)).toBe("sse");
    expect(chooseTransport({ ...policy, sseAvailable: false }, { ...s, wsFailures: 9, last: "websocket" }, 0)).toBe(
      "websocket",
    );
    expect(chooseTransport({ ...policy, mode: "websocket" }, { ...s, wsFailures: 9, last: "websocket" }, 0)).toBe(
      "websocket",
    );
    expect(chooseTransport({ ...policy, mode: "sse" }, s, 0)).toBe("sse");
  });
});

describe("resume (pure)", () => {
  it("never delivers a seq twice", () => {
    const r = new Resume(3, null, false);
    expect(r.since("all")).toBe(3);
    expect(r.accept("all", 3)).toBe(false);
    expect(r.accept("all", 4)).toBe(true);
    expect(r.accept("all", 4)).toBe(false);
    expect(r.accept("all", 2)).toBe(false);
    expect(r.accept("all", 9)).toBe(true);
    expect(r.since("all")).toBe(9);
  });

  it("resumes channels on their own", () => {
    const r = new Resume(null, null, true);
    expect(r.since("alerts")).toBeNull();
    expect(r.onResumed("alerts", { asked: null, head: 10, epoch: "e", truncated: false })).toBeNull();
    expect(r.onResumed("cases", { asked: null, head: 11, epoch: "e", truncated: false })).toBeNull();
    expect(r.accept("alerts", 12)).toBe(true);
    expect(r.accept("cases", 13)).toBe(true);
    expect(r.accept("cases", 11)).toBe(false);
    expect([r.since("alerts"), r.since("cases")]).toEqual([12, 13]);
    expect(r.sinceAll(["alerts", "cases"])).toBe(12);
    expect(r.sinceAll(["alerts", "ueba"])).toBeNull();
    expect(r.epoch).toBe("e");
  });

  it("reports truncation as a gap and keeps positions", () => {
    const r = new Resume(5, "e", true);
    const gap = r.onResumed("alerts", { asked: 5, head: 90, epoch: "e", truncated: true });
    expect(gap).toEqual({ channel: "alerts", after: 5, epoch: "e", epochChanged: false });
    expect(r.accept("alerts", 40)).toBe(true);
  });

  it("starts over on a new epoch", () => {
    const r = new Resume(null, null, false);
    r.onResumed("all", { asked: null, head: 0, epoch: "old", truncated: false });
    expect(r.accept("all", 50)).toBe(true);
    const gap = r.onResumed("all", { asked: 50, head: null, epoch: "new", truncated: true });
    expect(gap).toEqual({ channel: null, after: 50, epoch: "new", epochChanged: true });
    expect(r.accept("all", 1)).toBe(true);
    expect(r.since("cases")).toBe(0);
  });

  it("a truncated answer from a history with no epoch yet (reset, still empty) starts over", () => {
    const r = new Resume(null, null, false);
    r.onResumed("all", { asked: null, head: 3, epoch: "old", truncated: false });
    expect(r.accept("all", 4)).toBe(true);
    const gap = r.onResumed("all", { asked: 4, head: null, epoch: null, truncated: true });
    expect(gap).toEqual({ channel: null, after: 4, epoch: null, epochChanged: true });
    expect(r.epoch).toBeNull();
    expect(r.accept("all", 1)).toBe(true);
    // Its first epoch, learned later, is no further gap.
    expect(r.onResumed("all", { asked: 1, head: null, epoch: "new", truncated: false })).toBeNull();
    expect(r.epoch).toBe("new");
  });

  it("learning the first epoch is no gap", () => {
    const r = new Resume(0, null, false);
    expect(r.onResumed("all", { asked: 0, head: null, epoch: "e", truncated: false })).toBeNull();
    expect(r.epoch).toBe("e");
  });

  it("an ordered read of every stream (SSE) advances each of them", () => {
    const r = new Resume(null, null, true);
    r.advance(["alerts", "cases"], 7);
    expect([r.since("alerts"), r.since("cases")]).toEqual([7, 7]);
    expect(r.accept("alerts", 8)).toBe(true);
    r.advance(["alerts", "cases"], 5); // never backwards
    expect([r.since("alerts"), r.since("cases")]).toEqual([8, 7]);
    expect(r.snapshot(["alerts", "cases"])).toEqual({ epoch: null, positions: { alerts: 8, cases: 7 }, since: 7 });
  });
});

describe("SSE parser (pure)", () => {
  it("parses events split anywhere, with every line ending", () => {
    const stream =
      "\uFEFFretry: 2000\n\n: comment\nid: 42\nevent: alert.new\ndata: {\"a\":1}\n\n" +
      "id: 43\r\nevent: feed.heartbeat\r\ndata: {}\r\n\r\n" +
      "data: line1\rdata: line2\r\r" +
      "id\nevent: x\ndata\n\n";
    for (const size of [1, 2, 3, 7, 1000]) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.slice(i, i + size)));
      expect(got).toEqual([
        { type: "alert.new", data: '{"a":1}', lastEventId: "42" },
        { type: "feed.heartbeat", data: "{}", lastEventId: "43" },
        { type: "message", data: "line1\nline2", lastEventId: "43" },
        { type: "x", data: "", lastEventId: "" },
      ]);
      expect(p.retry).toBe(2000);
    }
  });

  it("does not dispatch a block without data", () => {
    const p = new SseParser();
    expect(p.push("event: a\nid: 5\n\n")).toEqual([]);
    expect(p.lastEventId).toBe("5");
    expect(p.push("data: x\n")).toEqual([]);
    expect(p.push("\n")).toEqual([{ type: "message", data: "x", lastEventId: "5" }]);
  });
});

describe("wire (pure)", () => {
  it("reads AiSOC events and control messages; an event named ping is an event", () => {
    const env = {
      type: "ping",
      payload: { title: "x" },
      tenant_id: "acme",
      ts: "2026-05-03T10:00:00.123Z",
      id: "evt_1",
      seq: 7,
    };
    const e = decodeAisoc(JSON.stringify(env));
    expect(e.kind).toBe("event");
    if (e.kind !== "event") return;
    expect(e.event).toMatchObject({ seq: 7, type: "ping", tenantId: "acme", ts: Date.parse(env.ts), channel: "ping" });
    expect(toAisocEnvelope(e.event)).toEqual(env);
    expect(decodeAisoc('{"type":"ping","ts":"2026-05-03T10:00:00.000Z"}')).toEqual({ kind: "ping" });
    expect(
      decodeAisoc('{"type":"subscribed","payload":{"channel":"alerts","seq":9,"epoch":"ep","truncated":true}}'),
    ).toEqual({ kind: "subscribed", channel: "alerts", seq: 9, epoch: "ep", truncated: true });
    expect(decodeAisoc('{"type":"subscribed","payload":{"channel":"all","seq":0,"epoch":null}}')).toEqual({
      kind: "subscribed",
      channel: "all",
      seq: 0,
      epoch: null,
      truncated: false,
    });
    expect(decodeAisoc('{"type":"error","payload":{"code":"forbidden_channel","message":"no"}}')).toEqual({
      kind: "error",
      code: "forbidden_channel",
      message: "no",
    });
    expect(() => decodeAisoc("nope")).toThrow();
  });

  it("reads GOVERN events, replay parts and heartbeats", () => {
    const env = { event: "alert.new", data: { severity: "high" }, ts: 1744123456789, id: "evt_3", seq: 3 };
    const e = decodeGovern(JSON.stringify(env), "acme");
    expect(e.kind).toBe("event");
    if (e.kind !== "event") return;
    expect(e.event).toMatchObject({ tenantId: "acme", channel: "alerts", time: "2025-04-08T14:44:16.789Z" });
    expect(toGovernEnvelope(e.event)).toEqual(env);
    const replay = {
      event: "feed.replay",
      data: { from: "a", to: "b", truncated: true, epoch: "ep", more: true, events: [env] },
      ts: 1,
    };
    const r = decodeGovern(JSON.stringify(replay), "acme");
    expect(r).toMatchObject({ kind: "replay", truncated: true, epoch: "ep", more: true });
    expect(decodeGovern('{"event":"feed.heartbeat","data":{},"ts":1}', null)).toEqual({ kind: "ping" });
    expect(decodeGovern('{"event":"feed.subscribed","data":{"filters":{}},"ts":1}', null)).toEqual({ kind: "other" });
  });

  it("writes what the server accepts", () => {
    expect(JSON.parse(aisocSubscribe("alerts", 41, "e1"))).toEqual({ type: "subscribe", channel: "alerts", since: 41, epoch: "e1" });
    expect(JSON.parse(aisocSubscribe("alerts", null, "e1"))).toEqual({ type: "subscribe", channel: "alerts" });
    expect(JSON.parse(governSubscribe({ severities: ["high"], types: [] }))).toEqual({
      action: "subscribe",
      filters: { severities: ["high"] },
    });
  });
});

describe("urls, channels, tokens (pure)", () => {
  it("builds endpoints from a base URL", () => {
    const b = baseUrl("http://127.0.0.1:8086");
    expect(aisocUrl(b).href).toBe("ws://127.0.0.1:8086/ws");
    const p = baseUrl("https://h/prefix/?x=1#y");
    expect(aisocUrl(p).href).toBe("wss://h/prefix/ws");
    const f = { severities: ["critical", "high"], events: ["alert.new"] };
    expect(governUrl(b, {}, { kind: "live" }).href).toBe("ws://127.0.0.1:8086/v1/soc/feed");
    expect(governUrl(b, f, { kind: "since", since: 41, epoch: "e 1" }).href).toBe(
      "ws://127.0.0.1:8086/v1/soc/feed?severities=critical%2Chigh&events=alert.new&since=41&epoch=e+1",
    );
    expect(governUrl(b, {}, { kind: "window", ms: 2500 }).href).toBe("ws://127.0.0.1:8086/v1/soc/feed?replay=2500ms");
    // SSE: the seq goes in Last-Event-ID, not the query.
    expect(sseUrl(b, f, { kind: "since", since: 41, epoch: null }).href).toBe(
      "http://127.0.0.1:8086/v1/soc/feed/sse?severities=critical%2Chigh&events=alert.new",
    );
    expect(() => baseUrl("ftp://h")).toThrow();
    expect(() => baseUrl("not a url")).toThrow();
  });

  it("maps types to channels", () => {
    expect(channelOf("alert.created")).toBe("alerts");
    expect(channelOf("system.score_changed")).toBe("systems");
    expect(channelOf("ueba.anomaly")).toBe("ueba");
    expect(channelOf("foo.bar")).toBe("foo");
    expect(normaliseChannels([])).toEqual(["all"]);
    expect(normaliseChannels(["alerts", "all"])).toEqual(["all"]);
    expect(normaliseChannels(["cases", "alerts", "cases"])).toEqual(["cases", "alerts"]);
    expect(() => normaliseChannels(["Alerts"])).toThrow();
  });

  it("reads the tenant of a token without verifying it", () => {
    // {"alg":"HS256"} . {"sub":"u","tenant_id":"acme","exp":1} . signature (not checked)
    const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwidGVuYW50X2lkIjoiYWNtZSIsImV4cCI6MX0.c2ln";
    expect(tenantOf(token)).toBe("acme");
    expect(tenantOf("opaque")).toBeNull();
  });

  it("colours statuses like the feed page's dot", () => {
    expect(statusColor({ state: "connected" })).toBe("green");
    expect(statusColor({ state: "connecting" })).toBe("yellow");
    expect(statusColor({ state: "reconnecting" })).toBe("yellow");
    expect(statusColor({ state: "disconnected" })).toBe("red");
  });
});
