import * as net from "node:net";
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import { createWebSocketStream, WebSocket } from "ws";
import { FlockError } from "../protocol/errors.ts";
import { WS_SUBPROTOCOL } from "../protocol/frames.ts";
import { parseRelayUri, relayUri } from "../protocol/names.ts";
import { WS_MAX_MESSAGE_BYTES } from "../protocol/wire.ts";
import { sanUris } from "./identity.ts";

export const TRANSPORTS = ["tcp", "tls", "ws", "wss"] as const;
export type Transport = (typeof TRANSPORTS)[number];
/**
 * TCP by default: the end-to-end mTLS is the only encryption needed, so bytes are
 * encrypted once. TLS and WSS add the relay certificate check at the cost of a second layer.
 */
export const DEFAULT_TRANSPORT: Transport = "tcp";
/** Reaching one data plane address, including its TLS or WebSocket handshake. */
export const DIAL_TIMEOUT_MS = 10_000;

export function isTransport(value: unknown): value is Transport {
  return typeof value === "string" && (TRANSPORTS as readonly string[]).includes(value);
}

export interface RelayAddress {
  /**
   * Relay name: its server certificate must carry `urn:flock:relay:<name>`. Undefined only
   * in direct mode without a known name: then any relay certificate of the relay CA will do.
   */
  name: string | undefined;
  host: string;
  port: number;
}

/** Client credentials for the TLS and WSS legs: the party's relay certificate. */
export interface RelayCredentials {
  relayCa: string;
  relayCert: string;
  relayKey: string;
}

/**
 * A byte stream to a data plane. `bytesRead`, as on net.Socket, counts what came from it
 * whoever reads it (the end-to-end TLS), so a setup can tell a silent path from a slow one
 * (setup-silence.ts).
 */
export type RelayStream = Duplex & { readonly bytesRead: number };

/** Opens a byte stream to a data plane; the Flock handshake runs on it next. */
export async function dialRelay(
  address: RelayAddress,
  transport: Transport,
  credentials: RelayCredentials,
  timeoutMs: number = DIAL_TIMEOUT_MS,
): Promise<RelayStream> {
  switch (transport) {
    case "tcp":
      return dialTcp(address, timeoutMs);
    case "tls":
      return dialTls(address, credentials, timeoutMs);
    case "ws":
    case "wss":
      return dialWebSocket(address, transport, credentials, timeoutMs);
  }
}

/** A data plane as a ticket names it: every host it may be reached at, one port for every transport. */
export interface RelayHosts {
  name: string | undefined;
  hosts: string[];
  port: number;
}

/** Hosts are tried in the worker's order; the first that answers is used. `opened` sees each stream made. */
export async function dialAnyHost(
  relay: RelayHosts,
  transport: Transport,
  credentials: RelayCredentials,
  opened: (stream: Duplex) => void,
): Promise<{ stream: RelayStream; host: string }> {
  let lastError: unknown;
  for (const host of relay.hosts) {
    try {
      const stream = await dialRelay({ name: relay.name, host, port: relay.port }, transport, credentials);
      opened(stream);
      return { stream, host };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError ?? new FlockError("DIAL_FAILED", `Data plane ${relay.name} has no address.`);
}

function dialFailed(address: RelayAddress, transport: Transport, cause: unknown): FlockError {
  const reason = cause instanceof Error ? `: ${cause.message}` : "";
  return new FlockError(
    "DIAL_FAILED",
    `Could not reach data plane${address.name ? ` ${address.name}` : ""} at ${address.host}:${address.port} over ${transport}${reason}.`,
    { cause },
  );
}

/**
 * The relay is authenticated by name, not by host: a data plane may sit behind an address
 * that is not in its certificate, but only the relay CA can issue `urn:flock:relay:<name>`.
 */
function checkRelayIdentity(relay: string | undefined) {
  return (_host: string, cert: tls.PeerCertificate): Error | undefined => {
    const uris = sanUris(cert.subjectaltname);
    if (
      relay === undefined ? uris.some((u) => parseRelayUri(u) !== undefined) : uris.includes(relayUri(relay))
    ) {
      return undefined;
    }
    return new Error(`the data plane certificate does not name ${relayUri(relay ?? "<name>")}`);
  };
}

/**
 * ALPN names what runs inside the TLS. The data plane needs no answer to it: offering one
 * tells it this is no client of the original relay (those offer none), so it keeps its
 * native TLS path (docs/data-plane.md "The original relay's protocol").
 */
const ALPN = { tls: ["flock"], wss: ["http/1.1"] } as const;

function tlsOptions(
  address: RelayAddress,
  credentials: RelayCredentials,
  transport: "tls" | "wss",
): tls.ConnectionOptions {
  return {
    ca: credentials.relayCa,
    cert: credentials.relayCert,
    key: credentials.relayKey,
    ALPNProtocols: [...ALPN[transport]],
    // SNI must be a host name; an IP address there is refused by some servers.
    ...(isIP(address.host) ? {} : { servername: address.host }),
    checkServerIdentity: checkRelayIdentity(address.name),
  };
}

/** Resolves once `ready` fires; an error, close or timeout first rejects and destroys the socket. */
function whenReady(
  socket: net.Socket,
  ready: string,
  address: RelayAddress,
  transport: Transport,
  timeoutMs: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const fail = (cause: unknown) => {
      cleanup();
      socket.destroy();
      reject(dialFailed(address, transport, cause));
    };
    const onError = (error: Error) => fail(error);
    const onClose = () => fail(new Error("connection closed"));
    const onTimeout = () => fail(new Error(`no answer within ${timeoutMs} ms`));
    const onReady = () => {
      cleanup();
      socket.setTimeout(0);
      resolve(socket);
    };
    const cleanup = () => {
      socket.off("error", onError).off("close", onClose).off("timeout", onTimeout).off(ready, onReady);
    };
    socket.setTimeout(timeoutMs);
    socket.once("error", onError).once("close", onClose).once("timeout", onTimeout).once(ready, onReady);
  });
}

