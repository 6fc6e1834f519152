/**
 * A minimal party side of the data plane handshake, for tests only (the real client is
 * client/). It dials any transport, runs MAGIC → challenge → hello, and hands back the
 * spliced byte stream with nothing lost.
 */
import type { NetConnectOpts, Socket } from "node:net";
import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { createWebSocketStream, WebSocket } from "ws";
import { ConnectionGone, readUntil } from "../../dataplane/admission/read-until.ts";
import { sha256, toBase64Url } from "../../protocol/encoding.ts";
import type { ChallengeFrame, ClientFrame, PairedFrame, RelayFrame } from "../../protocol/frames.ts";
import { encodeFrame, FrameDecoder, MAGIC, parseRelayFrame, WS_SUBPROTOCOL } from "../../protocol/frames.ts";
import type { DataPlaneFixtures, Issued, Party } from "./dataplane-fixtures.ts";
import { certField, proofSignature } from "./dataplane-fixtures.ts";

export const TRANSPORTS = ["tcp", "tls", "ws", "wss"] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface DialOptions {
  transport: Transport;
  port: number;
  relayCaPem: string;
  /** Presented as the TLS client certificate on tls and wss. */
  tlsIdentity?: Issued;
}

/** A dialed transport: the byte stream, plus what lies under it for tests that break it. */
export interface Dialed {
  stream: Duplex;
  /** Resolves when the underlying connection is gone (TCP socket or WebSocket closed). */
  gone: Promise<void>;
  /** Tears the connection down abruptly: a TCP RST, or a WebSocket dropped without a close frame. */
  abort(): void;
  /** How the TCP connection under the transport ended: reset by the relay (ECONNRESET), or cleanly. */
  tcpEnd: Promise<"reset" | "clean">;
}

const whenClosed = (emitter: { once(event: "close", f: () => void): unknown }) =>
  new Promise<void>((resolve) => emitter.once("close", () => resolve()));

/** The first sign of the relay's end: a FIN ('end', or a close without error) or a RST. */
function whenTcpEnds(socket: Socket): Promise<"reset" | "clean"> {
  return new Promise((resolve) => {
    let reset = false;
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET") reset = true;
    });
    socket.once("end", () => resolve("clean"));
    socket.once("close", () => resolve(reset ? "reset" : "clean"));
  });
}

