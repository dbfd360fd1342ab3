// Heartbeats: a healthy connection stays up on heartbeats alone; one that goes silent (a proxy
// that stops forwarding, sockets left open) is given up after two heartbeat intervals, and the
// feed reconnects and resumes.

import { afterEach, describe, expect, it } from "vitest";

import type { Dialect, TransportMode } from "../src/index.js";
import { quiet, startFeed } from "./support/feed.js";
import { Proxy } from "./support/proxy.js";
import { Server, range, sleep } from "./support/server.js";

/** The server's and the client's heartbeat interval: long enough that a loaded machine does not miss two. */
const BEAT = 700;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function silenceIsDetected(dialect: Dialect, transport: TransportMode): Promise<void> {
  const server = await new Server(`beat-${dialect}-${transport}`, { heartbeat: `${BEAT}ms` }).start();
  cleanups.push(() => server.dispose());
  const proxy = await Proxy.start(server.port);
  cleanups.push(() => proxy.close());
  const token = server.token();
  const { client, rec } = startFeed({ url: proxy.url, token, dialect, transport, since: 0, heartbeatInterval: BEAT });
  cleanups.push(() => client.close());

  expect(await server.publishN(token, "alert.created", 5)).toEqual(range(1, 5));
  expect(await rec.waitEvents(5)).toEqual(range(1, 5));
  await rec.status("connected");

  // Five intervals of heartbeats only: still the same connection.
  const mark = rec.statuses.length;
  await sleep(BEAT * 5);
  expect(rec.statuses.length, JSON.stringify(rec.statuses.slice(mark))).toBe(mark);
  // Requests, not TCP connections: fetch may open a spare connection of its own.
  expect(proxy.requests.length).toBe(1);

  proxy.freeze();
  expect(await server.publishN(token, "alert.created", 5)).toEqual(range(6, 10));
  const s = await rec.statusAfter(mark, "reconnecting");
  expect(s.reason).toContain(`no message from the server for ${BEAT * 2} ms`);
  expect(await rec.waitEvents(10)).toEqual(range(1, 10));
  expect(proxy.requests.length).toBe(2);
  await rec.status("connected");
  await quiet(rec, 10, BEAT * 2);
}

describe("heartbeat watchdog", () => {
  it("GOVERN gives up a silent connection and resumes", async () => {
    await silenceIsDetected("govern", "websocket");
  });

  it("AiSOC gives up a silent connection and resumes", async () => {
    await silenceIsDetected("aisoc", "websocket");
  });

  it("SSE gives up a silent stream and resumes", async () => {
    await silenceIsDetected("govern", "sse");
  });
});
