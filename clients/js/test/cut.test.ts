// Connections cut mid-stream by a TCP proxy (the client sees the connection end without a close
// frame) while a publisher keeps publishing: every event arrives once, in order.

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { SocFeedOptions } from "../src/index.js";
import { quiet, startFeed, type Recorder } from "./support/feed.js";
import { Proxy } from "./support/proxy.js";
import { Server, range, sleep } from "./support/server.js";

const TOTAL = 400;

let server: Server;
let proxy: Proxy;
let token: string;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  server = await new Server("cut").start();
  proxy = await Proxy.start(server.port);
  token = server.token();
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  await proxy.close();
  await server.dispose();
});

function feed(opts: Omit<SocFeedOptions, "token" | "url">): Recorder {
  const { client, rec } = startFeed({ url: proxy.url, token, ...opts });
  closers.push(() => client.close());
  return rec;
}

/** Publishes `TOTAL` events in batches of 10 while the proxy cuts every connection now and then. */
async function cutWhilePublishing(rec: Recorder, type = "alert.created"): Promise<void> {
  const publishing = (async () => {
    for (let i = 0; i < TOTAL / 10; i++) {
      await server.publishN(token, type, 10);
      await sleep(10);
    }
  })();
  for (let i = 0; i < 8; i++) {
    await sleep(80);
    proxy.cut();
  }
  await publishing;
  expect(await rec.waitEvents(TOTAL)).toEqual(range(1, TOTAL));
  expect(proxy.accepted).toBeGreaterThanOrEqual(3);
  await quiet(rec, TOTAL);
}

describe("connections cut mid-stream", () => {
  it("GOVERN resumes after each cut with no loss and no duplicate", async () => {
    const rec = feed({ dialect: "govern", since: 0, transport: "websocket" });
    await cutWhilePublishing(rec);
  });

  it("AiSOC resumes after each cut with no loss and no duplicate", async () => {
    const rec = feed({ dialect: "aisoc", since: 0, transport: "websocket" });
    await cutWhilePublishing(rec);
  });

  it("SSE resumes with Last-Event-ID after each cut with no loss and no duplicate", async () => {
    const rec = feed({ dialect: "govern", since: 0, transport: "sse" });
    await cutWhilePublishing(rec);
    expect(rec.events.every((e) => e.transport === "sse")).toBe(true);
    // Every reconnect asked to resume after the last seq delivered before it.
    const ids = proxy.requests.map((r) => /^last-event-id:\s*(\d+)/im.exec(r)?.[1]).filter((x) => x !== undefined);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    expect(ids[0]).toBe("0");
    expect(ids.map(Number)).toEqual([...ids.map(Number)].sort((a, b) => a - b));
  });

  it("AiSOC channels resume each on their own, whatever the interleaving of replays and live events", async () => {
    const rec = feed({ dialect: "aisoc", channels: ["alerts", "cases"], since: 0, transport: "websocket" });
    const published = { alerts: [] as number[], cases: [] as number[] };
    const publishing = (async () => {
      for (let i = 0; i < 30; i++) {
        published.alerts.push(...(await server.publishN(token, "alert.created", 5)));
        published.cases.push(...(await server.publishN(token, "case.updated", 5)));
        await server.publishN(token, "ueba.anomaly", 2); // not subscribed
        await sleep(5);
      }
    })();
    for (let i = 0; i < 6; i++) {
      await sleep(60);
      proxy.cut();
    }
    await publishing;
    await rec.waitEvents(300);
    const by = (ch: string): number[] => rec.events.filter((e) => e.channel === ch).map((e) => e.seq);
    expect(by("alerts")).toEqual(published.alerts);
    expect(by("cases")).toEqual(published.cases);
    await quiet(rec, 300);
  });

  it("GOVERN started live misses nothing published while it was away (replay by time window)", async () => {
    expect(await server.publishN(token, "alert.created", 3)).toEqual(range(1, 3));
    // Older than the window's one-second margin: not part of a feed started live after them.
    await sleep(1500);
    const rec = feed({ dialect: "govern", transport: "websocket" });
    await rec.status("connected");
    proxy.refuse(true);
    proxy.cut();
    await rec.status("reconnecting");
    expect(await server.publishN(token, "alert.created", 4)).toEqual(range(4, 7));
    proxy.refuse(false);
    expect(await rec.waitEvents(4)).toEqual(range(4, 7));
    proxy.cut();
    expect(await server.publishN(token, "alert.created", 2)).toEqual(range(8, 9));
    expect(await rec.waitEvents(6)).toEqual(range(4, 9));
    await quiet(rec, 6);
  });
});
