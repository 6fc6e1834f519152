import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { SecureContext } from "node:tls";
import { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { WebSocketServer } from "ws";
import type { ErrorCode } from "../protocol/errors.ts";
import { FlockError } from "../protocol/errors.ts";
import type { RelayFrame } from "../protocol/frames.ts";
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, parseClientFrame } from "../protocol/frames.ts";
import type { Role } from "../protocol/ticket.ts";
import type { Authority, TransportProof } from "./authenticate.ts";
import { authenticate } from "./authenticate.ts";
import type { DataPlaneLimits } from "./config.ts";
import type { DataPlaneMetrics } from "./metrics.ts";
import { TLS_HANDSHAKE_FAILED } from "./metrics.ts";
import type { Pairing, PairingSide } from "./pairing.ts";
import { ConnectionGone, readUntil } from "./read-until.ts";
import type { Splice } from "./splice.ts";
import { splice } from "./splice.ts";
import { SNIFF_BYTES, transportSniffer } from "./transport-sniffer.ts";
import { upgradeToWebSocket, writeHttpRefusal } from "./websocket-upgrade.ts";

export type TransportName = "tcp" | "tls" | "ws" | "wss";

/** What a connection needs from the data plane that accepted it. */
export interface ConnectionHost {
  relayName: string;
  limits: DataPlaneLimits;
  secureContext: SecureContext;
  wss: WebSocketServer;
  authority: Authority;
  pairing: Pairing<Connection>;
  metrics: DataPlaneMetrics;
  logger: Logger;
  isDraining(): boolean;
  /** A pair formed: the host tracks it until it ends (drain, stop, metrics). */
  adoptSplice(splice: Splice, waiting: Connection, arriving: Connection): void;
  forget(connection: Connection): void;
  /** Called once, when the connection is authenticated or gone: it no longer counts as handshaking. */
  handshakeEnded(connection: Connection): void;
}

/**
 * One accepted socket, from the first byte to the end of its pair. The data path reads
 * top to bottom in `handshake`: sniff transport → challenge → hello (deadline, size cap)
 * → verify → pair; then `pairUp` splices. Every refusal is an ERROR frame (or an HTTP
 * answer before a WebSocket exists) with a stable code, then a close.
 */
export class Connection implements PairingSide {
  readonly id = randomBytes(6).toString("base64url");
  pair = "";
  self = "";
  peer = "";
  user = "";
  /** Of the relay certificate this side proved, once authenticated. */
  thumbprint = "";
  role: Role = "client";
  transport: TransportName | "unknown" = "unknown";
  /** Source IP address, for the per-address cap on connections still in their handshake. */
  readonly remoteAddress: string;

  readonly #raw: Socket;
  readonly #host: ConnectionHost;
  #log: Logger;
  #bindings: Record<string, string>;
  /** The byte stream the Flock handshake runs on, once the transport is known. */
  #stream: Duplex | undefined;
  #tls: TLSSocket | undefined;
  /** How to refuse at the current layer: frame, HTTP answer, or a bare close mid-TLS-handshake. */
  #refuse: (error: FlockError) => void;
  readonly #deadline: NodeJS.Timeout;
  readonly #decoder = new FrameDecoder();
  /** Bytes a waiting side sent before PAIRED; handed to the peer first. */
  readonly #early: Buffer[] = [];
  #stopWatching: (() => void) | undefined;
  #finished = false;
  #handshaking = true;

  constructor(raw: Socket, host: ConnectionHost) {
    this.#raw = raw;
    this.remoteAddress = raw.remoteAddress ?? "unknown";
    this.#host = host;
    this.#bindings = { conn: this.id };
    this.#log = host.logger.child(this.#bindings);
    raw.setNoDelay(true);
    raw.on("error", (error) => this.#log.debug({ err: error.message }, "socket error"));
    raw.on("close", () => this.#closed());
    this.#refuse = (error) => this.#refuseWithFrame(raw, error);
    this.#deadline = setTimeout(
      () => this.#fail(new FlockError("HELLO_TIMEOUT")),
      host.limits.helloDeadlineMs,
    );
  }

  /**
   * Adds log bindings. The child is made from the data plane's logger each time rather than
   * chained, so an idle pair holds one logger per side, not one per handshake step.
   */
  #logWith(bindings: Record<string, string>): void {
    this.#bindings = { ...this.#bindings, ...bindings };
    this.#log = this.#host.logger.child(this.#bindings);
  }

  start(): void {
    this.#handshake().catch((error: unknown) => this.#fail(error));
  }

  async #handshake(): Promise<void> {
    const stream = await this.#openTransport();
    this.#host.metrics.connections.inc({ transport: this.transport });

    const nonce = randomBytes(32).toString("base64url");
    this.#send({ type: "challenge", version: PROTOCOL_VERSION, relay: this.#host.relayName, nonce });

