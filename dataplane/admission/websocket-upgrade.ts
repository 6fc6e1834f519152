import { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocketServer } from "ws";
import { createWebSocketStream } from "ws";
import { ByteQueue } from "../../protocol/byte-queue.ts";
import { errorStatus, FlockError } from "../../protocol/errors.ts";
import { WS_SUBPROTOCOL } from "../../protocol/frames.ts";
import { ConnectionGone, readUntil } from "./read-until.ts";

const HEAD_END = Buffer.from("\r\n\r\n");
const CR = 0x0d;
/** RFC 6455 7.4.1: the connection closed without a close frame. */
const ABNORMAL_CLOSURE = 1006;

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);

/**
 * Reads one HTTP request head, capped before it is buffered whole: the same rule as the
 * hello frame. The head is read here rather than by node:http because the socket was
 * already sniffed (and may be a TLS socket made from it); ws only needs method, url and
 * headers, and gets the bytes after the head as `head`. Each byte is looked at once (a
 * running match of CRLF CRLF) and the head is copied once, so a head sent byte by byte
 * costs linear work.
 */
export function requestHeadReader(maxBytes: number) {
  const queued = new ByteQueue();
  /** How many bytes of HEAD_END the bytes so far end with. */
  let matched = 0;
  const tooLarge = () =>
    new FlockError("HELLO_TOO_LARGE", `The WebSocket upgrade request is larger than ${maxBytes} bytes.`);
  return (chunk: Buffer): { head: string; rest: Buffer } | undefined => {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      // After a mismatch, the longest ending that still starts HEAD_END is this byte, if a CR.
      matched = byte === HEAD_END[matched] ? matched + 1 : byte === CR ? 1 : 0;
      if (matched < HEAD_END.length) continue;
      const headBytes = queued.length + i + 1;
      if (headBytes > maxBytes) throw tooLarge();
      queued.push(chunk.subarray(0, i + 1));
      const head = queued.take(headBytes).subarray(0, headBytes - HEAD_END.length);
      return { head: asBuffer(head).toString("latin1"), rest: chunk.subarray(i + 1) };
    }
    queued.push(chunk);
    if (queued.length > maxBytes) throw tooLarge();
    return undefined;
  };
}

interface RequestHead {
  method: string;
  url: string;
  headers: Record<string, string>;
}

function parseRequestHead(head: string): RequestHead {
  const [requestLine = "", ...lines] = head.split("\r\n");
  const m = /^(GET) (\S+) HTTP\/1\.1$/.exec(requestLine);
  if (!m?.[1] || !m[2]) throw new FlockError("BAD_MAGIC", "The HTTP request line is not a WebSocket GET.");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new FlockError("BAD_MAGIC", "An HTTP header line is malformed.");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method: m[1], url: m[2], headers };
}

/** Answers a refused upgrade in HTTP, where the client can read it, with the usual {error, code} body. */
export function writeHttpRefusal(socket: Duplex, error: FlockError): void {
  const body = JSON.stringify(error.toBody());
  socket.end(
    `HTTP/1.1 ${errorStatus(error.code)} Refused\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Turns a socket that starts with `GET ` into a byte stream over WebSocket (subprotocol
 * flock.v1 required, path /). ws's createWebSocketStream pauses the socket when the
 * stream's reader falls behind, so backpressure flows through the WebSocket too.
 * Throws FlockError for requests to refuse in HTTP.
 */
export async function upgradeToWebSocket(
  socket: Duplex,
  wss: WebSocketServer,
  maxHeadBytes: number,
  signal: AbortSignal,
): Promise<Duplex> {
  const { head, rest } = await readUntil(socket, requestHeadReader(maxHeadBytes), signal);
  const request = parseRequestHead(head);
  if (request.url !== "/") throw new FlockError("NOT_FOUND", "The WebSocket endpoint is /.");
  if (request.headers.upgrade?.toLowerCase() !== "websocket") {
    throw new FlockError("BAD_MAGIC", "This port accepts WebSocket upgrades, TLS and Flock over TCP only.");
  }
  const offered = (request.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  if (!offered.includes(WS_SUBPROTOCOL)) {
    throw new FlockError("UNSUPPORTED_VERSION", `Offer the WebSocket subprotocol ${WS_SUBPROTOCOL}.`);
  }
  const message = new IncomingMessage(socket as Socket);
  message.method = request.method;
  message.url = request.url;
  message.headers = request.headers;
  return new Promise<Duplex>((resolve, reject) => {
    // ws answers a malformed upgrade itself (400) and destroys the socket; notice that.
    const onClose = () => reject(new ConnectionGone());
    socket.once("close", onClose);
    wss.handleUpgrade(message, socket, rest, (ws) => {
      socket.off("close", onClose);
      const stream = createWebSocketStream(ws);
      // The peer's end is no reason to close this side. A WebSocket has no half-close (a
      // close frame stops both directions), while the parties' end-to-end TLS carries its
      // own end (close_notify): closing here would cut off what this party is still sending.
      // The WebSocket closes when its party closes it, or when the pair ends.
      stream._final = (callback) => callback();
      // ws ends the stream on any close; a close without a close frame (1006) is a reset, not an end.
      ws.once("close", (code) => {
        if (code === ABNORMAL_CLOSURE) stream.destroy(new Error("WebSocket closed without a close frame"));
      });
      resolve(stream);
    });
  });
}
