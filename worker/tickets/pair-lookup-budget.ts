/**
 * What bounds a party's pair lookups (docs/control-plane-api.md "POST /v1/pairs/relay"): a
 * token bucket per party, held by the isolate, not by D1 as the ticket bucket is. A lookup
 * writes nothing, so there is no row whose growth a shared bucket would have to bound; what a
 * flood costs is this isolate's work and D1 reads, and those this bucket bounds where they are
 * spent: past it a warm caller's lookup is refused after its signature check, before any D1
 * round trip. A party spread over several isolates gets a budget in each.
 */
import { FlockError } from "../../protocol/errors.ts";
import type { TicketBucketRow } from "../db/ticket-buckets.ts";
import { availableTickets, type TicketRateLimit } from "./rate-limit.ts";

/** Lookups a party gets at once: a side waiting for each of this many peers may look at the same moment. */
export const PAIR_LOOKUP_BURST = 20;
/** Lookups added per second; a waiting side looks about every 2 to 16 s (client/pair-move-watch.ts). */
export const PAIR_LOOKUPS_PER_SECOND = 2;
/** Parties whose bucket an isolate keeps; past it the least recently seen is dropped (and starts full again). */
export const MAX_PAIR_LOOKUP_BUCKETS = 1_000;

/** Refilled as a ticket bucket is (availableTickets), at the lookup's own rates. */
const PAIR_LOOKUP_LIMIT: TicketRateLimit = { perSecond: PAIR_LOOKUPS_PER_SECOND, burst: PAIR_LOOKUP_BURST };

export class PairLookupBudget {
  readonly #buckets = new Map<string, TicketBucketRow>();

  /** Takes one lookup of `party` (user/party) at `now` (unix seconds), or refuses with when one is back. */
  take(party: string, now: number): void {
    const last = this.#buckets.get(party);
    const tokens = availableTickets(last, PAIR_LOOKUP_LIMIT, now);
    if (tokens < 1) {
      throw new FlockError("PAIR_LOOKUP_LIMITED", undefined, {
        retryAfterSeconds: Math.ceil((1 - tokens) / PAIR_LOOKUPS_PER_SECOND),
      });
    }
    // Deleted first so the map's order is the order parties were last seen in.
    this.#buckets.delete(party);
    if (this.#buckets.size >= MAX_PAIR_LOOKUP_BUCKETS) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    this.#buckets.set(party, { tokens: tokens - 1, updated_at: Math.max(now, last?.updated_at ?? now) });
  }

  /** How many parties' buckets are kept, for the test of the bound. */
  get size(): number {
    return this.#buckets.size;
  }
}
