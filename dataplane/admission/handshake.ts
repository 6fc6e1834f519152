import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { FlockError } from "../../protocol/errors.ts";
import type { RelayFrame } from "../../protocol/frames.ts";
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, parseClientFrame } from "../../protocol/frames.ts";
import type { Connection } from "../connection.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import type { AdmittedSide, SideAnswers } from "./admitted-side.ts";
import { sideLogBindings } from "./admitted-side.ts";
import type { AuthenticatedParty, Authority } from "./authenticate.ts";
import { authenticate } from "./authenticate.ts";
import { admitFrelay } from "./frelay-side.ts";
import { ConnectionGone, readUntil, untilAborted } from "./read-until.ts";
import { at, Refusal, refuse } from "./refusal.ts";
import type { FramedTransport, TransportContext } from "./transports.ts";
import { openTransport } from "./transports.ts";

export interface HandshakeContext extends TransportContext {
  relayName: string;
  authority: Authority;
  metrics: DataPlaneMetrics;
  /** The data plane's logger; each side's is made from it. */
  logger: Logger;
  helloDeadlineMs: number;
  magicDeadlineMs: number;
  errorLingerMs: number;
  /** False once the data plane drains: hellos still in flight get DRAINING. */
  isAdmitting(): boolean;
}

/**
 * One connection's handshake, from its first byte to an authenticated side: sniff the
 * transport → (TLS, WebSocket) → MAGIC → challenge → hello (deadline, size cap) → verify.
 * Resolves with the admitted side, or with undefined when the connection was refused
 * (answered on the layer it had reached) or went away.
 */
export async function admit(
  connection: Connection,
  context: HandshakeContext,
): Promise<AdmittedSide | undefined> {
  // One signal, two deadlines: the short one until MAGIC, the hello deadline for it all.
  const deadline = new AbortController();
  const helloTimer = setTimeout(
    () => deadline.abort(new FlockError("HELLO_TIMEOUT")),
    context.helloDeadlineMs,
  );
  const magicTimer = setTimeout(
    () =>
      deadline.abort(
        new FlockError("HELLO_TIMEOUT", `No Flock MAGIC arrived within ${context.magicDeadlineMs} ms.`),
      ),
    context.magicDeadlineMs,
  );
  let transportName = "unknown";
  try {
    const transport = await openTransport(connection, context, deadline.signal);
    // MAGIC, or the original relay's first record, has arrived.
    clearTimeout(magicTimer);
    transportName = transport.name;
    if (transport.name === "frelay")
      return await admitFrelay(connection, transport, context, deadline.signal);
    const layer = { speaks: "frames", stream: transport.stream } as const;
    const greeted = await at(layer, greet(connection, transport, context, deadline.signal));
    return sideOf(connection, transport, greeted, context);
  } catch (error) {
    if (error instanceof ConnectionGone) {
      connection.destroy();
      return undefined;
    }
    const refusal = error instanceof Refusal ? error : new Refusal(error, { speaks: "nothing" });
    refuse(refusal, { ...context, connection, log: connection.log, transport: transportName });
    return undefined;
  } finally {
    clearTimeout(helloTimer);
    clearTimeout(magicTimer);
  }
}

interface Greeted {
  party: AuthenticatedParty;
  /** What the decoder holds past the hello. */
  early: Uint8Array;
  resumable: boolean;
}

/** Challenge → hello → verify, on a transport whose MAGIC was read. */
async function greet(
  connection: Connection,
  { name, stream, tlsCertificate }: FramedTransport,
  context: HandshakeContext,
  signal: AbortSignal,
): Promise<Greeted> {
  context.metrics.connections.inc({ transport: name });
  const nonce = randomBytes(32).toString("base64url");
  stream.write(
    encodeFrame({ type: "challenge", version: PROTOCOL_VERSION, relay: context.relayName, nonce }),
  );

  // FrameDecoder checks the declared length against MAX_FRAME_BYTES before buffering the body.
  const decoder = new FrameDecoder();
  const { value } = await readUntil(
    stream,
    (chunk) => {
      decoder.push(chunk);
      const next = decoder.next();
      return next === undefined ? undefined : { value: next };
    },
    signal,
  );
  const hello = parseClientFrame(value);
  // Checked before verification too, so a draining data plane burns no ticket.
  if (!context.isAdmitting()) throw new FlockError("DRAINING");
  const party = await untilAborted(signal, authenticate(hello, { nonce, tlsCertificate }, context.authority));
  if (connection.isClosed) throw new ConnectionGone();
  if (!context.isAdmitting()) throw new FlockError("DRAINING");
  return { party, early: decoder.rest(), resumable: hello.resumable === true };
}

/** The admitted side, with the Flock frames that answer it from now on. */
function sideOf(
  connection: Connection,
  transport: FramedTransport,
  { party, early, resumable }: Greeted,
  context: HandshakeContext,
): AdmittedSide {
  // The answers below outlive the handshake: they take the stream and the name, not the
  // transport (its TLS certificate would stay with every idle pair).
  const { stream, name } = transport;
  // Bound as the pair's end line is (pairs.ts), which outlives this logger.
  const log = context.logger.child(sideLogBindings(connection, name, party));
  const send = (frame: RelayFrame) => stream.write(encodeFrame(frame));
  let refused = false;
  const answers: SideAnswers = {
    waiting: () => send({ type: "waiting" }),
    paired: ({ role, peerProtocol }) => {
      send({
        type: "paired",
        peer: party.peer,
        role,
        pair: party.pair,
        ...(peerProtocol === "flock" ? {} : { peerProtocol }),
      });
      return stream;
    },
    refuse: (error) => {
      if (refused) return;
      refused = true;
      const refusal = new Refusal(error, { speaks: "frames", stream });
      refuse(refusal, { ...context, connection, log, transport: name });
    },
  };
  return Object.freeze({
    party,
    transport: name,
    stream,
    early: Buffer.from(early.buffer, early.byteOffset, early.length),
    resumable,
    earlyBytes: "held",
    connection,
    log,
    answers,
  });
}
