import { sha256 } from "./encoding.ts";
import { FlockError } from "./errors.ts";

/**
 * Rendezvous (HRW) hashing: the relay with the largest hash of (pair, relay) wins, whatever
 * order the relays are listed in, and adding a relay moves only the pairs it wins. The worker
 * places ticket pairs with it and `flock env --relay` picks a direct-mode relay with it, so the
 * two agree on the same live set.
 */
export async function highestRandomWeight<R extends { name: string }>(pair: string, relays: R[]): Promise<R> {
  let best: { relay: R; weight: string } | undefined;
  for (const relay of relays) {
    const weight = hex(await sha256(`flock-hrw-v1\0${pair}\0${relay.name}`));
    if (!best || weight > best.weight) best = { relay, weight };
  }
  if (!best) throw new FlockError("NO_RELAY_AVAILABLE");
  return best.relay;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
