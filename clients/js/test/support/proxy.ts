// A TCP proxy between a feed and the server that can break things: cut every open connection
// (the client sees the TCP connection end without a close frame), freeze them (nothing is
// forwarded either way, sockets stay open: heartbeats stop), refuse new ones, or refuse
// WebSocket upgrades only (as a proxy that does not speak WebSocket). It records the request
// head of every connection, so tests can check what the client sent (e.g. `Last-Event-ID`).

import net from "node:net";

interface Pair {
  down: net.Socket;
  up: net.Socket | null;
  frozen: boolean;
}

export class Proxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #refusing = false;
  #blockWebSocket = false;
  /** Connections accepted so far (refused ones included). */
  accepted = 0;
  /** The request head (request line and headers) of every connection, in order. */
  readonly requests: string[] = [];
  port = 0;

  private constructor(readonly upstreamPort: number) {
    this.#server = net.createServer((down) => this.#accept(down));
  }

  static async start(upstreamPort: number): Promise<Proxy> {
    const p = new Proxy(upstreamPort);
    await new Promise<void>((resolve) => p.#server.listen(0, "127.0.0.1", resolve));
    p.port = (p.#server.address() as net.AddressInfo).port;
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Drops every open connection. */
  cut(): void {
    for (const p of this.#pairs) {
      p.down.destroy();
      p.up?.destroy();
    }
    this.#pairs.clear();
  }

  /** Open connections stop forwarding in both directions; their sockets stay open. */
  freeze(): void {
    for (const p of this.#pairs) p.frozen = true;
  }

  /** While true, new connections are accepted and closed at once. */
  refuse(on: boolean): void {
    this.#refusing = on;
  }

  /** While true, WebSocket upgrade requests get `403` and are closed; other requests pass. */
  blockWebSocket(on: boolean): void {
    this.#blockWebSocket = on;
  }

  /** Open connections. */
  get open(): number {
    return this.#pairs.size;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(down: net.Socket): void {
    this.accepted += 1;
    down.on("error", () => {});
    if (this.#refusing) {
      down.destroy();
      return;
    }
    const pair: Pair = { down, up: null, frozen: false };
    this.#pairs.add(pair);
    const drop = (): void => {
      this.#pairs.delete(pair);
      down.destroy();
      pair.up?.destroy();
    };
    down.on("close", drop);
    // Request heads are read from everything the client sends until a WebSocket upgrade:
    // a keep-alive connection may carry several HTTP requests (bodies are skipped by length).
    let pending = Buffer.alloc(0);
    let bodyLeft = 0;
    let upgraded = false;
    const scan = (chunk: Buffer): boolean => {
      if (upgraded) return true;
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, pending.length);
          bodyLeft -= n;
          pending = pending.subarray(n);
          if (bodyLeft > 0) return true;
        }
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return true;
        const text = pending.subarray(0, end).toString("latin1");
        pending = pending.subarray(end + 4);
        this.requests.push(text);
        if (/^upgrade:\s*websocket/im.test(text)) {
          if (this.#blockWebSocket) {
            down.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            this.#pairs.delete(pair);
            return false;
          }
          upgraded = true;
          return true;
        }
        bodyLeft = Number(/^content-length:\s*(\d+)/im.exec(text)?.[1] ?? 0);
      }
    };
    const up = net.connect(this.upstreamPort, "127.0.0.1");
    pair.up = up;
    up.on("error", () => drop());
    // The server ended its side: pass the end on after what it sent.
    up.on("end", () => down.end());
    up.on("close", () => {
      this.#pairs.delete(pair);
      if (!down.writableEnded) down.destroy();
    });
    down.on("data", (c: Buffer) => {
      if (pair.frozen) return;
      if (scan(c)) up.write(c);
      else up.destroy();
    });
    up.on("data", (c: Buffer) => {
      if (!pair.frozen) down.write(c);
    });
  }
}
