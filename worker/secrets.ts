import type { Bindings } from "./env.ts";
import { loadRelayCa, type RelayCa } from "./pki/relay-ca.ts";
import { loadTicketKeys, type TicketKeys } from "./tickets/ticket-keys.ts";

/** The relay CA from the RELAY_CA_CERT / RELAY_CA_KEY secrets, imported once per isolate. */
export function relayCaOf(env: Bindings): Promise<RelayCa> {
  return loadRelayCa(env.RELAY_CA_CERT, env.RELAY_CA_KEY);
}

/** The ticket keys from the TICKET_KEYS secret, imported once per isolate. */
export function ticketKeysOf(env: Bindings): Promise<TicketKeys> {
  return loadTicketKeys(env.TICKET_KEYS);
}
