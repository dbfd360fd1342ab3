// Server-Sent Events without EventSource: a parser for the `text/event-stream` format (the
// WHATWG rules: lines end with CRLF, LF or CR; `event`, `data`, `id`, `retry`; comments) and a
// reader on top of `fetch` streaming. fetch lets the client send `Authorization` and
// `Last-Event-ID` headers, and receive events of any name (an EventSource only hands out the
// names it has listeners for).

export interface SseMessage {
  /** `event:`, or `message` when absent. */
  type: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen on the stream (the seq, on socfeed's feed). */
  lastEventId: string;
}

/** An incremental `text/event-stream` parser: feed it text, get whole messages back. */
export class SseParser {
  #buffer = "";
  #first = true;
  #pendingCr = false;
  #type = "";
  #data: string[] = [];
  #hasData = false;
  #lastEventId = "";
  /** The last `retry:` value, ms. */
  retry: number | null = null;

  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Parses a chunk of decoded text; returns the messages it completes. */
  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (this.#first && text.length > 0) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR that ended the last chunk was a line end; a LF right after it belongs to it.
    if (this.#pendingCr) {
      this.#pendingCr = false;
      if (text.startsWith("\n")) text = text.slice(1);
    }
    this.#buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.#buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < this.#buffer.length) {
          if (this.#buffer.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#pendingCr = true;
        }
      }
      start = i + 1;
      const msg = this.#line(line);
      if (msg) out.push(msg);
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  #line(line: string): SseMessage | null {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data.push(value);
        this.#hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  #dispatch(): SseMessage | null {
    const msg = this.#hasData
      ? { type: this.#type || "message", data: this.#data.join("\n"), lastEventId: this.#lastEventId }
      : null;
    this.#type = "";
    this.#data = [];
    this.#hasData = false;
    return msg;
  }
}

/** A `fetch`-compatible function (the global one, or an injected one). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * Reads an SSE response body to its end, calling `onMessage` for each message and `onChunk` for
 * any bytes at all (the watchdog counts them as life). Resolves when the stream ends; rejects
 * when reading fails (including an abort).
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onChunk: () => void,
  onMessage: (msg: SseMessage) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk();
      for (const msg of parser.push(decoder.decode(value, { stream: true }))) onMessage(msg);
    }
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // already released or errored
    }
  }
}
