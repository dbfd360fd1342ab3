// The SSE fallback (`GET /v1/soc/feed/sse` over streaming fetch): used when there is no WebSocket,
// or when WebSocket keeps failing to connect (a proxy that refuses upgrades); it delivers and
// resumes with `Last-Event-ID`, for GOVERN feeds and for AiSOC feeds (their channels kept
// client-side).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { SocFeedOptions } from "../src/index.js";
import { quiet, startFeed, type Recorder } from "./support/feed.js";
import { Proxy } from "./support/proxy.js";
import { Server, range, sleep } from "./support/server.js";

let server: Server;
let proxy: Proxy;
let token: string;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  server = await new Server("sse").start();
  proxy = await Proxy.start(server.port);
  token = server.token();
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  vi.unstubAllGlobals();
  await proxy.close();
  await server.dispose();
});

function feed(opts: Omit<SocFeedOptions, "token" | "url">): Recorder {
  const { client, rec } = startFeed({ url: proxy.url, token, ...opts });
  closers.push(() => client.close());
  return rec;
}

const lastEventIds = (): string[] =>
  proxy.requests.map((r) => /^last-event-id:\s*(\d+)/im.exec(r)?.[1]).filter((x): x is string => x !== undefined);
const upgrades = (): number => proxy.requests.filter((r) => /^upgrade:\s*websocket/im.test(r)).length;
const sseGets = (): number => proxy.requests.filter((r) => r.startsWith("GET /v1/soc/feed/sse")).length;

describe("SSE fallback", () => {
  it("is used when there is no WebSocket, and resumes with Last-Event-ID after a cut", async () => {
    vi.stubGlobal("WebSocket", undefined);
    const rec = feed({ dialect: "govern", since: 0, WebSocketImpl: undefined });
    await server.publishN(token, "alert.new", 5);
    expect(await rec.waitEvents(5)).toEqual(range(1, 5));
    expect(rec.client.status).toMatchObject({ state: "connected", transport: "sse" });
    expect(rec.events.every((e) => e.transport === "sse" && e.tenantId === "acme")).toBe(true);

    const mark = rec.statuses.length;
    proxy.cut();
    await rec.statusAfter(mark, "reconnecting");
    await server.publishN(token, "alert.new", 5);
    expect(await rec.waitEvents(10)).toEqual(range(1, 10));
    expect(lastEventIds()).toEqual(["0", "5"]);
    expect(upgrades()).toBe(0);
    await quiet(rec, 10);
  });

  it("takes over when WebSocket keeps failing to connect (a proxy that refuses upgrades)", async () => {
    proxy.blockWebSocket(true);
    await server.publishN(token, "alert.new", 3);
    const rec = feed({ dialect: "govern", since: 0, fallbackAfter: 3 });
    expect(await rec.waitEvents(3)).toEqual(range(1, 3));
    expect(rec.client.status).toMatchObject({ state: "connected", transport: "sse" });
    // Three refused upgrades, then SSE.
    expect(upgrades()).toBe(3);
    expect(sseGets()).toBe(1);
    await server.publishN(token, "alert.new", 3);
    expect(await rec.waitEvents(6)).toEqual(range(1, 6));

    // SSE stays for a while after a cut: no WebSocket attempt in between.
    proxy.cut();
    await server.publishN(token, "alert.new", 2);
    expect(await rec.waitEvents(8)).toEqual(range(1, 8));
    expect(upgrades()).toBe(3);
    expect(lastEventIds()).toEqual(["0", "6"]);
    await quiet(rec, 8);
  });

  it("goes back to WebSocket once it works again (after `wsRetryAfter`)", async () => {
    proxy.blockWebSocket(true);
    const rec = feed({ dialect: "govern", since: 0, fallbackAfter: 2, wsRetryAfter: 300 });
    await rec.until(() => rec.client.status.state === "connected" && rec.client.status.transport === "sse", "on SSE");
    proxy.blockWebSocket(false);
    await server.publishN(token, "alert.new", 2);
    await rec.waitEvents(2);
    await sleep(400);
    proxy.cut();
    await rec.until(
      () => rec.client.status.state === "connected" && rec.client.status.transport === "websocket",
      "back on WebSocket",
    );
    await server.publishN(token, "alert.new", 2);
    expect(await rec.waitEvents(4)).toEqual(range(1, 4));
    expect(rec.events.map((e) => e.transport)).toEqual(["sse", "sse", "websocket", "websocket"]);
    await quiet(rec, 4);
  });

  it("carries an AiSOC feed: its channels only, each event once across cuts", async () => {
    vi.stubGlobal("WebSocket", undefined);
    const rec = feed({ dialect: "aisoc", channels: ["alerts", "cases"], since: 0, WebSocketImpl: undefined });
    const wanted: number[] = [];
    for (let i = 0; i < 10; i++) {
      wanted.push(...(await server.publishN(token, "alert.created", 3)));
      await server.publishN(token, "ueba.anomaly", 2); // another channel
      wanted.push(...(await server.publishN(token, "case.updated", 2)));
      if (i % 3 === 1) proxy.cut();
      await sleep(20);
    }
    expect(await rec.waitEvents(wanted.length)).toEqual(wanted);
    expect(new Set(rec.events.map((e) => e.channel))).toEqual(new Set(["alerts", "cases"]));
    expect(rec.events.every((e) => e.dialect === "aisoc" && e.transport === "sse" && e.tenantId === "acme")).toBe(true);
    // The cursor covers both channels: the last seq of the whole feed seen.
    expect(rec.client.cursor().since).toBe(70);
    await quiet(rec, wanted.length);
  });
});
