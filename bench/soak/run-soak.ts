/**
 * One soak run (docs/testing.md, "The soak"): the real worker, several real data planes in
 * their own processes behind a chaos proxy, and `pairs` pairs of parties moving
 * `bytesEachWay` each way over mixed transports, every byte checked, while connections are
 * cut, data planes restart, a stalled-handshake flood holds connections open and fuzzed
 * hellos arrive. What it saw comes back as a SoakResult; nothing here decides pass or fail.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectEvent } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { startSystem } from "../../test/helpers/system.ts";
import { ChaosProxyClient } from "./chaos-proxy-client.ts";
import type { FaultCounts } from "./fault-loops.ts";
import { emptyFaultCounts, injectDisconnects, injectRestarts, sendFuzzedHellos } from "./fault-loops.ts";
import type { SoakKnobs } from "./knobs.ts";
import { checkKnobs } from "./knobs.ts";
import { Pacer } from "./pacer.ts";
import type { PairResult, PartySpec } from "./pair-transfer.ts";
import { transferPair } from "./pair-transfer.ts";
import type { ProcessStats } from "./process-stats.ts";
import type { FleetRelay } from "./relay-fleet.ts";
import { RelayFleet } from "./relay-fleet.ts";
import { pick, seededRandom } from "./seeded-random.ts";
import { soakProgress } from "./soak-report.ts";
import { type FloodCounts, floodSources, StalledFlood } from "./stalled-flood.ts";

const PROGRESS_INTERVAL_MS = 10_000;
/** After the run, how long the data planes get to close what they still hold before they are measured. */
const SETTLE_TIMEOUT_MS = 30_000;

export interface RelayFigures {
  name: string;
  restarts: number;
  before: ProcessStats;
  after: ProcessStats;
  /** Connections the data plane still held when measured (0 once settled). */
  openAfter: number;
  errorLines: string[];
}

export interface SoakResult {
  wallSeconds: number;
  /** Where the wall time went: starting everything, moving the pairs, letting the data planes settle. */
  phases: { setupSeconds: number; pairsSeconds: number; settleSeconds: number };
  pairs: { completed: number; firstTry: number; givenUp: number; failedAttempts: number; framed: number };
  /** Failed attempts by why: an SDK error code, a stream error, or `lost` for a silent loss. */
  failures: Record<string, number>;
  /** Bytes that arrived complete and verified, both directions, all attempts. */
  bytesMoved: number;
  /** Bytes missing from directions that ended as if complete: what an application would lose unawares. */
  bytesLost: number;
  directionsLost: number;
  /** Retries inside openChannel, by the code retried. */
  connectRetries: Record<string, number>;
  /** Transports that broke under an open wire-version-2 stream, and the resumes that healed them. */
  streamBreaks: number;
  resumes: number;
  faults: FaultCounts;
  flood: FloodCounts & { held: number };
  relays: RelayFigures[];
}

interface PairPlan {
  a: PartySpec;
  b: PartySpec;
}

const increment = (map: Record<string, number>, key: string, by = 1) => {
  map[key] = (map[key] ?? 0) + by;
};

async function makeParties(system: Awaited<ReturnType<typeof startSystem>>, knobs: SoakKnobs) {
  const users: Array<Array<{ name: string; identity: IdentityMaterials }>> = [];
  for (let u = 1; u <= knobs.users; u++) {
    const user = `soak${u}`;
    await system.createUser(user);
    const parties = [];
    for (let p = 1; p <= knobs.partiesPerUser; p++) {
      parties.push({ name: `p${p}`, identity: await system.party(user, `p${p}`) });
    }
    users.push(parties);
  }
  return users;
}

function planPairs(knobs: SoakKnobs, users: Awaited<ReturnType<typeof makeParties>>): PairPlan[] {
  const random = seededRandom(knobs.seed);
  return Array.from({ length: knobs.pairs }, () => {
    const parties = pick(random, users);
    const a = pick(random, parties);
    const b = pick(
      random,
      parties.filter((p) => p !== a),
    );
    return {
      a: { identity: a.identity, dest: b.name, transport: pick(random, knobs.transports) },
      b: { identity: b.identity, dest: a.name, transport: pick(random, knobs.transports) },
    };
  });
}

/** Files one attempt's outcome in `result`; true when both directions arrived complete. */
function recordAttempt(result: SoakResult, outcome: PairResult): boolean {
  if (outcome.kind === "open-failed") {
    increment(result.failures, outcome.why);
    return false;
  }
  let ok = true;
  for (const direction of outcome.directions) {
    if (direction.kind === "complete") {
      result.bytesMoved += direction.bytes;
      continue;
    }
    ok = false;
    if (direction.kind === "lost") {
      result.bytesLost += direction.missing;
      result.directionsLost++;
      increment(result.failures, "lost");
    } else {
      increment(result.failures, direction.why);
    }
  }
  return ok;
}

