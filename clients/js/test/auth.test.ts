// Auth: a refused token (4001, 4003, HTTP 401/403) stops the feed with an auth error and no retry
// loop; the token hook is asked before every connection, and a token that expires mid-session is
// replaced once by the hook's next one.

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { SocFeedAuthError, type SocFeedOptions } from "../src/index.js";
import { quiet, startFeed, type Recorder } from "./support/feed.js";
import { Proxy } from "./support/proxy.js";
import { Server, range, sleep } from "./support/server.js";

let server: Server;
let proxy: Proxy;
let token: string;
/** A token signed with another key: the server refuses it with 4001 / 401. */
let forged: string;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  server = await new Server("auth", { args: ["--jwt-leeway", "0s"] }).start();
  proxy = await Proxy.start(server.port);
  token = server.token();
  forged = new Server("auth-forger").token();
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  await proxy.close();
  await server.dispose();
});

function feed(opts: Omit<SocFeedOptions, "url">): Recorder {
  const { client, rec } = startFeed({ url: proxy.url, ...opts });
  closers.push(() => client.close());
  return rec;
}

/** The feed stops with an auth error `code`, after exactly one request, and stays stopped. */
async function refusedOnce(rec: Recorder, code: number, refreshed = false): Promise<void> {
  await rec.until(() => rec.errors.length > 0, "an auth error");
  const err = rec.errors[0]!;
  expect(err).toBeInstanceOf(SocFeedAuthError);
  expect(err.code).toBe(code);
  expect(rec.client.error).toBe(err);
  expect(rec.client.status).toMatchObject({ state: "disconnected", error: err });
  // Many backoff periods (20 ms doubling to 200 ms) later: still one attempt.
  await sleep(1000);
  expect(proxy.requests.length).toBe(1);
  expect(rec.errors.length).toBe(1);
  // Asking the hook for a new token shows as one immediate `reconnecting`.
  const retries = rec.statuses.filter((s) => s.state === "reconnecting");
  expect(retries.map((s) => s.retryIn)).toEqual(refreshed ? [0] : []);
  expect(rec.states().at(-1)).toBe("disconnected");
}

describe("auth", () => {
  for (const dialect of ["aisoc", "govern"] as const) {
    it(`${dialect}: 4001 surfaces as an auth error without a retry loop`, async () => {
      const rec = feed({ dialect, transport: "websocket", token: forged });
      await refusedOnce(rec, 4001);
      expect(rec.errors[0]!.reason).not.toBe("");
    });
  }

  it("4003: a token without the subscriber role is refused", async () => {
    const publisherOnly = server.token({ roles: "publisher" });
    let calls = 0;
    const rec = feed({ transport: "websocket", token: () => (calls++, publisherOnly) });
    await refusedOnce(rec, 4003);
    expect(calls).toBe(1);
  });

  it("a channel outside the token's allow-list is refused as 4003", async () => {
    const casesOnly = server.token({ channels: "cases" });
    const rec = feed({ transport: "websocket", channels: ["alerts"], token: casesOnly });
    await refusedOnce(rec, 4003);
    expect(rec.errors[0]!.reason).toMatch(/alerts|allow|channel/i);
  });

  it("SSE: HTTP 401 and 403 are auth errors too", async () => {
    const rec = feed({ dialect: "govern", transport: "sse", token: forged });
    await refusedOnce(rec, 401);
    proxy.requests.length = 0;
    const publisherOnly = server.token({ roles: "publisher" });
    const rec403 = feed({ dialect: "govern", transport: "sse", token: publisherOnly });
    await refusedOnce(rec403, 403);
  });

  it("the token hook is called before every (re)connect", async () => {
    let calls = 0;
    const rec = feed({ transport: "websocket", since: 0, token: async () => (calls++, token) });
    await rec.status("connected");
    for (let i = 1; i <= 3; i++) {
      const mark = rec.statuses.length;
      proxy.cut();
      await rec.statusAfter(mark, "connected");
    }
    expect(calls).toBe(4);
    expect(proxy.requests.length).toBe(4);
    // Hooks that fail are retried with backoff, like a failed connect.
    let failing = 2;
    const rec2 = feed({
      transport: "websocket",
      token: () => {
        if (failing-- > 0) throw new Error("identity provider down");
        return token;
      },
    });
    await rec2.status("connected");
    expect(rec2.statuses.filter((s) => s.state === "reconnecting").map((s) => s.reason)).toEqual([
      "fetching a token: identity provider down",
      "fetching a token: identity provider down",
    ]);
  });

  it("an expired token (4001 `token expired`) is replaced once by the hook's next token", async () => {
    let calls = 0;
    const rec = feed({
      transport: "websocket",
      since: 0,
      token: () => {
        calls++;
        return server.token({ ttl: "2s" });
      },
    });
    await rec.status("connected");
    await server.publishN(token, "alert.created", 3);
    await rec.waitEvents(3);
    // The server closes with 4001 when the first token expires; the hook gives a fresh one.
    const s = await rec.statusAfter(0, "reconnecting");
    expect(s.reason).toMatch(/4001/);
    await rec.until(() => calls >= 2 && rec.client.status.state === "connected", "reconnected with a new token");
    await server.publishN(token, "alert.created", 3);
    expect(await rec.waitEvents(6)).toEqual(range(1, 6));
    expect(rec.errors).toEqual([]);
    await quiet(rec, 6);
  });

  it("a hook that returns the refused token again stops without connecting again", async () => {
    let calls = 0;
    const rec = feed({ transport: "websocket", token: () => (calls++, forged) });
    await refusedOnce(rec, 4001, true);
    expect(calls).toBe(2); // asked once more for a new token; it was the same
  });

  it("a hook that keeps returning refused tokens stops after one refresh", async () => {
    let calls = 0;
    // A different forged token on every call: refused, refreshed once, refused again: stop.
    const rec = feed({ transport: "websocket", token: () => (calls++, `${forged}x${calls}`) });
    await rec.until(() => rec.errors.length > 0, "an auth error");
    expect(rec.errors[0]!.code).toBe(4001);
    await sleep(1000);
    expect(calls).toBe(2);
    expect(proxy.requests.length).toBe(2);
  });
});
