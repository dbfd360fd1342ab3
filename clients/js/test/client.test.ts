// The client against a scripted WebSocket: what it sends, and how it reads replay parts, pings,
// closes and listener errors, deterministically (the real-server tests cover the protocol end to end).

import { afterEach, describe, expect, it, vi } from "vitest";

import { SocFeedClient, type SocFeedOptions, type WebSocketConstructor } from "../src/index.js";
import { Recorder } from "./support/feed.js";

class FakeWebSocket {
  static all: FakeWebSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closedWith: number | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    FakeWebSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number): void {
    if (this.readyState === 3) return;
    this.closedWith = code;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005, reason: "" }));
  }

  // ---- the server's side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const Fake = FakeWebSocket as unknown as WebSocketConstructor;
// {"sub":"u","tenant_id":"acme","exp":1}
const TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwidGVuYW50X2lkIjoiYWNtZSIsImV4cCI6MX0.c2ln";

const clients: SocFeedClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  FakeWebSocket.all = [];
  vi.restoreAllMocks();
});

function start(over: Partial<SocFeedOptions> = {}): Recorder {
  const client = new SocFeedClient({
    url: "http://feed.test:8086/base",
    token: TOKEN,
    WebSocketImpl: Fake,
    transport: "websocket",
    backoff: { initial: 1, max: 1, resetAfter: 1000 },
    ...over,
  });
  clients.push(client);
  const rec = new Recorder(client);
  client.start();
  return rec;
}

/** The n-th socket, once the client has made it. */
async function socket(n: number): Promise<FakeWebSocket> {
  await vi.waitUntil(() => FakeWebSocket.all.length > n, { timeout: 2000 });
  return FakeWebSocket.all[n]!;
}

const govern = (seq: number, event = "alert.new") => ({
  event,
  data: { severity: "high", seq },
  ts: 1744123456789 + seq,
  id: `evt_${seq}`,
  seq,
});

