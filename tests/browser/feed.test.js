"use strict";
// The live feed page (GET /) in real headless Chromium against the real `socfeed` binary.
// Run: node --test tests/browser/   (scripts/test.sh installs what this needs and builds the binary)

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const {
  ARTIFACTS,
  Server,
  launchBrowser,
  newPage,
  waitForStatus,
  waitForSeqs,
  rowsOf,
  keepEvidence,
  clearEvidence,
  sleep,
} = require("./harness");

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
});

/** Runs `body({server, page, token})` with a fresh server and page, cleaning up whatever happens. */
function scenario(name, body) {
  test(name, { timeout: 120_000 }, async () => {
    const slug = name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();
    clearEvidence(slug);
    const server = new Server(slug);
    let page;
    try {
      await server.start();
      const token = server.token();
      page = await newPage(browser);
      await body({ server, page, token });
      assert.deepEqual(page.pageErrors, [], "uncaught errors in the page");
    } catch (e) {
      if (page) await keepEvidence(page, slug);
      throw e;
    } finally {
      if (page) await page.context().close();
      await server.dispose();
    }
  });
}

const ALERTS = [
  { type: "alert.created", payload: { title: "Password spraying on vpn-gw", severity: "high" } },
  { type: "alert.created", payload: { title: "Ransomware note dropped on fs-02", severity: "critical" } },
  { type: "alert.created", payload: { title: "Impossible travel for j.doe", severity: "medium" } },
];

scenario("shows published events newest first once connected", async ({ server, page, token }) => {
  await page.goto(`${server.origin}/?token=${encodeURIComponent(token)}`);
  await waitForStatus(page, "connected");

  const seqs = [];
  for (const ev of ALERTS) seqs.push((await server.publish(token, ev))[0].seq);
  assert.deepEqual(seqs, [1, 2, 3]);
  await waitForSeqs(page, seqs);

  const rows = await rowsOf(page);
  assert.deepEqual(rows.map((r) => r.seq), [3, 2, 1], "newest first");
  const expected = [...ALERTS].reverse();
  for (const [i, row] of rows.entries()) {
    assert.equal(row.type, expected[i].type);
    assert.equal(row.title, expected[i].payload.title);
    assert.equal(row.severity, expected[i].payload.severity);
    assert.equal(row.severityClass, `sev sev-${expected[i].payload.severity}`);
  }
  assert.equal(await page.textContent("#counts"), "3 events");
  assert.equal(await page.textContent("#status-text"), "connected");
  assert.equal(await page.textContent("#error"), "");
  assert.equal(await page.inputValue("select[name=channel]"), "all");

  await page.waitForTimeout(1300); // let the "fresh" row highlight fade before the picture
  await page.screenshot({ path: path.join(ARTIFACTS, "feed.png") });
});