function dialTcp(address: RelayAddress, timeoutMs: number): Promise<net.Socket> {
  const socket = net.connect({ host: address.host, port: address.port });
  socket.setNoDelay(true);
  return whenReady(socket, "connect", address, "tcp", timeoutMs);
}

function dialTls(
  address: RelayAddress,
  credentials: RelayCredentials,
  timeoutMs: number,
): Promise<net.Socket> {
  const socket = tls.connect({
    host: address.host,
    port: address.port,
    ...tlsOptions(address, credentials, "tls"),
  });
  socket.setNoDelay(true);
  return whenReady(socket, "secureConnect", address, "tls", timeoutMs);
}

function webSocketUrl(address: RelayAddress, transport: "ws" | "wss"): string {
  const host = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
  return `${transport}://${host}:${address.port}/`;
}

function dialWebSocket(
  address: RelayAddress,
  transport: "ws" | "wss",
  credentials: RelayCredentials,
  timeoutMs: number,
): Promise<RelayStream> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(webSocketUrl(address, transport), WS_SUBPROTOCOL, {
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
      ...(transport === "wss" ? tlsOptions(address, credentials, "wss") : {}),
    });
    const fail = (cause: unknown) => {
      ws.off("open", onOpen);
      ws.terminate();
      reject(dialFailed(address, transport, cause));
    };
    const onError = (error: Error) => fail(error);
    const onOpen = () => {
      ws.off("error", onError);
      if (ws.protocol !== WS_SUBPROTOCOL) {
        fail(new Error(`the server did not accept subprotocol ${WS_SUBPROTOCOL}`));
        return;
      }
      resolve(webSocketByteStream(ws));
    };
    ws.once("error", onError).once("open", onOpen);
  });
}

/** RFC 6455 section 7.1.5: the connection closed and no close frame was received. */
const WS_CLOSED_ABNORMALLY = 1006;

/**
 * The WebSocket as a byte stream for the end-to-end TLS, counting what it received
 * (`bytesRead`, RelayStream). Four changes to `ws`'s stream:
 * writes are cut to WS_MAX_MESSAGE_BYTES; ending the write side does not close the
 * WebSocket; destroying it without an error closes the WebSocket with a close frame
 * instead of dropping the TCP connection; and a close without a close frame is an error. A WebSocket has no half-close (closing ends both
 * directions); the TLS carries its own (close_notify), so the socket closes when the TLS
 * socket on top destroys this stream, once both directions are done, and the peer's answer
 * to an `end()` still arrives. `ws` would terminate there: the socket closes with the last
 * megabytes still in its buffers, the relay sees a reset and passes it on, and the peer
 * loses the tail of the stream.
 * @internal Tests use it; the SDK's API is the byte stream `dialRelay` returns.
 */
export function webSocketByteStream(ws: WebSocket): RelayStream {
  let received = 0;
  ws.on("message", (data: Buffer) => {
    received += data.length;
  });
  const stream = Object.defineProperty(createWebSocketStream(ws), "bytesRead", {
    get: () => received,
  }) as RelayStream;
  // Ahead of ws's own listener, which would end the stream: a WebSocket that closes without a
  // close frame (1006: the TCP connection dropped, a relay or a crash cut it) is an error,
  // never a clean end of the bytes.
  ws.prependOnceListener("close", (code: number) => {
    if (code !== WS_CLOSED_ABNORMALLY || stream.destroyed) return;
    stream.destroy(
      new FlockError(
        "PEER_CLOSED",
        "The WebSocket to the data plane closed without a close frame (1006): the connection was cut.",
      ),
    );
  });
  const destroyNow = stream._destroy.bind(stream);
  stream._destroy = (error, callback) => {
    if (error !== null || ws.readyState !== WebSocket.OPEN) {
      destroyNow(error, callback);
      return;
    }
    // Queued after every data frame; once the relay answers, `ws` ends the socket itself
    // and the stream's own destroy finds it CLOSED (ws.close() gives up after 30 s).
    ws.once("close", () => destroyNow(null, callback));
    ws.close(1000);
  };
  const sendOne = stream._write.bind(stream);
  stream._write = (chunk: Buffer, encoding, callback) => {
    if (chunk.length <= WS_MAX_MESSAGE_BYTES) {
      sendOne(chunk, encoding, callback);
      return;
    }
    // ws queues sends in order; the write is done when its last piece is.
    let pending = Math.ceil(chunk.length / WS_MAX_MESSAGE_BYTES);
    let failed = false;
    for (let offset = 0; offset < chunk.length; offset += WS_MAX_MESSAGE_BYTES) {
      sendOne(chunk.subarray(offset, offset + WS_MAX_MESSAGE_BYTES), encoding, (error?: Error | null) => {
        if (failed) return;
        if (error) {
          failed = true;
          callback(error);
        } else if (--pending === 0) callback();
      });
    }
  };
  stream._final = (callback) => callback();
  return stream;
}
