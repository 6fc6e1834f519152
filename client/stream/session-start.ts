import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { FlockError } from "../../protocol/errors.ts";
import type { Role } from "../../protocol/ticket.ts";
import type { PairedAs } from "../reach-peer.ts";
import type { SetupSilence } from "../setup-silence.ts";
import type { ControlFrame, OpenFrame } from "./control-frames.ts";
import { badFrame, encodeControl } from "./control-frames.ts";
import { StreamFrameParser } from "./frames.ts";
import type { OwnPosition, PeerPosition } from "./resume-within.ts";
import type { SessionKeys } from "./session-keys.ts";
import { isResumeProof, resumeProof, sessionKeys } from "./session-keys.ts";
import { closeGracefully, peerAbortError } from "./stream-end.ts";

/** What this side believes the stream connects: sent in OPEN, compared with the peer's. */
export interface SessionBinding {
  /** Computed by this side from the user, both parties and the channel, not taken from the relay. */
  pair: string;
  channel: string;
  /** `user/party` of this side and of the peer. */
  self: string;
  peer: string;
}

/** The transport broke or went silent under a step: whether the peer got what this side sent is unknown. */
export function isLostTransport(error: unknown): error is FlockError {
  return error instanceof FlockError && (error.code === "PEER_CLOSED" || error.code === "PEER_SILENT");
}

/**
 * The transport broke after this side's OPEN went out and before the peer's arrived. The
 * peer may hold the session open and be resuming it, or may be starting over: the caller
 * looks for it on the session's resume channel first (docs/stream.md "Resume").
 */
export class OpenInDoubt extends FlockError {
  readonly keys: SessionKeys;
  constructor(keys: SessionKeys, lost: FlockError) {
    super(lost.code, lost.message, { cause: lost });
    this.keys = keys;
  }
}

export interface OpenedSession {
  keys: SessionKeys;
  peerWindow: number;
  /** Both sides resume broken transports; otherwise a break is STREAM_TRUNCATED at once. */
  resumable: boolean;
}

/**
 * This side's OPEN, made when the end-to-end TLS hands it the socket: the TLS client sends it
 * right behind its verdict (peer-tls.ts `firstFrame`), a relay round trip before the
 * server's verdict would let it, and `openSession` then only reads the peer's.
 */
export class OpenAhead {
  readonly #binding: SessionBinding;
  readonly #own: { window: number; resume: boolean };
  #sent: { keys: SessionKeys; at: PairedAs } | undefined;

  constructor(binding: SessionBinding, own: { window: number; resume: boolean }) {
    this.#binding = binding;
    this.#own = own;
  }

