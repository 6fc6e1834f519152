import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { FlockError } from "../../protocol/errors.ts";
import type { PeerProtocol } from "../../protocol/frames.ts";
import type { Role } from "../../protocol/ticket.ts";
import type { Connection } from "../connection.ts";
import type { AuthenticatedParty } from "./authenticate.ts";
import type { TransportName } from "./transports.ts";

/**
 * How a side's protocol tells it what pairing decided. For Flock parties these are the
 * WAITING, PAIRED and ERROR frames; another protocol on the same port (the original
 * relay's, on TLS) says the same things its own way.
 */
export interface SideAnswers {
  /** No peer yet. */
  waiting(): void;
  /**
   * The peer is here, and pairing says which end of the end-to-end TLS this side takes and
   * what its peer speaks; returns the stream to splice from now on, once nothing of this
   * side's own protocol is left to send on it.
   */
  paired(as: PairedAs): Duplex | Promise<Duplex>;
  /** Refuse with this code and close; counted in metrics and logged once. */
  refuse(error: FlockError): void;
}

export interface PairedAs {
  role: Role;
  peerProtocol: PeerProtocol;
}

/** What every log line about an admitted side is bound to. */
export function sideLogBindings(connection: Connection, transport: TransportName, party: AuthenticatedParty) {
  return { conn: connection.id, transport, party: party.self, pair: party.pair, mode: party.mode };
}

/**
 * A side whose handshake is done: who it is, what it wants, where its bytes are. Made
 * once by the handshake and never changed; pairing and splicing take it from here.
 */
export interface AdmittedSide {
  readonly party: AuthenticatedParty;
  readonly transport: TransportName;
  /** The byte stream the side speaks once its hello is read. */
  readonly stream: Duplex;
  /** Bytes that arrived right behind the hello: its peer gets them first. */
  readonly early: Buffer;
  /**
   * What bytes sent while waiting for the peer mean: held for the peer (Flock's SDK may
   * start its end-to-end TLS early), or a broken client, refused (the original relay's
   * clients send nothing before their Ready).
   */
  readonly earlyBytes: "held" | "refused";
  /** The TCP connection under every layer (for a reset, and for a kernel splice on plain TCP). */
  readonly connection: Connection;
  /** Bound to the connection id, transport, party and pair. */
  readonly log: Logger;
  readonly answers: SideAnswers;
  /** Its hello says it resumes a broken stream elsewhere: a drain may reset its pair early. */
  readonly resumable?: boolean;
}
