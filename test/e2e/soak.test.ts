/**
 * `npm run soak`, short: the same code with SHORT_SOAK's knobs (docs/testing.md, "The
 * soak"). Pairs over mixed transports through two data planes in their own processes, with
 * connections cut mid-stream, a data plane crash, a stalled-handshake flood and fuzzed
 * hellos at once; every byte that arrives is checked with sha256. The first test runs the
 * soak, the others read what it found.
 */
import { describe, expect, it } from "vitest";
import { SHORT_SOAK } from "../../bench/soak/knobs.ts";
import type { SoakResult } from "../../bench/soak/run-soak.ts";
import { runSoak } from "../../bench/soak/run-soak.ts";
import { soakSummary } from "../../bench/soak/soak-report.ts";

/**
 * What a data plane may hold after the run beyond what it held before: the worker link's
 * keep-alive sockets and the like. A leak of one descriptor per pair or per flood
 * connection would be far above it.
 */
const FD_SLACK = 8;
const SOAK_TEST_TIMEOUT_MS = 180_000;

describe("the short soak", () => {
  let result: SoakResult;

  it(
    "completes every pair through cuts, a crash, a flood and fuzzed hellos",
    async () => {
      result = await runSoak(SHORT_SOAK);
      // What the run saw, for whoever reads a failure (or a slow run) in the log.
      process.stderr.write(soakSummary(SHORT_SOAK, result));
      expect(result.pairs).toMatchObject({ completed: SHORT_SOAK.pairs, givenUp: 0 });
      expect(result.faults.disconnects.injected).toBeGreaterThan(0);
      expect(result.faults.restarts).toEqual({ crash: SHORT_SOAK.restarts, graceful: 0 });
      expect(result.flood.opened).toBeGreaterThan(SHORT_SOAK.floodConnections);
      expect(result.faults.fuzz).toMatchObject({ sent: SHORT_SOAK.fuzzCases, accepted: 0, leftOpen: 0 });
      expect(result.bytesMoved).toBeGreaterThanOrEqual(SHORT_SOAK.pairs * 2 * SHORT_SOAK.bytesEachWay);
    },
    SOAK_TEST_TIMEOUT_MS,
  );

  it("leaves no data plane with an error logged, a connection held or descriptors leaked", () => {
    expect(result.relays.map((r) => [r.name, r.errorLines, r.openAfter])).toEqual(
      result.relays.map((r) => [r.name, [], 0]),
    );
    // The first data plane is never restarted: its figures span the whole run.
    const [witness] = result.relays;
    expect(witness?.restarts).toBe(0);
    expect(witness?.after.fds).toBeLessThanOrEqual((witness?.before.fds ?? 0) + FD_SLACK);
  });

  it("heals the interruptions on wire version 2: every pair framed, resumes, no byte lost", () => {
    expect(result.pairs.framed).toBe(SHORT_SOAK.pairs);
    expect(result.resumes).toBeGreaterThan(0);
    expect(result.bytesLost).toBe(0);
  });

  // Around the crash, a break can fall between the two sides' OPEN frames, and a pair can be
  // split across the two data planes (docs/testing.md "The soak"): the side in doubt looks
  // for its peer on the session's resume channel, and a waiting side follows a moved pair, so
  // neither fails an attempt.
  it("heals a break between the two sides' OPEN frames and a pair split across data planes: no failed attempt", () => {
    expect(result.failures).toEqual({});
    expect(result.pairs).toMatchObject({ failedAttempts: 0, firstTry: SHORT_SOAK.pairs });
  });
});
