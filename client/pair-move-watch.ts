import { FlockError } from "../protocol/errors.ts";
import type { PartyConfig } from "./identity.ts";
import { fetchPairRelay } from "./ticket-client.ts";

/**
 * A side waiting on data plane R for its peer asks the worker again after this long, then
 * after twice as long each time, up to WAITING_RECHECK_MAX_MS: a few requests over a
 * minute's wait, and a pair the worker moved is followed within seconds.
 */
export const WAITING_RECHECK_INITIAL_MS = 2_000;
export const WAITING_RECHECK_MAX_MS = 16_000;

/**
 * While this side waits for its peer on one data plane, the worker may move the pair to
 * another: the peer, whose dial to this one failed (it was restarting, say), named it
 * unreachable, and now waits there. Neither data plane knows of the other side, so without a
 * look at the worker both would wait out their deadlines. A look asks the worker which data
 * plane it assigns the pair to (docs/control-plane-api.md "POST /v1/pairs/relay"): no ticket,
 * nothing written. `moved` rejects with PAIR_MOVED (retryable: the next attempt's ticket names
 * the new data plane) once the answer names another one; failed looks (a refusal past the
 * lookup budget among them) and "none assigned" are ignored.
 */
export function watchForPairMove(
  identity: PartyConfig,
  pair: { dest: string; channel: string },
  relay: string,
): { start(): void; stop(): void; moved: Promise<never> } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const abort = new AbortController();
  let reject: (error: FlockError) => void = () => {};
  const moved = new Promise<never>((_resolve, fail) => {
    reject = fail;
  });
  // Only a race with the handshake reads it; a rejection nobody awaits must not crash the process.
  moved.catch(() => {});
  const look = (delayMs: number) => {
    timer = setTimeout(async () => {
      // Only the pair's names: the lookup takes nothing else.
      const request = { dest: pair.dest, channel: pair.channel };
      const assigned = await fetchPairRelay(identity, request, abort.signal).catch(() => null);
      if (stopped) return;
      if (assigned !== null && assigned !== relay) {
        stopped = true;
        reject(
          new FlockError(
            "PAIR_MOVED",
            `The worker moved the pair from data plane ${relay}, where this side waited, to ${assigned}.`,
          ),
        );
        return;
      }
      look(Math.min(delayMs * 2, WAITING_RECHECK_MAX_MS));
    }, delayMs);
  };
  return {
    start: () => {
      if (!stopped && timer === undefined) look(WAITING_RECHECK_INITIAL_MS);
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      abort.abort();
    },
    moved,
  };
}
