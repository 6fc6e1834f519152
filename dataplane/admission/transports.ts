import type { X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import type { SecureContext } from "node:tls";
import { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { WebSocketServer } from "ws";
import { FlockError } from "../../protocol/errors.ts";
import type { Connection } from "../connection.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import { TLS_HANDSHAKE_FAILED } from "../metrics.ts";
import { TlsRecordGate } from "../tls-record-gate.ts";
import type { FrelayTransport } from "./frelay-transport.ts";
import { mayBeFrelay, readClientHello, startsFrelay } from "./frelay-transport.ts";
import { ConnectionGone, readUntil } from "./read-until.ts";
import type { RefusalLayer } from "./refusal.ts";
import { at, Refusal } from "./refusal.ts";
import type { SniffResult } from "./transport-sniffer.ts";
import { SNIFF_BYTES, transportSniffer } from "./transport-sniffer.ts";
import { upgradeToWebSocket } from "./websocket-upgrade.ts";

/** Flock's own four, and the original relay's protocol (TLS up to its first record, then raw TCP). */
export type TransportName = "tcp" | "tls" | "ws" | "wss" | "frelay";

/** A transport peeled down to the byte stream a Flock party speaks frames on, MAGIC read. */
export interface FramedTransport {
  name: Exclude<TransportName, "frelay">;
  stream: Duplex;
  /** On tls and wss: the client certificate the TLS handshake received, if any. */
  tlsCertificate?: X509Certificate;
}

export interface TransportContext {
  secureContext: SecureContext;
  wss: WebSocketServer;
  maxUpgradeRequestBytes: number;
  metrics: DataPlaneMetrics;
}

const frames = (stream: Duplex): RefusalLayer => ({ speaks: "frames", stream });

/**
 * Sniffs the first bytes and peels TLS and WebSocket off until a Flock byte stream is
 * left: tcp (MAGIC), ws (GET), tls (0x16, then MAGIC inside) and wss (0x16, then GET); or
 * frelay (0x16, then a JSON object inside), whose TLS may be left mid-stream.
 * Throws a Refusal told on the layer reached, or ConnectionGone.
 */
export async function openTransport(
  connection: Connection,
  context: TransportContext,
  signal: AbortSignal,
): Promise<FramedTransport | FrelayTransport> {
  const raw = connection.socket;
  const outer = await at(frames(raw), readUntil(raw, transportSniffer(), signal));
  if (outer.kind === "flock") return speakFrames(raw, outer, "tcp");
  if (outer.kind === "http") {
    raw.unshift(outer.bytes);
    return openWebSocket(connection, raw, "ws", context, signal);
  }
  if (outer.kind !== "tls") throw new Refusal(new FlockError("BAD_MAGIC"), frames(raw));

  raw.unshift(outer.bytes);
  // Only a hello that could be the original relay's client pays for the gate (a TLS engine
  // over a JS stream, docs/coming-from-frelay.md); Flock's SDK names itself in ALPN.
  const hello = await at({ speaks: "nothing" }, readClientHello(raw, signal));
  const gate = hello && mayBeFrelay(hello) ? new TlsRecordGate(raw) : undefined;
  const tls = await startTls(connection, gate, context, signal);
  const tlsCertificate = tls.getPeerX509Certificate();
  if (gate) {
    const first = await at(
      { speaks: "nothing" },
      readUntil(tls, (chunk) => chunk, signal),
    );
    tls.unshift(first);
    if (startsFrelay(first)) return { name: "frelay", tls, gate, tlsCertificate };
    gate.open();
  }
  const inner = await at(frames(tls), readUntil(tls, transportSniffer(), signal));
  if (inner.kind === "flock") return { ...speakFrames(tls, inner, "tls"), tlsCertificate };
  if (inner.kind === "http") {
    tls.unshift(inner.bytes);
    return { ...(await openWebSocket(connection, tls, "wss", context, signal)), tlsCertificate };
  }
  // Any other protocol carried on TLS is told apart here, by its first application bytes.
  throw new Refusal(new FlockError("BAD_MAGIC"), frames(tls));
}

/** MAGIC was read: what came behind it is the start of the hello. */
function speakFrames(stream: Duplex, sniffed: SniffResult, name: FramedTransport["name"]): FramedTransport {
  const rest = sniffed.bytes.subarray(SNIFF_BYTES);
  if (rest.length > 0) stream.unshift(rest);
  return { name, stream };
}

/**
 * Logs a layer's errors for as long as it lives (at debug: a pair's end counts its reset).
 * A function of its own, so the listener holds the logger and not the handshake's scope
 * (its certificate, deadline, closures), which an idle pair would otherwise keep.
 */
function logErrors(layer: Duplex, log: Logger, message: string): void {
  layer.on("error", (error) => log.debug({ err: error.message }, message));
}

/**
 * TLS with the relay server certificate. A client certificate is requested but not
 * required, and not rejected by the TLS stack: a wrong one gets a clear CERT_INVALID
 * frame instead of a silent close, and clients without one prove their key in the hello.
 * Mid-handshake no frame could be read by the client, so a refusal here says nothing.
 */
function startTls(
  connection: Connection,
  gate: TlsRecordGate | undefined,
  context: TransportContext,
  signal: AbortSignal,
): Promise<TLSSocket> {
  const tls = new TLSSocket(gate ?? connection.socket, {
    isServer: true,
    secureContext: context.secureContext,
    requestCert: true,
    rejectUnauthorized: false,
  });
  gate?.watch(tls);
  connection.addLayer(tls);
  const log: Logger = connection.log;
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      tls.off("secure", secured);
      tls.off("error", failed);
      tls.off("close", failed);
      signal.removeEventListener("abort", timedOut);
    };
    const failed = (error?: Error) => {
      cleanup();
      context.metrics.errors.inc({ code: TLS_HANDSHAKE_FAILED });
      log.info({ err: error?.message }, "TLS handshake failed");
      reject(new ConnectionGone());
    };
    const timedOut = () => {
      cleanup();
      reject(new Refusal(signal.reason, { speaks: "nothing" }));
    };
    const secured = () => {
      cleanup();
      logErrors(tls, log, "TLS error");
      resolve(tls);
    };
    tls.once("secure", secured);
    tls.once("error", failed);
    tls.once("close", failed);
    signal.addEventListener("abort", timedOut, { once: true });
  });
}

/** An HTTP upgrade to WebSocket (refused in HTTP), then MAGIC inside it, as on every transport. */
async function openWebSocket(
  connection: Connection,
  socket: Duplex,
  name: FramedTransport["name"],
  context: TransportContext,
  signal: AbortSignal,
): Promise<FramedTransport> {
  const ws = await at(
    { speaks: "http", socket },
    upgradeToWebSocket(socket, context.wss, context.maxUpgradeRequestBytes, signal),
  );
  connection.addLayer(ws);
  logErrors(ws, connection.log, "WebSocket error");
  const magic = await at(frames(ws), readUntil(ws, transportSniffer(), signal));
  if (magic.kind !== "flock") throw new Refusal(new FlockError("BAD_MAGIC"), frames(ws));
  return speakFrames(ws, magic, name);
}
