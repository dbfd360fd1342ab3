// @vitest-environment jsdom
// The React hook in a DOM (jsdom, @testing-library/react) against the real server, with the `ws`
// package as the WebSocket: the seed's call shape, newest first, a bounded buffer, the status dot.

import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { StrictMode } from "react";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";

import { SocFeedProvider, statusColor, useRealtimeEvents, useRealtimeFeed } from "../src/react.js";
import { FAST, NodeWebSocket } from "./support/feed.js";
import { Proxy } from "./support/proxy.js";
import { Server, sleep } from "./support/server.js";

let server: Server;
let token: string;

beforeEach(async () => {
  server = await new Server("react").start();
  token = server.token();
});

afterEach(async () => {
  cleanup();
  await server.dispose();
});

/** The seed's component: `const events = useRealtimeEvents(["alert.created", "alert.updated"]);` */
function AlertList(): React.JSX.Element {
  const events = useRealtimeEvents(["alert.created", "alert.updated"]);
  return (
    <div data-testid="feed" data-status={events.status.state} data-dot={statusColor(events.status)}>
      <ul>
        {events.map((e) => (
          <li key={e.seq} data-seq={e.seq}>
            {e.type}: {String(e.payload.title)}
          </li>
        ))}
      </ul>
      {events.error ? <p role="alert">{events.error.message}</p> : null}
    </div>
  );
}

const feedEl = (): HTMLElement => screen.getByTestId("feed");
const seqsShown = (): number[] => [...feedEl().querySelectorAll("li")].map((li) => Number(li.dataset.seq));
const WAIT = { timeout: 15_000 };

async function publish(events: { type: string; payload: Record<string, unknown> }[]): Promise<void> {
  await act(async () => {
    await server.publish(token, events);
  });
}

describe("useRealtimeEvents", () => {
  it("keeps the seed's call shape: typed events, newest first, with a status (one shared connection)", async () => {
    const proxy = await Proxy.start(server.port);
    onTestFinished(() => proxy.close());
    const options = { url: proxy.url, token, WebSocketImpl: NodeWebSocket, backoff: FAST };
    // StrictMode mounts, unmounts and mounts again: still one working connection.
    render(
      <StrictMode>
        <SocFeedProvider options={options}>
          <AlertList />
        </SocFeedProvider>
      </StrictMode>,
    );
    expect(["connecting", "connected"]).toContain(feedEl().dataset.status);
    await waitFor(() => expect(feedEl().dataset.status).toBe("connected"), WAIT);
    expect(feedEl().dataset.dot).toBe("green");
    await waitFor(() => expect(proxy.open).toBe(1), WAIT);

    await publish([
      { type: "alert.created", payload: { title: "Password spraying on vpn-gw" } },
      { type: "case.created", payload: { title: "Case 7" } },
      { type: "alert.updated", payload: { title: "Password spraying on vpn-gw (escalated)" } },
      { type: "alert.closed", payload: { title: "closed" } },
    ]);
    await waitFor(() => expect(seqsShown()).toEqual([3, 1]), WAIT);
    expect([...feedEl().querySelectorAll("li")].map((li) => li.textContent)).toEqual([
      "alert.updated: Password spraying on vpn-gw (escalated)",
      "alert.created: Password spraying on vpn-gw",
    ]);

    // The server goes away: yellow; it comes back: green, and nothing is missed.
    await act(async () => {
      await server.stop();
    });
    await waitFor(() => expect(feedEl().dataset.status).toBe("reconnecting"), WAIT);
    expect(feedEl().dataset.dot).toBe("yellow");
    await act(async () => {
      await server.start();
    });
    await waitFor(() => expect(feedEl().dataset.status).toBe("connected"), WAIT);
    await publish([{ type: "alert.created", payload: { title: "Ransomware note dropped on fs-02" } }]);
    await waitFor(() => expect(seqsShown()).toEqual([5, 3, 1]), WAIT);
  });

  it("bounds the buffer, and connects on its own when given url and token", async () => {
    function Last3(): React.JSX.Element {
      const events = useRealtimeEvents(["alert.created"], {
        url: server.origin,
        token: () => token,
        WebSocketImpl: NodeWebSocket,
        limit: 3,
      });
      return (
        <div data-testid="feed" data-status={events.status.state}>
          <ul>
            {events.map((e) => (
              <li key={e.seq} data-seq={e.seq} />
            ))}
          </ul>
        </div>
      );
    }
    render(<Last3 />);
    await waitFor(() => expect(feedEl().dataset.status).toBe("connected"), WAIT);
    for (let i = 0; i < 5; i++) await publish([{ type: "alert.created", payload: { i } }]);
    await waitFor(() => expect(seqsShown()).toEqual([5, 4, 3]), WAIT);
  });

  it("shows a refused token as disconnected (red) with the auth error, without retrying", async () => {
    const forged = new Server("react-forger").token();
    const proxy = await Proxy.start(server.port);
    try {
      render(
        <SocFeedProvider options={{ url: proxy.url, token: forged, WebSocketImpl: NodeWebSocket, backoff: FAST }}>
          <AlertList />
        </SocFeedProvider>,
      );
      await waitFor(() => expect(feedEl().dataset.status).toBe("disconnected"), WAIT);
      expect(feedEl().dataset.dot).toBe("red");
      expect(screen.getByRole("alert").textContent).toMatch(/not authorised \(4001\)/);
      await act(() => sleep(500));
      expect(proxy.requests.length).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});

describe("useRealtimeFeed", () => {
  it("returns {events, status}, and closes its connection on unmount", async () => {
    const proxy = await Proxy.start(server.port);
    try {
      function Feed(): React.JSX.Element {
        const { events, status } = useRealtimeFeed(null, {
          url: proxy.url,
          token,
          dialect: "govern",
          WebSocketImpl: NodeWebSocket,
          since: 0,
        });
        return (
          <div data-testid="feed" data-status={status.state} data-transport={status.transport ?? ""}>
            <ul>
              {events.map((e) => (
                <li key={e.seq} data-seq={e.seq} />
              ))}
            </ul>
          </div>
        );
      }
      await server.publish(token, [
        { type: "alert.new", payload: { severity: "high" } },
        { type: "system.score_changed", payload: {} },
      ]);
      const view = render(<Feed />);
      await waitFor(() => expect(seqsShown()).toEqual([2, 1]), WAIT);
      expect(feedEl().dataset.status).toBe("connected");
      expect(feedEl().dataset.transport).toBe("websocket");
      expect(proxy.open).toBe(1);
      view.unmount();
      await waitFor(() => expect(proxy.open).toBe(0), WAIT);
    } finally {
      await proxy.close();
    }
  });
});