describe("client (scripted WebSocket)", () => {
  it("AiSOC: token as subprotocol, one subscribe per channel with since and epoch, pong to ping", async () => {
    const rec = start({ channels: ["alerts", "cases"], since: 4, epoch: "ep" });
    const ws = await socket(0);
    expect(ws.url).toBe("ws://feed.test:8086/base/ws");
    expect(ws.protocols).toEqual(["bearer", TOKEN]);
    ws.open();
    expect(ws.sent.map((m) => JSON.parse(m))).toEqual([
      { type: "subscribe", channel: "alerts", since: 4, epoch: "ep" },
      { type: "subscribe", channel: "cases", since: 4, epoch: "ep" },
    ]);
    ws.receive({ type: "subscribed", payload: { channel: "alerts", seq: 9, epoch: "ep" } });
    expect(rec.client.status.state).toBe("connected");
    ws.receive({ type: "ping", ts: "2026-05-03T10:00:00.000Z" });
    expect(JSON.parse(ws.sent.at(-1)!)).toEqual({ type: "pong" });
  });

  it("GOVERN: cursor and filters in the URL; replay parts arrive whole, with one gap", async () => {
    const rec = start({
      dialect: "govern",
      since: 2,
      epoch: "ep",
      auth: "query",
      filters: { severities: ["high"], types: [] },
    });
    const ws = await socket(0);
    const url = new URL(ws.url);
    expect(url.pathname).toBe("/base/v1/soc/feed");
    expect([...url.searchParams]).toEqual([
      ["severities", "high"],
      ["since", "2"],
      ["epoch", "ep"],
      ["token", TOKEN],
    ]);
    expect(ws.protocols).toBeUndefined();
    ws.open();
    expect(JSON.parse(ws.sent[0]!)).toEqual({ action: "subscribe", filters: { severities: ["high"] } });
    const part = (more: boolean, seqs: number[]) => ({
      event: "feed.replay",
      data: { from: "f", to: "t", truncated: true, epoch: "ep", more, events: seqs.map((s) => govern(s)) },
      ts: 1,
    });
    ws.receive(part(true, [7, 8]));
    ws.receive(part(true, [9]));
    ws.receive(part(false, []));
    ws.receive(govern(10));
    ws.receive(govern(10)); // never twice
    expect(rec.seqs()).toEqual([7, 8, 9, 10]);
    expect(rec.gaps).toEqual([{ channel: null, after: 2, epoch: "ep", epochChanged: false }]);
    expect(rec.events[0]).toMatchObject({ tenantId: "acme", type: "alert.new", channel: "alerts", dialect: "govern" });
    ws.receive({ event: "feed.heartbeat", data: {}, ts: 2 });
    expect(JSON.parse(ws.sent.at(-1)!)).toEqual({ action: "pong" });

    // A reconnect resumes after the last seq delivered.
    ws.serverClose(1001, "server shutting down");
    const ws2 = await socket(1);
    expect(new URL(ws2.url).searchParams.get("since")).toBe("10");
    expect(rec.statuses.find((s) => s.state === "reconnecting")?.reason).toBe(
      "server closed the connection (1001 server shutting down)",
    );
  });

  it("a listener that throws does not stop delivery", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    const rec = start({ dialect: "govern" });
    rec.client.on("event", (e) => {
      if (e.seq === 1) throw new Error("listener bug");
    });
    const ws = await socket(0);
    ws.open();
    ws.receive(govern(1));
    ws.receive(govern(2));
    expect(rec.seqs()).toEqual([1, 2]);
    expect(err).toHaveBeenCalledOnce();
  });

  it("4003 stops the feed; close() is final and idempotent", async () => {
    const rec = start();
    const ws = await socket(0);
    ws.open();
    ws.serverClose(4003, "forbidden");
    await rec.until(() => rec.errors.length === 1, "an auth error");
    expect(rec.errors[0]).toMatchObject({ code: 4003, reason: "forbidden" });
    await rec.client.close();
    await rec.client.close();
    expect(FakeWebSocket.all).toHaveLength(1);

    const rec2 = start();
    const ws2 = await socket(1);
    const closing = rec2.client.close(); // while connecting
    await closing;
    expect(ws2.closedWith).toBe(1000);
    expect(rec2.client.status).toMatchObject({ state: "disconnected", reason: "closed by the client" });
    rec2.client.start(); // no effect once closed
    await new Promise((r) => setTimeout(r, 20));
    expect(FakeWebSocket.all).toHaveLength(2);
  });

  it("close() does not wait for a token hook that hangs", async () => {
    const rec = start({ token: () => new Promise<string>(() => {}), connectTimeout: 60_000 });
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await rec.client.close();
    expect(Date.now() - t0).toBeLessThan(5_000); // not the 60 s connect timeout
    expect(rec.client.status).toMatchObject({ state: "disconnected", reason: "closed by the client" });
    expect(FakeWebSocket.all).toHaveLength(0);
  });

  it("a WebSocket that never opens is a failed connect, retried with backoff", async () => {
    const rec = start({ connectTimeout: 50 });
    await socket(0);
    const ws2 = await socket(1);
    expect(FakeWebSocket.all[0]!.closedWith).toBe(1000);
    expect(rec.statuses.find((s) => s.state === "reconnecting")?.reason).toBe("connecting: timed out after 50 ms");
    ws2.open();
    ws2.receive({ type: "subscribed", payload: { channel: "all", seq: 0, epoch: null } });
    expect(rec.client.status.state).toBe("connected");
  });

  it("rejects bad options early", () => {
    expect(() => new SocFeedClient({ url: "http://h", token: "t", channels: ["Bad!"], WebSocketImpl: Fake })).toThrow(
      /invalid channel/,
    );
    expect(() => new SocFeedClient({ url: "http://h", token: "t", types: ["Alert"], WebSocketImpl: Fake })).toThrow(
      /invalid event type/,
    );
    expect(() => new SocFeedClient({ token: "t", WebSocketImpl: Fake })).toThrow(/url/);
    vi.stubGlobal("WebSocket", undefined);
    try {
      expect(() => new SocFeedClient({ url: "http://h", token: "t", transport: "websocket" })).toThrow(/WebSocket/);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
