// The built client (dist/) in real headless Chromium (Debian's, driven by playwright-core) against
// the real server: the browser's own WebSocket (token as subprotocol) and streaming fetch (SSE),
// across a server restart. The module is served from the server's origin by request
// interception, so the page is same-origin with the feed as a deployed app would be.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PACKAGE_ROOT, Server, range } from "./support/server.js";

const CHROMIUM = process.env.SOCFEED_CHROMIUM || "/usr/bin/chromium";
const DIST = path.join(PACKAGE_ROOT, "dist");
const ready = existsSync(CHROMIUM) && existsSync(path.join(DIST, "index.js"));
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let browser: Browser | undefined;

beforeAll(async () => {
  if (ready) browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
});

afterAll(async () => {
  await browser?.close();
});

/** A page on the server's origin with `/__socfeed/*.js` served from dist/. */
const pageErrors: string[] = [];

async function pageOn(server: Server): Promise<Page> {
  const page = await browser!.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e.stack ?? e)));
  await page.route(`${server.origin}/__socfeed/**`, (route) => {
    const file = path.join(DIST, path.basename(new URL(route.request().url()).pathname));
    if (!existsSync(file)) return route.fulfill({ status: 404 });
    return route.fulfill({ status: 200, contentType: "text/javascript", body: readFileSync(file, "utf8") });
  });
  await page.goto(`${server.origin}/`);
  return page;
}

/**
 * Starts a feed in the page; its events and statuses collect in `window.__feed`. (A string, so
 * that vitest's transform does not rewrite the page's `import()`.)
 */
async function startInPage(page: Page, options: Record<string, unknown>): Promise<void> {
  await page.evaluate(`(async () => {
    const m = await import("/__socfeed/index.js");
    const feed = { seqs: [], transports: [], states: [], client: null };
    window.__feed = feed;
    feed.client = m.createFeed({
      ...${JSON.stringify(options)},
      backoff: { initial: 20, max: 200, resetAfter: 1000 },
      onEvent: (e) => { feed.seqs.push(e.seq); feed.transports.push(e.transport); },
      onStatus: (s) => feed.states.push(s.state),
    });
  })()`);
}

const state = (page: Page) =>
  page.evaluate(() => (window as unknown as { __feed: { seqs: number[]; transports: string[]; states: string[] } }).__feed);

async function waitSeqs(page: Page, n: number): Promise<number[]> {
  await page.waitForFunction((n) => (window as unknown as { __feed: { seqs: number[] } }).__feed.seqs.length >= n, n, {
    timeout: 20_000,
  });
  return (await state(page)).seqs;
}

describe.skipIf(!ready)("in Chromium (built dist/)", () => {
  for (const [dialect, transport] of [
    ["aisoc", "websocket"],
    ["govern", "websocket"],
    ["govern", "sse"],
  ] as const) {
    it(`${dialect} over ${transport}: in order, resumed across a server restart`, async () => {
      const server = await new Server(`browser-${dialect}-${transport}`).start();
      try {
        const token = server.token();
        const page = await pageOn(server);
        await server.publishN(token, "alert.created", 3);
        // The page's origin is the feed's: no `url` needed.
        await startInPage(page, { token, dialect, transport, since: 0 });
        expect(await waitSeqs(page, 3)).toEqual(range(1, 3));
        await server.stop();
        await page.waitForFunction(() => (window as unknown as { __feed: { states: string[] } }).__feed.states.includes("reconnecting"));
        await server.start();
        await server.publishN(token, "case.created", 3);
        expect(await waitSeqs(page, 6)).toEqual(range(1, 6));
        const s = await state(page);
        expect(new Set(s.transports)).toEqual(new Set([transport]));
        expect(s.states.at(-1)).toBe("connected");
        await page.evaluate(() => (window as unknown as { __feed: { client: { close(): Promise<void> } } }).__feed.client.close());
        await page.close();
        expect(pageErrors).toEqual([]);
      } finally {
        await server.dispose();
      }
    });
  }
});
