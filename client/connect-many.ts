import type { TicketResponse } from "../protocol/api.ts";
import { MAX_TICKETS_PER_REQUEST } from "../protocol/api.ts";
import { FlockError } from "../protocol/errors.ts";
import { asFlockError } from "./attempts.ts";
import type { Channel, ConnectEvent, ConnectOptions, Plan } from "./connect.ts";
import { openPlanned, planConnection } from "./connect.ts";
import { fetchTickets } from "./ticket-client.ts";

export interface ConnectManyOptions extends Omit<ConnectOptions, "dest" | "onEvent"> {
  /**
   * The peers' party names, one channel to each (an MPC party's N−1), all on `channel`. At most
   * MAX_TICKETS_PER_REQUEST: their tickets come in one request.
   */
  peers: string[];
  /** Progress of each peer's channel, as openChannel's `onEvent`; called synchronously, must not throw. */
  onEvent?: (event: ConnectEvent, peer: string) => void;
}

/** One peer's outcome: its channel, or why it has none. */
export type PeerChannel =
  | { peer: string; ok: true; channel: Channel }
  | { peer: string; ok: false; error: FlockError };

/**
 * A channel to each of `peers` at once: one signed ticket request for all of them (one
 * signature for the worker to check, its D1 work done once), then each peer's dial, pairing and
 * end-to-end TLS side by side, each retried on its own as openChannel retries. Resolves when
 * every peer has its channel or its error, in the order given; one peer failing never holds up
 * or fails another. A ticket request the worker refuses as a whole (the tickets are all or none:
 * a peer that does not exist refuses them all) is not the other peers' failure: each then asks
 * for its own ticket, so only that peer reports UNKNOWN_DEST.
 */
export async function openChannels(options: ConnectManyOptions): Promise<PeerChannel[]> {
  const { peers, onEvent, ...shared } = options;
  checkPeers(peers);
  const plans = peers.map((dest) =>
    planConnection({ ...shared, dest, onEvent: (event) => onEvent?.(event, dest) }),
  );
  const tickets = ticketsFor(plans);
  return Promise.all(
    plans.map((plan, i) =>
      openPlanned(
        plan,
        tickets.then((all) => all?.[i]),
      ).then(
        (channel): PeerChannel => ({ peer: plan.dest, ok: true, channel }),
        (error: unknown): PeerChannel => ({ peer: plan.dest, ok: false, error: asFlockError(error) }),
      ),
    ),
  );
}

function checkPeers(peers: unknown): asserts peers is string[] {
  if (!Array.isArray(peers) || peers.length === 0)
    throw new FlockError("CONFIG_INVALID", "`peers` must list at least one party name.");
  if (peers.length > MAX_TICKETS_PER_REQUEST) {
    throw new FlockError(
      "CONFIG_INVALID",
      `${peers.length} peers is more than one ticket request may name (${MAX_TICKETS_PER_REQUEST}).`,
    );
  }
  if (new Set(peers).size !== peers.length)
    throw new FlockError("CONFIG_INVALID", "`peers` names a party twice: one channel per peer.");
}

/**
 * Every peer's first ticket in one request, or none when the request fails (each peer then
 * asks on its own) or there is nothing to ask for (direct mode). Never rejects.
 */
function ticketsFor(plans: Plan[]): Promise<TicketResponse[] | undefined> {
  const [first] = plans;
  if (!first || first.direct) return Promise.resolve(undefined);
  const request = { dests: plans.map((plan) => plan.dest), channel: first.channel };
  return fetchTickets(first.identity, request, AbortSignal.timeout(first.deadlineMs)).catch(() => undefined);
}