/** Opens the transport; resolves once bytes can be written (TLS handshake and WebSocket upgrade done). */
export async function openTransport(options: DialOptions): Promise<Dialed> {
  const { transport, port, relayCaPem, tlsIdentity } = options;
  const tlsOptions = {
    ca: relayCaPem,
    servername: "localhost",
    ...(tlsIdentity ? { cert: tlsIdentity.certPem, key: tlsIdentity.keyPem } : {}),
  };
  if (transport === "tcp" || transport === "tls") {
    const raw = netConnect({ host: "127.0.0.1", port, allowHalfOpen: true, noDelay: true });
    await new Promise((resolve, reject) => raw.once("connect", resolve).once("error", reject));
    const gone = whenClosed(raw);
    const abort = () => raw.resetAndDestroy();
    if (transport === "tcp") return { stream: raw, gone, abort, tcpEnd: whenTcpEnds(raw) };
    // tls.connect passes allowHalfOpen on to its TLSSocket; the typings just do not list it.
    const socket = tlsConnect({ socket: raw, ...tlsOptions, ...{ allowHalfOpen: true } });
    await new Promise((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    // The TLS socket reads the TCP one: the FIN or RST shows on it.
    return { stream: socket, gone, abort, tcpEnd: whenTcpEnds(socket) };
  }
  const scheme = transport === "wss" ? "wss" : "ws";
  let tcpEnd: Promise<"reset" | "clean"> | undefined;
  const ws = new WebSocket(`${scheme}://localhost:${port}/`, WS_SUBPROTOCOL, {
    ...tlsOptions,
    createConnection: (options: object) => {
      const socket = transport === "wss" ? tlsConnect(options) : netConnect(options as NetConnectOpts);
      tcpEnd = whenTcpEnds(socket);
      return socket;
    },
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  return {
    stream: createWebSocketStream(ws),
    gone: whenClosed(ws),
    abort: () => ws.terminate(),
    tcpEnd: tcpEnd as Promise<"reset" | "clean">,
  };
}

const openParties = new Set<TestParty>();

/** Destroys every client connection a test opened (afterEach), whatever state it is in. */
export function closeAllParties(): void {
  for (const party of openParties) party.abort();
  openParties.clear();
}

export class TestParty {
  readonly decoder = new FrameDecoder();
  challenge: ChallengeFrame | undefined;

  readonly stream: Duplex;
  readonly gone: Promise<void>;
  readonly abort: () => void;
  readonly tcpEnd: Promise<"reset" | "clean">;

  constructor(dialed: Dialed) {
    ({ stream: this.stream, gone: this.gone, abort: this.abort, tcpEnd: this.tcpEnd } = dialed);
    // Errors surface as a close through readUntil; an unhandled 'error' would crash the test run.
    this.stream.on("error", () => {});
    openParties.add(this);
  }

  static async dial(options: DialOptions): Promise<TestParty> {
    const party = new TestParty(await openTransport(options));
    party.stream.write(MAGIC);
    return party;
  }

  /** The next relay frame; throws ConnectionGone if the relay closed first. */
  async frame(): Promise<RelayFrame> {
    const buffered = this.decoder.next();
    if (buffered !== undefined) return parseRelayFrame(buffered);
    const { value } = await readUntil(this.stream, (chunk) => {
      this.decoder.push(chunk);
      const next = this.decoder.next();
      return next === undefined ? undefined : { value: next };
    });
    return parseRelayFrame(value);
  }

  async readChallenge(): Promise<ChallengeFrame> {
    const frame = await this.frame();
    if (frame.type !== "challenge") throw new Error(`expected challenge, got ${JSON.stringify(frame)}`);
    this.challenge = frame;
    return frame;
  }

  send(frame: ClientFrame): void {
    this.stream.write(encodeFrame(frame));
  }

  /** Ticket hello; with `prover` the hello carries cert + sig (the non-TLS proof). */
  async sendTicket(ticket: string, prover?: Issued): Promise<void> {
    const { nonce } = this.challenge ?? (await this.readChallenge());
    const binding = toBase64Url(await sha256(ticket));
    this.send({
      type: "hello",
      ticket,
      ...(prover ? { cert: certField(prover), sig: proofSignature(prover, nonce, binding) } : {}),
    });
  }

  async sendDirect(dest: string, tag: string, prover?: Issued): Promise<void> {
    const { nonce } = this.challenge ?? (await this.readChallenge());
    this.send({
      type: "direct",
      dest,
      tag,
      ...(prover
        ? { cert: certField(prover), sig: proofSignature(prover, nonce, `direct:${dest}:${tag}`) }
        : {}),
    });
  }

  /** Skips WAITING; resolves with PAIRED or throws with the ERROR code as message. */
  async paired(): Promise<PairedFrame> {
    for (;;) {
      const frame = await this.frame();
      if (frame.type === "paired") return frame;
      if (frame.type === "error") throw new Error(frame.code);
      if (frame.type !== "waiting") throw new Error(`unexpected ${frame.type}`);
    }
  }

  /** The ERROR code the relay answers with (after an optional WAITING), or "CLOSED" if it just closed. */
  async errorCode(): Promise<string> {
    try {
      for (;;) {
        const frame = await this.frame();
        if (frame.type === "error") return frame.code;
        if (frame.type !== "waiting") return `UNEXPECTED_${frame.type}`;
      }
    } catch (error) {
      if (error instanceof ConnectionGone) return "CLOSED";
      throw error;
    }
  }

  /** After PAIRED: the raw spliced stream, with bytes that came in behind the frame put back. */
  dataStream(): Duplex {
    const rest = this.decoder.rest();
    if (rest.length > 0) this.stream.unshift(rest);
    return this.stream;
  }
}

/**
 * Dials the data plane on `port` and presents a ticket from `from` to `to` minted by `fx`: on
 * tls and wss the TLS client certificate is the proof, elsewhere the hello carries cert + sig.
 */
export async function dialWithTicket(
  fx: Pick<DataPlaneFixtures, "relayCa" | "ticket">,
  port: number,
  transport: Transport,
  from: Party,
  to: Party,
): Promise<TestParty> {
  const tls = transport === "tls" || transport === "wss";
  const party = await TestParty.dial({
    transport,
    port,
    relayCaPem: fx.relayCa.certPem,
    tlsIdentity: tls ? from : undefined,
  });
  await party.sendTicket(await fx.ticket(from, to), tls ? undefined : from);
  return party;
}

/** Reads a stream to its end, leaving it open for writing (for-await would destroy it). */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("close", () => reject(new Error("closed before its end")));
  });
}
