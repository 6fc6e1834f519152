import { FlockError } from "../../protocol/errors.ts";
import {
  FRELAY_MODE_CLIENT,
  FRELAY_MODE_SERVER,
  MAX_FRELAY_AUTH_REQUEST_BYTES,
} from "../../protocol/frelay.ts";
import { DEFAULT_CHANNEL } from "../../protocol/names.ts";
import type { Connection } from "../connection.ts";
import type { AdmittedSide, SideAnswers } from "./admitted-side.ts";
import { sideLogBindings } from "./admitted-side.ts";
import { directParty } from "./authenticate.ts";
import type { FrelayTransport } from "./frelay-transport.ts";
import type { HandshakeContext } from "./handshake.ts";
import { ConnectionGone, readUntil } from "./read-until.ts";
import { Refusal, refuse } from "./refusal.ts";

/** The protocol has no error message: every refusal is a close (counted and logged by its code). */
const CLOSE = { speaks: "nothing" } as const;

/**
 * The original relay's AuthReq, `{"DestParty":"<party>","Tag":"<tag>"}`. Field names match
 * without regard to case and a missing field is empty, as Go's json.Unmarshal reads them;
 * an empty tag (the original client's TAG unset) is Flock's default channel, so such a
 * client pairs with an SDK party that names no channel.
 */
export function parseAuthRequest(cleartext: Buffer): { dest: string; tag: string } {
  if (cleartext.length > MAX_FRELAY_AUTH_REQUEST_BYTES) throw new FlockError("HELLO_TOO_LARGE");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(cleartext));
  } catch {
    throw new FlockError("BAD_FRAME", "The AuthReq is not JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlockError("BAD_FRAME", "The AuthReq is not a JSON object.");
  }
  const field = (name: string): string => {
    const key = Object.keys(value).find((k) => k.toLowerCase() === name);
    const found = key === undefined ? "" : (value as Record<string, unknown>)[key];
    if (typeof found !== "string") throw new FlockError("BAD_FRAME", `The AuthReq's ${name} is no string.`);
    return found;
  };
  const tag = field("tag");
  return { dest: field("destparty"), tag: tag === "" ? DEFAULT_CHANNEL : tag };
}

/**
 * The original relay's handshake (docs/coming-from-frelay.md): the TLS client certificate
 * is the party, the one application record is its AuthReq, and Flock's direct-mode rules
 * decide the pair. The gate has let nothing past that record into the TLS engine; once
 * paired, Ready and close_notify end the TLS and the raw TCP socket is what is spliced.
 */
export async function admitFrelay(
  connection: Connection,
  { tls, gate, tlsCertificate }: FrelayTransport,
  context: HandshakeContext,
  signal: AbortSignal,
): Promise<AdmittedSide> {
  context.metrics.connections.inc({ transport: "frelay" });
  const record = await readUntil(tls, (chunk) => chunk, signal);
  const after = gate.detach();
  if (after.length > 0) throw new FlockError("EARLY_DATA");
  const request = parseAuthRequest(record);
  if (!context.isAdmitting()) throw new FlockError("DRAINING");
  const { checker } = context.authority;
  const party = await directParty(request, context.authority, () =>
    checker.prove({ tlsCertificate, nonce: "", binding: "" }),
  );
  if (connection.isClosed) throw new ConnectionGone();

  const log = context.logger.child(sideLogBindings(connection, "frelay", party));
  let refused = false;
  const answers: SideAnswers = {
    // Nothing is said while waiting: the client blocks on its read of Ready.
    waiting: () => {},
    paired: async ({ role }) => {
      const mode = role === "server" ? FRELAY_MODE_SERVER : FRELAY_MODE_CLIENT;
      tls.write(JSON.stringify({ Mode: mode }));
      // end() sends close_notify; the gate passes it on and keeps TCP open. Raw bytes may
      // follow on the socket only once it is out.
      await new Promise<void>((resolve) => {
        tls.once("finish", resolve).once("close", resolve);
        tls.end();
      });
      connection.removeLayer(tls);
      tls.destroy();
      return connection.socket;
    },
    refuse: (error) => {
      if (refused) return;
      refused = true;
      refuse(new Refusal(error, CLOSE), { ...context, connection, log, transport: "frelay" });
    },
  };
  return Object.freeze({
    party,
    transport: "frelay",
    stream: connection.socket,
    early: Buffer.alloc(0),
    earlyBytes: "refused",
    connection,
    log,
    answers,
  });
}