  /** The frame's bytes; once they are asked for, the OPEN is out and a break leaves the session in doubt. */
  frame(socket: TLSSocket, at: PairedAs): Buffer {
    this.#sent = { keys: sessionKeys(socket), at };
    return encodeControl(openFrame(this.#binding, this.#own));
  }

  /** The session's keys and the pair it opens, once the OPEN went out. */
  get sent(): { keys: SessionKeys; at: PairedAs } | undefined {
    return this.#sent;
  }
}

function openFrame(binding: SessionBinding, own: { window: number; resume: boolean }): OpenFrame {
  return {
    type: "open",
    pair: binding.pair,
    channel: binding.channel,
    from: binding.self,
    to: binding.peer,
    window: own.window,
    resume: own.resume,
  };
}

/**
 * First frames of a new session, both ways at once (no extra round trip): each side says
 * what pair, channel and parties it means, and refuses a peer that means anything else. A
 * relay that splices alice's `payments` channel to bob's `logs` gets CHANNEL_MISMATCH on both
 * sides: the OPEN frames travel inside the end-to-end TLS, where the relay cannot change them.
 * `sent`: the keys of an OPEN this side sent already (OpenAhead), so only the peer's is read.
 * `silence`: the setup's, which bounds the wait for the peer's frame.
 */
export async function openSession(
  socket: TLSSocket,
  binding: SessionBinding,
  own: { window: number; resume: boolean },
  silence: SetupSilence,
  sent?: SessionKeys,
): Promise<OpenedSession> {
  // Before the exchange: a broken transport can no longer export the session's keys.
  const keys = sent ?? sessionKeys(socket);
  const mine = sent ? undefined : openFrame(binding, own);
  const theirs = await exchangeFirstFrames(socket, mine, silence).catch((error: FlockError) => {
    throw isLostTransport(error) ? new OpenInDoubt(keys, error) : error;
  });
  if (theirs.type !== "open")
    throw refuse(socket, sessionMismatch(`sent ${theirs.type.toUpperCase()} to a new session`));
  if (theirs.from !== binding.peer || theirs.to !== binding.self) {
    throw refuse(
      socket,
      new FlockError(
        "PEER_IDENTITY_MISMATCH",
        `The peer says it is ${theirs.from} reaching ${theirs.to}; this side is ${binding.self} reaching ${binding.peer}.`,
      ),
    );
  }
  if (theirs.channel !== binding.channel || theirs.pair !== binding.pair) {
    throw refuse(
      socket,
      new FlockError(
        "CHANNEL_MISMATCH",
        `The peer opened channel "${theirs.channel}" (pair ${theirs.pair}), this side channel "${binding.channel}" (pair ${binding.pair}): the relay joined two channels that do not belong together.`,
      ),
    );
  }
  return { keys, peerWindow: theirs.window, resumable: own.resume && theirs.resume };
}

/**
 * First frames on a resumed transport: each side proves it holds the session's secret (an
 * HMAC bound to this TLS connection and to the binding) and says how far it got, so the
 * other resends from there.
 */
export async function resumeSession(
  socket: TLSSocket,
  keys: SessionKeys,
  role: Role,
  binding: SessionBinding,
  own: OwnPosition & { window: number },
  silence: SetupSilence,
): Promise<PeerPosition> {
  const { pair, channel } = binding;
  const theirs = await exchangeFirstFrames(
    socket,
    {
      type: "resume",
      proof: resumeProof(keys, { role, pair, channel, from: binding.self, to: binding.peer }, socket),
      received: own.received,
      endReceived: own.endReceived,
      window: own.window,
    },
    silence,
  );
  if (theirs.type !== "resume")
    throw refuse(socket, sessionMismatch("opened a new session instead of resuming"));
  const peerRole = role === "client" ? "server" : "client";
  const expected = { role: peerRole, pair, channel, from: binding.peer, to: binding.self } as const;
  if (!isResumeProof(keys, expected, socket, theirs.proof)) {
    throw refuse(
      socket,
      sessionMismatch(
        `could not prove it holds this session's secret for channel "${channel}" (pair ${pair}) between ${binding.self} and ${binding.peer}`,
      ),
    );
  }
  return { received: theirs.received, endReceived: theirs.endReceived, window: theirs.window };
}

function sessionMismatch(what: string): FlockError {
  return new FlockError("SESSION_MISMATCH", `The peer ${what}.`);
}

/** Ends the transport politely (the peer reads our first frame and sees the mismatch too). */
function refuse(socket: Duplex, error: FlockError): FlockError {
  closeGracefully(socket);
  return error;
}

/**
 * Writes `mine` (unless it went out already) and reads the peer's first frame, unless `silence` ends the wait. On return the socket
 * is paused, and any bytes behind that frame are back at its head for the session to read.
 */
function exchangeFirstFrames(
  socket: Duplex,
  mine: ControlFrame | undefined,
  silence: SetupSilence,
): Promise<ControlFrame> {
  return new Promise((resolve, reject) => {
    let first: ControlFrame | undefined;
    const notYet = () => {
      throw badFrame("a stream frame before the first OPEN or RESUME");
    };
    const parser = new StreamFrameParser({
      data: notYet,
      end: notYet,
      ack: notYet,
      close: notYet,
      control: (frame) => {
        first = frame;
        parser.stop();
      },
    });
    const done = () => {
      stopWaiting();
      socket.off("data", onData).off("end", onGone).off("close", onGone).off("error", onError);
    };
    const fail = (error: FlockError) => {
      done();
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      let used: number;
      try {
        used = parser.push(chunk);
      } catch (error) {
        fail(error as FlockError);
        return;
      }
      if (first === undefined) return;
      socket.pause();
      done();
      if (used < chunk.length) socket.unshift(chunk.subarray(used));
      if (first.type === "abort") {
        socket.destroy();
        reject(peerAbortError(first));
      } else resolve(first);
    };
    const onGone = () =>
      fail(new FlockError("PEER_CLOSED", "The peer closed the connection before its first stream frame."));
    const onError = (error: Error) =>
      fail(new FlockError("PEER_CLOSED", `The peer connection failed: ${error.message}.`, { cause: error }));
    const stopWaiting = silence.whileWaiting(fail);
    socket.on("data", onData).on("end", onGone).on("close", onGone).on("error", onError);
    if (mine) socket.write(encodeControl(mine));
  });
}
