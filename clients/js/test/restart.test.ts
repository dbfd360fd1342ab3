// The server is stopped with SIGTERM (sessions get 1001) and started again on the same port and
// data dir while a publisher keeps publishing: the feed reconnects with backoff while the server
// is down and delivers every event exactly once, in order.

import { afterEach, describe, expect, it } from "vitest";

import type { Dialect, TransportMode } from "../src/index.js";
import { quiet, startFeed, type Recorder } from "./support/feed.js";
import { Server, range, sleep } from "./support/server.js";

const servers: Server[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  await Promise.all(servers.splice(0).map((s) => s.dispose()));
});

/**
 * Publishes events with publisher-chosen ids, one small batch at a time, retrying a batch until
 * it is accepted (a retry of a stored id is answered with its seq, `duplicate: true`): every
 * event is stored exactly once, whatever happens to the server in between. Returns the ids in
 * seq order once `stop()` is called.
 */
function keepPublishing(server: Server, token: string): { stop: () => Promise<string[]>; count: () => number } {
  let running = true;
  const ids: string[] = [];
  const loop = (async () => {
    for (let n = 1; running; n++) {
      const batch = [0, 1].map((k) => ({
        id: `restart-${n}-${k}`,
        type: k === 0 ? "alert.created" : "case.updated",
        payload: { n, k },
      }));
      for (;;) {
        try {
          const reply = await server.publish(token, batch);
          for (const [i, e] of reply.entries()) ids[e.seq - 1] = batch[i]!.id;
          break;
        } catch {
          await sleep(20); // the server is down or shutting down: retry the same ids
        }
      }
      await sleep(5);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return ids;
    },
    count: () => ids.length,
  };
}

async function survivesRestarts(dialect: Dialect, transport: TransportMode): Promise<Recorder> {
  const server = await new Server(`restart-${dialect}-${transport}`).start();
  servers.push(server);
  const token = server.token();
  const { client, rec } = startFeed({ url: server.origin, token, dialect, transport, since: 0 });
  closers.push(() => client.close());
  await rec.status("connected");
  const publisher = keepPublishing(server, token);

  for (let round = 0; round < 3; round++) {
    await rec.until(() => client.status.state === "connected" && rec.events.length > 0, `connected, round ${round}`);
    const before = publisher.count();
    await rec.until(() => publisher.count() >= before + 20, "some events published");
    const mark = rec.statuses.length;
    await server.stop();
    await rec.statusAfter(mark, "reconnecting");
    // Down for a while: attempts fail with connection refused and back off.
    await sleep(300);
    await server.start();
    await rec.statusAfter(mark, "connected");
  }
  await sleep(200);
  const ids = await publisher.stop();
  const total = ids.length;
  expect(total).toBeGreaterThan(60);
  expect(ids.every((id) => typeof id === "string")).toBe(true);
  await rec.waitEvents(total);
  expect(rec.seqs()).toEqual(range(1, total));
  expect(rec.events.map((e) => e.id)).toEqual(ids);
  await quiet(rec, total);
  // Each stop was seen as a close or a refused connect.
  const reasons = rec.statuses.filter((s) => s.state === "reconnecting").map((s) => s.reason ?? "");
  expect(reasons.some((r) => /1001|connect/.test(r))).toBe(true);
  return rec;
}

describe("server restarts while publishing", () => {
  it("AiSOC (all): every event exactly once, in order", async () => {
    await survivesRestarts("aisoc", "websocket");
  });

  it("GOVERN: every event exactly once, in order", async () => {
    await survivesRestarts("govern", "websocket");
  });

  it("GOVERN over SSE: every event exactly once, in order", async () => {
    const rec = await survivesRestarts("govern", "sse");
    expect(rec.events.every((e) => e.transport === "sse")).toBe(true);
  });

  it("auto transport: every event exactly once, whichever transport reconnects", async () => {
    await survivesRestarts("aisoc", "auto");
  });
});
