import type { KeyObject } from "node:crypto";
import { createHash, sign } from "node:crypto";
import type { Duplex } from "node:stream";
import { toBase64Url } from "../protocol/encoding.ts";
import { FlockError, isErrorCode } from "../protocol/errors.ts";
import type { ChallengeFrame, PairedFrame } from "../protocol/frames.ts";
import {
  encodeFrame,
  FrameDecoder,
  helloProofInput,
  MAGIC,
  PROTOCOL_VERSION,
  parseRelayFrame,
} from "../protocol/frames.ts";

/**
 * What the hello asks for: a pair by ticket, or (seed-compatible direct mode, no worker
 * involved) a pair with `dest` under `tag`, authorised by the relay certificate alone.
 */
export type HelloRequest = { ticket: string } | { direct: { dest: string; tag: string } };

export type HelloCredentials = HelloRequest & {
  /** DER of the party's relay certificate. */
  relayCertDer: Uint8Array;
  relayKey: KeyObject;
  /** This side resumes a broken stream (docs/stream.md): a draining data plane may move its pair. */
  resumable?: boolean;
};

export interface HandshakeEvents {
  /** The data plane accepted the hello and waits for the peer. */
  onWaiting?: () => void;
  /** The data plane's name as it states it in the challenge (unverified on TCP and WebSocket). */
  onChallenge?: (relay: string) => void;
}

/**
 * Runs the Flock handshake on a freshly dialled stream and resolves with the PAIRED frame.
 * The proof (cert + signature over the relay's nonce and the ticket hash) is sent on every
 * transport: on TLS the client certificate already proves the key, and the extra proof
 * costs one signature.
 *
 * `credentials` may still be on its way (the ticket being fetched while the stream was dialled
 * early, early-dial.ts): MAGIC goes out at once and the challenge is read, and the hello is
 * signed once they are there. When they fail instead, so does the handshake, at once.
 *
 * On return the stream is paused, has no listeners of ours, and any bytes that arrived
 * behind the PAIRED frame (the peer's first TLS record) are back at its head.
 */
export function relayHandshake(
  stream: Duplex,
  credentials: HelloCredentials | Promise<HelloCredentials>,
  events: HandshakeEvents = {},
): Promise<PairedFrame> {
  const given = Promise.resolve(credentials);
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let challenged = false;
    let settled = false;

    const finish = (error: FlockError | undefined, paired?: PairedFrame) => {
      if (settled) return;
      settled = true;
      stream.off("readable", onReadable).off("error", onError).off("close", onClose).off("end", onClose);
      if (error) {
        stream.destroy();
        reject(error);
        return;
      }
      const rest = decoder.rest();
      if (rest.length > 0) stream.unshift(Buffer.from(rest.buffer, rest.byteOffset, rest.length));
      resolve(paired as PairedFrame);
    };

    const onFrame = async (value: unknown): Promise<boolean> => {
      const frame = parseRelayFrame(value);
      if (frame.type === "error") {
        const code = isErrorCode(frame.code) ? frame.code : "BAD_FRAME";
        finish(new FlockError(code, frame.message || undefined));
        return true;
      }
      if (!challenged) {
        if (frame.type !== "challenge")
          throw new FlockError("BAD_FRAME", `Expected a challenge, got ${frame.type}.`);
        challenged = true;
        events.onChallenge?.(frame.relay);
        stream.write(await helloFrame(frame, await given));
        return false;
      }
      if (frame.type === "waiting") {
        events.onWaiting?.();
        return false;
      }
      if (frame.type === "paired") {
        finish(undefined, frame);
        return true;
      }
      throw new FlockError("BAD_FRAME", `Unexpected ${frame.type} frame from the data plane.`);
    };

    // Frames are handled one at a time: the hello is signed asynchronously, and the
    // PAIRED frame must not be taken out of the decoder before that is done.
    let busy = false;
    const onReadable = async () => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          if (settled) return;
          const value = decoder.next();
          if (value !== undefined) {
            if (await onFrame(value)) return;
            continue;
          }
          // Read only while no whole frame is buffered, so nothing after PAIRED is consumed early.
          const chunk = stream.read() as Buffer | null;
          if (chunk === null) return;
          decoder.push(chunk);
        }
      } catch (error) {
        finish(
          error instanceof FlockError ? error : new FlockError("BAD_FRAME", undefined, { cause: error }),
        );
      } finally {
        busy = false;
      }
    };
    const onError = (error: Error) =>
      finish(
        new FlockError("DIAL_FAILED", `The data plane connection failed: ${error.message}.`, {
          cause: error,
        }),
      );
    const onClose = () =>
      finish(new FlockError("DIAL_FAILED", "The data plane closed the connection during the handshake."));

    stream.on("readable", onReadable).on("error", onError).on("close", onClose).on("end", onClose);
    given.catch((error: unknown) =>
      finish(error instanceof FlockError ? error : new FlockError("INTERNAL", undefined, { cause: error })),
    );
    stream.write(MAGIC);
  });
}

function helloFrame(challenge: ChallengeFrame, credentials: HelloCredentials): Uint8Array {
  const resumable = credentials.resumable ? { resumable: true } : {};
  if (challenge.version !== PROTOCOL_VERSION) {
    throw new FlockError(
      "UNSUPPORTED_VERSION",
      `The data plane speaks protocol ${challenge.version}, this client ${PROTOCOL_VERSION}.`,
    );
  }
  const cert = Buffer.from(credentials.relayCertDer).toString("base64");
  const proof = (binding: string) =>
    toBase64Url(sign("sha256", helloProofInput(challenge.nonce, binding), credentials.relayKey));
  if ("direct" in credentials) {
    const { dest, tag } = credentials.direct;
    return encodeFrame({
      type: "direct",
      dest,
      tag,
      cert,
      sig: proof(`direct:${dest}:${tag}`),
      ...resumable,
    });
  }
  const binding = createHash("sha256").update(credentials.ticket).digest("base64url");
  return encodeFrame({ type: "hello", ticket: credentials.ticket, cert, sig: proof(binding), ...resumable });
}
