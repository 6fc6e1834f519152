/**
 * What the ticket path remembers per isolate so a warm request needs one D1 round trip instead
 * of two: the callers it has verified, and the live relays it last read (db/live-relay-cache.ts).
 * Neither is trusted for anything that can change: the ticket's write batch re-checks in SQL, in the same transaction,
 * that the caller and its destinations are still active (the rate-limit take refuses otherwise)
 * and that each wanted relay is still live (the assignment takes another live one otherwise).
 * When that check refuses, the request is read from D1 as a cold one is, and answered from what
 * D1 says.
 */
import type { PartyRow } from "../db/parties.ts";
import type { Signer } from "../signed-requests/authenticate.ts";

/** A caller as its certificate fixes it: a kid is the SHA-256 of one certificate, whose names and expiry never change. */
export interface KnownCaller {
  key: CryptoKey;
  caller: Pick<PartyRow, "user_name" | "name" | "fingerprint" | "not_after">;
}

/** Callers remembered per isolate; past it the oldest is dropped (a miss costs the cold path). */
export const MAX_KNOWN_CALLERS = 1_000;

const callers = new Map<string, KnownCaller>();

export function knownCaller(kid: string): KnownCaller | undefined {
  return callers.get(kid);
}

/** A remembered caller as verifySignedRequestOf takes it: its key is already imported. */
export function signerOfKnown(known: KnownCaller): Signer<KnownCaller["caller"]> {
  return { record: known.caller, notAfter: known.caller.not_after, key: async () => known.key };
}

export function rememberCaller(kid: string, known: KnownCaller): void {
  if (callers.size >= MAX_KNOWN_CALLERS && !callers.has(kid)) {
    const oldest = callers.keys().next().value;
    if (oldest !== undefined) callers.delete(oldest);
  }
  callers.set(kid, known);
}

/** How many callers are remembered, for the test of the bound. */
export function knownCallers(): number {
  return callers.size;
}