scenario("resumes across a server restart without gaps or duplicates", async ({ server, page, token }) => {
  await page.goto(`${server.origin}/?token=${encodeURIComponent(token)}`);
  await waitForStatus(page, "connected");

  const published = [];
  const publish = async (title, severity) => {
    const [ack] = await server.publish(token, { type: "alert.created", payload: { title, severity } });
    published.push(ack.seq);
  };
  for (let i = 1; i <= 3; i++) await publish(`before restart ${i}`, "low");
  await waitForSeqs(page, published);

  const port = server.port;
  const exit = await server.stop(); // SIGTERM: the server closes the session with 1001
  assert.equal(exit.code, 0, `server exit ${JSON.stringify(exit)}`);
  await waitForStatus(page, "reconnecting");

  await server.start();
  assert.equal(server.port, port, "restarted on the same port");
  // Publish at once, racing the page's reconnect and resume...
  for (let i = 1; i <= 3; i++) await publish(`during reconnect ${i}`, "medium");
  await waitForStatus(page, "connected");
  // ...and after it is connected again.
  for (let i = 1; i <= 3; i++) await publish(`after reconnect ${i}`, "high");
  await waitForSeqs(page, published);

  assert.deepEqual(published, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const shown = (await rowsOf(page)).map((r) => r.seq);
  assert.deepEqual(shown, [...published].reverse(), "every seq exactly once, newest first");
  assert.equal(new Set(shown).size, shown.length, "no duplicate rows");

  const statuses = await page.evaluate(() => window.__statusLog);
  const afterFirstConnect = statuses.slice(statuses.indexOf("connected") + 1);
  assert.ok(afterFirstConnect.includes("reconnecting"), `statuses: ${statuses.join(" → ")}`);
  assert.equal(statuses[statuses.length - 1], "connected", `statuses: ${statuses.join(" → ")}`);
  assert.equal(await page.textContent("#error"), "");
});

scenario("a bad token ends disconnected with an explanation and no retry loop", async ({ server, page }) => {
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  await page.goto(`${server.origin}/?token=garbage`);
  await waitForStatus(page, "disconnected");

  const error = await page.textContent("#error");
  assert.match(error, /token/i, `#error: ${error}`);
  assert.match(error, /4001/, `#error names the close code: ${error}`);

  // Longer than the page's first few backoff delays: a retrying page would have reconnected by now.
  await sleep(4000);
  assert.equal(sockets.length, 1, `WebSocket connections: ${sockets.join(", ")}`);
  assert.equal(await page.evaluate(() => document.body.dataset.status), "disconnected");
  const statuses = await page.evaluate(() => window.__statusLog);
  assert.ok(!statuses.includes("connected") && !statuses.includes("reconnecting"), `statuses: ${statuses.join(" → ")}`);
  assert.equal(await page.locator("#events tr.event").count(), 0);
});

scenario("the channel selector shows only that channel's events", async ({ server, page, token }) => {
  await page.goto(`${server.origin}/?token=${encodeURIComponent(token)}&channel=cases`);
  await waitForStatus(page, "connected");
  assert.equal(await page.inputValue("select[name=channel]"), "cases");

  const events = [
    { type: "alert.created", payload: { title: "Alert one", severity: "high" } },
    { type: "case.created", payload: { title: "Case 7 opened", severity: "medium" } },
    { type: "detection.fired", payload: { title: "Detection rule 12", severity: "low" } },
    { type: "case.comment", payload: { title: "Comment on case 7" } },
    { type: "ueba.anomaly", payload: { title: "Odd login hours", severity: "info" } },
    { type: "case.closed", payload: { title: "Case 7 closed", severity: "info" } },
  ];
  const acks = await server.publish(token, events);
  const caseSeqs = acks.filter((_, i) => events[i].type.startsWith("case.")).map((a) => a.seq);
  assert.deepEqual(caseSeqs, [2, 4, 6]);
  // The last event published is a case event: once it is shown, everything before it has arrived.
  await waitForSeqs(page, caseSeqs);

  const rows = await rowsOf(page);
  assert.deepEqual(rows.map((r) => r.seq), [6, 4, 2]);
  assert.deepEqual(rows.map((r) => r.type), ["case.closed", "case.comment", "case.created"]);
  assert.deepEqual(rows.map((r) => r.title), ["Case 7 closed", "Comment on case 7", "Case 7 opened"]);
  assert.equal(rows[1].severity, null, "no severity: no badge");
  assert.equal(await page.textContent("#counts"), "3 events");
});

scenario("an invalid channel in the URL ends disconnected with the server's error", async ({ server, page, token }) => {
  await page.goto(`${server.origin}/?token=${encodeURIComponent(token)}&channel=Not%20A%20Channel`);
  await waitForStatus(page, "disconnected");
  assert.equal(await page.inputValue("select[name=channel]"), "Not A Channel");
  assert.match(await page.textContent("#error"), /^invalid_channel: /);
});

scenario("a reset history on the server is detected and shown from its start", async ({ server, page, token }) => {
  // Page A connects to an empty tenant, so it never learns an epoch; page B connects after the
  // first event and holds one. Both must notice the reset: A by the head going backwards, B by the
  // epoch changing.
  await page.goto(`${server.origin}/?token=${encodeURIComponent(token)}`);
  await waitForStatus(page, "connected");
  await server.publish(token, { type: "alert.created", payload: { title: "old 1", severity: "low" } });
  clearEvidence("reset-history-page-b");
  const pageB = await newPage(page.context().browser());
  try {
    await pageB.goto(`${server.origin}/?token=${encodeURIComponent(token)}`);
    await waitForStatus(pageB, "connected");
    await server.publish(token, [2, 3, 4].map((i) => ({ type: "alert.created", payload: { title: `old ${i}` } })));
    await waitForSeqs(page, [1, 2, 3, 4]);
    await waitForSeqs(pageB, [2, 3, 4]);

    await server.stop();
    await Promise.all([waitForStatus(page, "reconnecting"), waitForStatus(pageB, "reconnecting")]);
    server.wipe(); // the history is lost: same port, same key, new epoch
    await server.start();
    const acks = await server.publish(token, [1, 2].map((i) => ({ type: "case.created", payload: { title: `new ${i}` } })));
    assert.deepEqual(acks.map((a) => a.seq), [1, 2]);

    for (const p of [page, pageB]) {
      await waitForStatus(p, "connected");
      await waitForSeqs(p, [1, 2]);
      const rows = await rowsOf(p);
      assert.deepEqual(rows.map((r) => r.title), ["new 2", "new 1"]);
      assert.match(await p.textContent("#error"), /history was reset/);
      assert.deepEqual(p.pageErrors, [], "uncaught errors in page B");
    }
    // And the live stream goes on from there.
    await server.publish(token, { type: "case.created", payload: { title: "new 3" } });
    await waitForSeqs(page, [1, 2, 3]);
    await waitForSeqs(pageB, [1, 2, 3]);
  } catch (e) {
    await keepEvidence(pageB, "reset-history-page-b");
    throw e;
  } finally {
    await pageB.context().close();
  }
});
