import type { Socket } from "node:net";
import type { HandshakeContext } from "./admission/handshake.ts";
import { admit } from "./admission/handshake.ts";
import type { HandshakeGate } from "./admission/handshake-gate.ts";
import type { Pairs } from "./pairs/pairs.ts";

export interface DataPath {
  gate: HandshakeGate;
  handshake: HandshakeContext;
  pairs: Pairs;
}

/**
 * The data path of one TCP connection, top to bottom. Each step answers its own refusals
 * where they happen (an ERROR frame with a stable code, an HTTP answer before a WebSocket
 * exists, or a bare close mid-TLS-handshake), so a step that gives nothing back is done.
 */
export async function acceptConnection(socket: Socket, { gate, handshake, pairs }: DataPath): Promise<void> {
  // Caps on connections still in their handshake; past them, OVER_CAPACITY at once.
  const connection = gate.enter(socket);
  if (connection === undefined) return;

  // 1. Admit: sniff the transport, peel TLS and WebSocket, MAGIC, challenge, hello, verify.
  const side = await admit(connection, handshake);
  if (side === undefined) return;
  gate.authenticated(connection);

  // 2. Join: meet the side waiting for this one, or wait for it (with a pairing timeout).
  const waiting = pairs.join(side);
  // Waiting: the peer's arrival splices this side, in the peer's own step 3.
  if (waiting === undefined) return;

  // 3. Splice: PAIRED to both, then bytes both ways until the pair ends with a reason.
  pairs.splice(waiting, side);
}