async function settle(fleet: RelayFleet, relay: FleetRelay): Promise<number> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const open = await fleet.metric(relay, "flock_dataplane_connections_open");
    const active = await fleet.metric(relay, "flock_dataplane_pairs_active");
    if ((open === 0 && active === 0) || Date.now() > deadline) return open + active;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Each data plane once it has let go of what the run left it (the flood stopped first). */
async function measureRelays(fleet: RelayFleet): Promise<RelayFigures[]> {
  const figures: RelayFigures[] = [];
  for (const relay of fleet.relays) {
    const openAfter = await settle(fleet, relay);
    figures.push({
      name: relay.name,
      restarts: relay.restarts,
      before: relay.startStats,
      after: await fleet.stats(relay),
      openAfter,
      errorLines: relay.current.errorLines,
    });
  }
  return figures;
}

export async function runSoak(
  knobs: SoakKnobs,
  progress: (line: string) => void = () => {},
): Promise<SoakResult> {
  checkKnobs(knobs);
  const started = performance.now();
  const system = await startSystem({ dataPlane: false });
  const stateDir = await mkdtemp(join(tmpdir(), "flock-soak-"));
  let proxy: ChaosProxyClient | undefined;
  let fleet: RelayFleet | undefined;
  let flood: StalledFlood | undefined;
  try {
    proxy = await ChaosProxyClient.start(knobs.seed);
    fleet = await RelayFleet.start(system, proxy, knobs.relays, {
      stateDir,
      helloDeadlineMs: knobs.helloDeadlineMs,
    });
    const plans = planPairs(knobs, await makeParties(system, knobs));
    const relays = fleet.relays;
    flood = new StalledFlood(() => relays.map((r) => r.current.port), floodSources(knobs.floodSources));
    flood.start(knobs.floodConnections);

    const result: SoakResult = {
      wallSeconds: 0,
      phases: { setupSeconds: (performance.now() - started) / 1000, pairsSeconds: 0, settleSeconds: 0 },
      pairs: { completed: 0, firstTry: 0, givenUp: 0, failedAttempts: 0, framed: 0 },
      failures: {},
      bytesMoved: 0,
      bytesLost: 0,
      directionsLost: 0,
      connectRetries: {},
      streamBreaks: 0,
      resumes: 0,
      faults: emptyFaultCounts(),
      flood: { ...flood.counts, held: 0 },
      relays: [],
    };
    const onEvent = (event: ConnectEvent) => {
      if (event.type === "retry") increment(result.connectRetries, event.error.code);
      if (event.type === "broken") result.streamBreaks++;
      if (event.type === "resumed") result.resumes++;
    };
    const pacer = new Pacer(plans.length);
    const faults = Promise.all([
      injectDisconnects(knobs, pacer, proxy, result.faults),
      injectRestarts(knobs, pacer, fleet, result.faults),
      sendFuzzedHellos(knobs, pacer, fleet, result.faults),
    ]);

    const runPlan = async (plan: PairPlan, index: number) => {
      pacer.pairStarted();
      for (let attempt = 0; attempt <= knobs.retries; attempt++) {
        const outcome = await transferPair(plan.a, plan.b, `soak-${index}-${attempt}`, knobs.bytesEachWay, {
          deadlineMs: knobs.connectDeadlineMs,
          resumeDeadlineMs: knobs.resumeDeadlineMs,
          onEvent,
        });
        if (recordAttempt(result, outcome)) {
          result.pairs.completed++;
          if (outcome.kind === "opened" && outcome.framed) result.pairs.framed++;
          if (attempt === 0) result.pairs.firstTry++;
          return;
        }
        result.pairs.failedAttempts++;
      }
      result.pairs.givenUp++;
    };
    let next = 0;
    const ticker = setInterval(
      () => progress(soakProgress(result, plans.length, flood?.open ?? 0)),
      PROGRESS_INTERVAL_MS,
    );
    try {
      await Promise.all(
        Array.from({ length: knobs.concurrency }, async () => {
          for (let i = next++; i < plans.length; i = next++) await runPlan(plans[i] as PairPlan, i);
        }),
      );
    } finally {
      clearInterval(ticker);
      pacer.finish();
    }
    await faults;
    const settling = performance.now();
    result.phases.pairsSeconds = (settling - started) / 1000 - result.phases.setupSeconds;
    result.flood = { ...flood.counts, held: flood.open };
    flood.stop();
    result.relays = await measureRelays(fleet);
    result.phases.settleSeconds = (performance.now() - settling) / 1000;
    result.wallSeconds = (performance.now() - started) / 1000;
    return result;
  } finally {
    flood?.stop();
    await fleet?.stop();
    await proxy?.close();
    await system.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
}
