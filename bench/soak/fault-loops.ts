/**
 * The hostile side of a soak run, paced over the pairs: connections cut mid-stream through
 * the chaos proxy, data plane restarts, and fuzzed hellos straight at the data planes.
 */
import type { ChaosProxyClient } from "./chaos-proxy-client.ts";
import type { FuzzCounts } from "./fuzzed-hellos.ts";
import { emptyFuzzCounts, fuzzCases, sendFuzzCase } from "./fuzzed-hellos.ts";
import type { SoakKnobs } from "./knobs.ts";
import type { Pacer } from "./pacer.ts";
import type { RelayFleet, RestartKind } from "./relay-fleet.ts";
import { pick, seededRandom } from "./seeded-random.ts";

/** How long a cut waits for a connection in the middle of a stream before it counts as missed. */
const CUT_WAIT_MS = 10_000;
/** The most a connection must have moved to be cut: past any handshake, well inside a stream. */
const CUT_MIN_BYTES = 1_000_000;
/** Or this share of a pair's bytes, for small pairs: early enough that most of the stream is still to come. */
const CUT_MIN_SHARE = 1 / 4;

export interface FaultCounts {
  disconnects: { injected: number; missed: number; byKind: Record<string, number> };
  restarts: Record<RestartKind, number>;
  fuzz: FuzzCounts;
}

export function emptyFaultCounts(): FaultCounts {
  return {
    disconnects: { injected: 0, missed: 0, byKind: {} },
    restarts: { crash: 0, graceful: 0 },
    fuzz: emptyFuzzCounts(),
  };
}

/** Fault `i` of `n` is due at fraction (i+1)/(n+1) of the run, so none waits for the last pair. */
const dueAt = (i: number, n: number) => (i + 1) / (n + 1);

export async function injectDisconnects(
  knobs: SoakKnobs,
  pacer: Pacer,
  proxy: ChaosProxyClient,
  counts: FaultCounts,
): Promise<void> {
  const minBytes = Math.min(CUT_MIN_BYTES, Math.floor(knobs.bytesEachWay * CUT_MIN_SHARE));
  for (let i = 0; i < knobs.disconnects; i++) {
    await pacer.reach(dueAt(i, knobs.disconnects));
    const kind = knobs.cutKinds[i % knobs.cutKinds.length] ?? "reset";
    if (await proxy.cut(kind, minBytes, pacer.finished ? 0 : CUT_WAIT_MS)) {
      counts.disconnects.injected++;
      counts.disconnects.byKind[kind] = (counts.disconnects.byKind[kind] ?? 0) + 1;
    } else {
      counts.disconnects.missed++;
    }
  }
}

/** Restarts any data plane but the first, crash and graceful in turn. */
export async function injectRestarts(
  knobs: SoakKnobs,
  pacer: Pacer,
  fleet: RelayFleet,
  counts: FaultCounts,
): Promise<void> {
  const random = seededRandom(knobs.seed + 1);
  const restartable = fleet.relays.slice(1);
  for (let i = 0; i < knobs.restarts; i++) {
    await pacer.reach(dueAt(i, knobs.restarts));
    if (pacer.finished) return;
    const kind: RestartKind = i % 2 === 0 ? "crash" : "graceful";
    await fleet.restart(pick(random, restartable), kind);
    counts.restarts[kind]++;
  }
}

/** Sends the fuzzed hellos, `fuzzConcurrency` at a time, each to a random data plane. */
export async function sendFuzzedHellos(
  knobs: SoakKnobs,
  pacer: Pacer,
  fleet: RelayFleet,
  counts: FaultCounts,
): Promise<void> {
  const cases = fuzzCases(knobs.seed, knobs.fuzzCases);
  const random = seededRandom(knobs.seed + 2);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < cases.length; i = next++) {
      await pacer.reach(i / cases.length);
      const fuzz = cases[i];
      if (fuzz) await sendFuzzCase(pick(random, fleet.relays).current.port, fuzz, counts.fuzz);
    }
  };
  await Promise.all(Array.from({ length: knobs.fuzzConcurrency }, lane));
}
