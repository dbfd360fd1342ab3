// Gaps: when the server answers a resume with `truncated: true` (the cursor is older than the
// retained history, or its epoch does not match because the history was reset), the feed reports
// it explicitly and carries on from the oldest retained event.

import { afterEach, describe, expect, it } from "vitest";

import type { Dialect, FeedGap } from "../src/index.js";
import { quiet, startFeed } from "./support/feed.js";
import { Proxy } from "./support/proxy.js";
import { Server, range, sleep } from "./support/server.js";

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(name: string, args: string[] = []): Promise<Server> {
  const s = await new Server(name, { args }).start();
  cleanups.push(() => s.dispose());
  return s;
}

function feed(opts: Parameters<typeof startFeed>[0]): ReturnType<typeof startFeed> {
  const f = startFeed(opts);
  cleanups.push(() => f.client.close());
  return f;
}

describe("gaps", () => {
  it("a cursor older than the retained history is reported as a gap (both dialects)", async () => {
    const s = await server("gap-retention", ["--retention", "5s"]); // purged every 500 ms
    const token = s.token();
    await s.publishN(token, "alert.created", 5);
    await sleep(2000);
    expect(await s.publishN(token, "alert.created", 5)).toEqual(range(6, 10)); // retained until ~7 s
    // Wait until 1..5 are purged: a replay from 0 then starts at 6.
    await sleep(2800);
    for (;;) {
      const probe = feed({ url: s.origin, token, dialect: "govern", since: 0 });
      await probe.rec.waitEvents(1);
      await probe.client.close();
      if (probe.rec.events[0]!.seq === 6) break;
      await sleep(100);
    }
    const feeds = (["aisoc", "govern"] as Dialect[]).map((dialect) => ({
      dialect,
      ...feed({ url: s.origin, token, dialect, since: 2 }),
    }));
    for (const { dialect, rec } of feeds) {
      expect(await rec.waitEvents(5)).toEqual(range(6, 10));
      const expected: FeedGap = {
        channel: dialect === "aisoc" ? "all" : null,
        after: 2,
        epoch: rec.client.cursor().epoch,
        epochChanged: false,
      };
      expect(rec.gaps).toEqual([expected]);
      expect(expected.epoch).toMatch(/./);
      await quiet(rec, 5);
    }
  });

  for (const dialect of ["aisoc", "govern"] as Dialect[]) {
    it(`${dialect}: an epoch that does not match is a gap, and the current history follows`, async () => {
      const s = await server(`gap-epoch-${dialect}`);
      const token = s.token();
      await s.publishN(token, "alert.created", 5);
      const { rec } = feed({ url: s.origin, token, dialect, since: 2, epoch: "not-this-history" });
      expect(await rec.waitEvents(5)).toEqual(range(1, 5));
      expect(rec.gaps).toHaveLength(1);
      expect(rec.gaps[0]).toMatchObject({ after: 2, epochChanged: true });
      expect(rec.gaps[0]!.epoch).not.toBe("not-this-history");
      await quiet(rec, 5);
    });

    for (const order of ["publishes, then the feed reconnects", "the feed reconnects, then publishes"]) {
      it(`${dialect}: a server whose history was reset (data dir wiped) is a gap; ${order}`, async () => {
        const s = await server(`gap-wipe-${dialect}`);
        const proxy = await Proxy.start(s.port);
        cleanups.push(() => proxy.close());
        const token = s.token();
        await s.publishN(token, "alert.created", 3);
        const { client, rec } = feed({ url: proxy.url, token, dialect, since: 0 });
        expect(await rec.waitEvents(3)).toEqual(range(1, 3));
        const oldEpoch = client.cursor().epoch;
        expect(oldEpoch).toMatch(/./);
        const oldIds = rec.events.map((e) => e.id);

        const publishFirst = order.startsWith("publishes");
        proxy.refuse(publishFirst);
        await s.stop();
        s.wipe();
        await s.start();
        if (publishFirst) {
          await s.publishN(token, "case.created", 2); // seqs 1, 2 of a new history
          proxy.refuse(false);
        } else {
          // Connected to the new, still empty history (no epoch yet).
          await rec.until(() => rec.gaps.length > 0 && client.status.state === "connected", "a gap, connected");
          await s.publishN(token, "case.created", 2);
        }
        await rec.until(() => rec.gaps.length > 0, "a gap");
        expect(rec.gaps).toHaveLength(1);
        expect(rec.gaps[0]).toMatchObject({ after: 3, epochChanged: true });
        expect(rec.gaps[0]!.epoch).not.toBe(oldEpoch);
        await s.publishN(token, "case.created", 2);
        expect(await rec.waitEvents(7)).toEqual([1, 2, 3, 1, 2, 3, 4]);
        expect(rec.events.slice(3).every((e) => e.type === "case.created" && !oldIds.includes(e.id))).toBe(true);
        await quiet(rec, 7);
      });
    }
  }

  it("aisoc: a history reset before the epoch was known is caught by the head below the cursor", async () => {
    const s = await server("gap-head");
    const token = s.token();
    // Started live on an empty tenant: the ack carries no epoch, live events carry none either.
    const { rec } = feed({ url: s.origin, token, dialect: "aisoc" });
    await rec.status("connected");
    await s.publishN(token, "alert.created", 5);
    expect(await rec.waitEvents(5)).toEqual(range(1, 5));
    expect(rec.client.cursor().epoch).toBeNull();

    await s.stop();
    s.wipe();
    await s.start();
    await s.publishN(token, "case.created", 2);
    await rec.until(() => rec.gaps.length > 0, "a gap");
    expect(rec.gaps[0]).toMatchObject({ channel: null, after: 5, epochChanged: true });
    expect(await rec.waitEvents(7)).toEqual([1, 2, 3, 4, 5, 1, 2]);
    await quiet(rec, 7);
  });
});