    // FrameDecoder checks the declared length against MAX_FRAME_BYTES before buffering the body.
    const { value } = await readUntil(stream, (chunk) => {
      this.#decoder.push(chunk);
      const next = this.#decoder.next();
      return next === undefined ? undefined : { value: next };
    });
    const hello = parseClientFrame(value);
    if (this.#host.isDraining()) throw new FlockError("DRAINING");

    const proof: TransportProof = { nonce, tlsCertificate: this.#tls?.getPeerX509Certificate() };
    const admitted = await authenticate(hello, proof, this.#host.authority);
    // Authenticated: the handshake deadline is over; from here the pairing timeout rules.
    clearTimeout(this.#deadline);
    this.#endHandshake();
    if (this.#finished) return;
    if (this.#host.isDraining()) throw new FlockError("DRAINING");
    ({
      pair: this.pair,
      self: this.self,
      peer: this.peer,
      user: this.user,
      role: this.role,
      thumbprint: this.thumbprint,
    } = admitted);
    this.#logWith({ party: this.self, pair: this.pair, mode: admitted.mode });

    if (this.#host.pairing.join(this) === "waiting") {
      this.#send({ type: "waiting" });
      this.#watchWhileWaiting(stream);
    }
  }

  /** Sniffs the first bytes and peels TLS and WebSocket off until a Flock byte stream is left. */
  async #openTransport(): Promise<Duplex> {
    const outer = await readUntil(this.#raw, transportSniffer());
    if (outer.kind === "flock") {
      unshiftIfAny(this.#raw, outer.bytes.subarray(SNIFF_BYTES));
      return this.#speakFrames(this.#raw, "tcp");
    }
    if (outer.kind === "http") {
      this.#raw.unshift(outer.bytes);
      return this.#openWebSocket(this.#raw, "ws");
    }
    if (outer.kind !== "tls") throw new FlockError("BAD_MAGIC");

    this.#raw.unshift(outer.bytes);
    const tls = await this.#startTls();
    const inner = await readUntil(tls, transportSniffer());
    if (inner.kind === "flock") {
      unshiftIfAny(tls, inner.bytes.subarray(SNIFF_BYTES));
      return this.#speakFrames(tls, "tls");
    }
    if (inner.kind === "http") {
      tls.unshift(inner.bytes);
      return this.#openWebSocket(tls, "wss");
    }
    this.#refuse = (error) => this.#refuseWithFrame(tls, error);
    throw new FlockError("BAD_MAGIC");
  }

  /**
   * TLS with the relay server certificate. A client certificate is requested but not
   * required, and not rejected by the TLS stack: a wrong one gets a clear CERT_INVALID
   * frame instead of a silent close, and clients without one prove their key in the hello.
   */
  #startTls(): Promise<TLSSocket> {
    // Mid-handshake no frame could be read by the client.
    this.#refuse = () => this.destroy();
    const tls = new TLSSocket(this.#raw, {
      isServer: true,
      secureContext: this.#host.secureContext,
      requestCert: true,
      rejectUnauthorized: false,
    });
    this.#tls = tls;
    tls.on("close", () => this.#closed());
    return new Promise((resolve, reject) => {
      const failed = (error?: Error) => {
        tls.off("secure", secured);
        tls.off("error", failed);
        tls.off("close", failed);
        this.#host.metrics.errors.inc({ code: TLS_HANDSHAKE_FAILED });
        this.#log.info({ err: error?.message }, "TLS handshake failed");
        reject(new ConnectionGone());
      };
      const secured = () => {
        tls.off("error", failed);
        tls.off("close", failed);
        tls.on("error", (error) => this.#log.debug({ err: error.message }, "TLS error"));
        resolve(tls);
      };
      tls.once("secure", secured);
      tls.once("error", failed);
      tls.once("close", failed);
    });
  }

  async #openWebSocket(socket: Duplex, transport: TransportName): Promise<Duplex> {
    this.#refuse = (error) => this.#refuseWithHttp(socket, error);
    const ws = await upgradeToWebSocket(socket, this.#host.wss, this.#host.limits.maxUpgradeRequestBytes);
    ws.on("error", (error) => this.#log.debug({ err: error.message }, "WebSocket error"));
    ws.on("close", () => this.#closed());
    // Like every other transport, the client opens with MAGIC.
    const magic = await readUntil(ws, transportSniffer());
    if (magic.kind !== "flock") {
      this.#refuse = (error) => this.#refuseWithFrame(ws, error);
      throw new FlockError("BAD_MAGIC");
    }
    unshiftIfAny(ws, magic.bytes.subarray(SNIFF_BYTES));
    return this.#speakFrames(ws, transport);
  }

  #speakFrames(stream: Duplex, transport: TransportName): Duplex {
    this.#stream = stream;
    this.transport = transport;
    this.#logWith({ transport });
    this.#refuse = (error) => this.#refuseWithFrame(stream, error);
    return stream;
  }

  /**
   * While alone, keep reading (so a side that leaves is noticed and freed) but hold at most
   * maxEarlyBytes of what it sends; past that, stop reading and let TCP push back.
   */
  #watchWhileWaiting(stream: Duplex): void {
    let held = 0;
    const onReadable = () => {
      for (
        let chunk = stream.read() as Buffer | null;
        chunk !== null;
        chunk = stream.read() as Buffer | null
      ) {
        this.#early.push(chunk);
        held += chunk.length;
        if (held >= this.#host.limits.maxEarlyBytes) {
          stream.off("readable", onReadable);
          return;
        }
      }
    };
    const onEnd = () => this.destroy();
    stream.on("readable", onReadable);
    stream.on("end", onEnd);
    this.#stopWatching = () => {
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
    };
  }

  /** Hands this side's stream over to the splice, after PAIRED and with nothing it sent lost. */
  takeStreamForSplice(peer: Connection): Duplex {
    const stream = this.#stream;
    if (!stream) throw new Error("a paired connection always has a stream");
    this.#stopWatching?.();
    this.#send({ type: "paired", peer: this.peer, role: this.role, pair: this.pair });
    this.#log.info({ peerConn: peer.id, peerTransport: peer.transport }, "paired");
    const pending = Buffer.concat([this.#decoder.rest(), ...this.#early]);
    this.#early.length = 0;
    unshiftIfAny(stream, pending);
    return stream;
  }

  get log(): Logger {
    return this.#log;
  }

  /** PairingSide: refuse with an ERROR frame (REPLACED, PEER_TIMEOUT, DRAINING, PARTY_REVOKED). */
  fail(code: ErrorCode): void {
    this.#fail(new FlockError(code));
  }

  destroy(): void {
    this.#stream?.destroy();
    this.#tls?.destroy();
    this.#raw.destroy();
  }

  /** Abrupt close: RST on the TCP connection under any transport. */
  reset(): void {
    if (!this.#raw.destroyed) {
      try {
        this.#raw.resetAndDestroy();
      } catch {
        this.#raw.destroy();
      }
    }
    this.#stream?.destroy();
  }

  #fail(error: unknown): void {
    if (this.#finished) return;
    clearTimeout(this.#deadline);
    if (error instanceof ConnectionGone) {
      this.destroy();
      return;
    }
    this.#finished = true;
    this.#stopWatching?.();
    this.#host.pairing.leave(this);
    const refusal = error instanceof FlockError ? error : new FlockError("INTERNAL");
    if (!(error instanceof FlockError)) this.#log.error({ err: error }, "handshake bug");
    this.#host.metrics.errors.inc({ code: refusal.code });
    this.#log.info({ code: refusal.code, transport: this.transport }, "refused");
    this.#refuse(refusal);
  }

  #send(frame: RelayFrame): void {
    this.#stream?.write(encodeFrame(frame));
  }

  /**
   * ERROR frame, then end. The relay keeps draining input for errorLingerMs: closing a
   * socket with unread bytes makes the kernel send a RST, which can destroy the frame
   * before the client reads it.
   */
  #refuseWithFrame(stream: Duplex, error: FlockError): void {
    this.#discardInput(stream);
    stream.end(encodeFrame({ type: "error", code: error.code, message: error.message }));
  }

  #refuseWithHttp(socket: Duplex, error: FlockError): void {
    this.#discardInput(socket);
    writeHttpRefusal(socket, error);
  }

  #discardInput(stream: Duplex): void {
    stream.removeAllListeners("readable");
    stream.resume();
    const linger = setTimeout(() => this.destroy(), this.#host.limits.errorLingerMs);
    this.#raw.once("close", () => clearTimeout(linger));
  }

  #endHandshake(): void {
    if (!this.#handshaking) return;
    this.#handshaking = false;
    this.#host.handshakeEnded(this);
  }

  #closed(): void {
    clearTimeout(this.#deadline);
    this.#endHandshake();
    if (!this.#finished) {
      this.#finished = true;
      this.#host.pairing.leave(this);
    }
    this.#host.forget(this);
  }

  /** Marks the handshake part of this connection's life as over (it is now a spliced side). */
  markSpliced(): void {
    this.#finished = true;
  }
}

function unshiftIfAny(stream: Duplex, bytes: Uint8Array): void {
  if (bytes.length > 0) stream.unshift(bytes);
}

/** Both sides are here: PAIRED to each, then bytes flow. Called by Pairing. */
export function pairUp(waiting: Connection, arriving: Connection, host: ConnectionHost): void {
  const a = waiting.takeStreamForSplice(arriving);
  const b = arriving.takeStreamForSplice(waiting);
  waiting.markSpliced();
  arriving.markSpliced();
  const spliced = splice(
    { stream: a, reset: () => waiting.reset() },
    { stream: b, reset: () => arriving.reset() },
    { idleTimeoutMs: host.limits.idleTimeoutMs },
  );
  host.adoptSplice(spliced, waiting, arriving);
}
