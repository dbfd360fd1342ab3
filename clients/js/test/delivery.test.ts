// Events published to a real server reach the feed in order, normalised, in both dialects.

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { createFeed, type SocFeedClient } from "../src/index.js";
import { Recorder, feedOptions, quiet, startFeed } from "./support/feed.js";
import { Server, range } from "./support/server.js";

let server: Server;
let token: string;
const clients: SocFeedClient[] = [];

beforeEach(async () => {
  server = await new Server("delivery").start();
  token = server.token();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.dispose();
});

function feed(opts: Parameters<typeof startFeed>[0]): Recorder {
  const { client, rec } = startFeed(opts);
  clients.push(client);
  return rec;
}

describe("delivery", () => {
  it("AiSOC: live events in order, normalised, newest seq last", async () => {
    const rec = feed({ url: server.origin, token, dialect: "aisoc" });
    await rec.status("connected");
    expect(rec.client.status.transport).toBe("websocket");
    expect(await server.publishN(token, "alert.created", 5)).toEqual(range(1, 5));
    expect(await server.publishN(token, "case.created", 5)).toEqual(range(6, 10));
    expect(await rec.waitEvents(10)).toEqual(range(1, 10));
    const e = rec.events[0]!;
    expect(e).toMatchObject({
      seq: 1,
      type: "alert.created",
      channel: "alerts",
      tenantId: "acme",
      dialect: "aisoc",
      transport: "websocket",
      payload: { i: 0, severity: "high" },
    });
    expect(e.id).toMatch(/^evt_/);
    expect(new Date(e.ts).toISOString()).toBe(e.time);
    await quiet(rec, 10);
  });

  it("AiSOC: `since: 0` replays the history, then live events follow with no gap or duplicate", async () => {
    await server.publishN(token, "alert.created", 20);
    const rec = feed({ url: server.origin, token, since: 0 });
    await rec.waitEvents(5);
    await server.publishN(token, "alert.updated", 10);
    expect(await rec.waitEvents(30)).toEqual(range(1, 30));
    await quiet(rec, 30);
  });

  it("AiSOC: channels and types narrow the feed", async () => {
    const rec = feed({ url: server.origin, token, types: ["alert.created", "alert.updated"], since: 0 });
    await rec.status("connected");
    expect(rec.client.channels).toEqual(["alerts"]);
    await server.publish(token, [
      { type: "alert.created", payload: { n: 1 } },
      { type: "case.created", payload: { n: 2 } },
      { type: "alert.closed", payload: { n: 3 } },
      { type: "alert.updated", payload: { n: 4 } },
    ]);
    await rec.waitEvents(2);
    expect(rec.events.map((e) => [e.seq, e.type])).toEqual([
      [1, "alert.created"],
      [4, "alert.updated"],
    ]);
    await quiet(rec, 2);
  });

  it("GOVERN: every channel by default, filters narrow it, the replay comes first", async () => {
    await server.publish(token, [
      { type: "alert.new", payload: { severity: "high" } },
      { type: "alert.new", payload: { severity: "low" } },
    ]);
    const all = feed({ url: server.origin, token, dialect: "govern", since: 0 });
    const high = feed({ url: server.origin, token, dialect: "govern", since: 0, filters: { severities: ["high"] } });
    await all.waitEvents(2);
    await high.waitEvents(1);
    await server.publish(token, [
      { type: "system.score_changed", payload: { system_name: "bot" } },
      { type: "alert.new", payload: { severity: "high" } },
    ]);
    expect(await all.waitEvents(4)).toEqual(range(1, 4));
    expect(await high.waitEvents(2)).toEqual([1, 4]);
    expect(all.events[2]).toMatchObject({ type: "system.score_changed", channel: "systems", tenantId: "acme", dialect: "govern" });
    expect(all.client.cursor()).toMatchObject({ since: 4 });
    expect(all.client.cursor().epoch).toMatch(/./);
    await quiet(all, 4);
    await quiet(high, 2, 0);
  });

  it("GOVERN: a replay split in parts (`more: true`) arrives whole and in order", async () => {
    await server.stop();
    const small = new Server("delivery-parts", { args: ["--replay-batch", "7"] });
    await small.start();
    try {
      const t = small.token();
      for (let i = 0; i < 5; i++) await small.publishN(t, "alert.new", 10);
      const rec = feed({ url: small.origin, token: t, dialect: "govern", since: 3 });
      expect(await rec.waitEvents(47)).toEqual(range(4, 50));
      await quiet(rec, 47);
    } finally {
      await small.dispose();
    }
  });

  it("close() ends the connection and reports disconnected; a ticket works as the credential", async () => {
    const client = createFeed(feedOptions({ url: server.origin, token, auth: "ticket" }));
    const rec = new Recorder(client);
    await rec.until(() => client.status.state === "connected", "connected");
    await server.publishN(token, "alert.created", 1);
    await rec.waitEvents(1);
    await client.close();
    expect(client.status).toMatchObject({ state: "disconnected", reason: "closed by the client", error: null });
    await server.publishN(token, "alert.created", 1);
    await quiet(rec, 1);
  });
});
