import { describe, expect, it } from "vitest";
import { NO_OLD_SPACE_FLOOR_WARNING } from "../../cli/commands/relay.ts";
import { oldSpaceFloorMb } from "../../dataplane/old-space-floor.ts";
import { issueRelay, makeCa } from "../helpers/dataplane-fixtures.ts";
import { collectGarbage, GC_ON_DEMAND_NODE_ARGS, startRelayProcess } from "../helpers/relay-process.ts";

const MIB = 1024 * 1024;

/** The value of one sample on a Prometheus text page, 0 when the page has none yet. */
function sample(page: string, name: string): number {
  const line = page.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe("the floor under V8's old generation (docs/deploying.md, \"V8's old generation\")", () => {
  it("is read from node's flags as node reads them: dashes or underscores, the last one wins, 0 is none", () => {
    expect(oldSpaceFloorMb([])).toBeUndefined();
    expect(oldSpaceFloorMb(["--initial-old-space-size=64"])).toBe(64);
    expect(oldSpaceFloorMb(["--initial_old_space_size=128"])).toBe(128);
    expect(oldSpaceFloorMb(["--initial-old-space-size=64", "--initial-old-space-size=96"])).toBe(96);
    expect(oldSpaceFloorMb(["--initial-old-space-size=0"])).toBeUndefined();
    expect(oldSpaceFloorMb(["--max-old-space-size=512", "--import", "tsx"])).toBeUndefined();
  });

  it.each([
    ["without it warns at start and shows a floor of 0", [], true, 0],
    ["with it says nothing and shows its floor", ["--initial-old-space-size=64"], false, 64 * MIB],
  ])("flock relay start %s on /metrics, where mark-compacts are counted", async (_, nodeArgs, warns, floorBytes) => {
    const ca = await makeCa("Old Space Floor CA");
    const relay = await issueRelay(ca, "bench");
    const relayProcess = await startRelayProcess({
      certs: { relayCaPem: ca.certPem, certPem: relay.certPem, keyPem: relay.keyPem },
      nodeArgs: [...nodeArgs, ...GC_ON_DEMAND_NODE_ARGS],
      stderr: "pipe",
      metrics: true,
    });
    const scrape = async () => (await fetch(`http://127.0.0.1:${relayProcess.metricsPort}/metrics`)).text();
    try {
      const warnings = relayProcess.startLog
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        // Other warnings come too: nothing answers at this relay's worker URL.
        .filter((entry) => entry.level === 40 && entry.msg.includes("old generation"))
        .map((entry) => entry.msg);
      expect(warnings).toEqual(warns ? [NO_OLD_SPACE_FLOOR_WARNING] : []);

      const before = await scrape();
      expect(before).toMatch(new RegExp(`^flock_dataplane_old_space_floor_bytes ${floorBytes}$`, "m"));
      const major = 'flock_dataplane_gc_total{kind="major"}';
      await collectGarbage(relayProcess);
      // node hands the observer its entries a turn of the event loop after the collection.
      await expect.poll(async () => sample(await scrape(), major)).toBeGreaterThan(sample(before, major));
      expect(sample(await scrape(), 'flock_dataplane_gc_seconds_total{kind="major"}')).toBeGreaterThan(0);
    } finally {
      await relayProcess.stop();
    }
  });
});
