import { describe, expect, it } from "vitest";
import { NO_OLD_SPACE_FLOOR_WARNING, oldSpaceFloorMb } from "../../cli/old-space-floor.ts";
import { issueRelay, makeCa } from "../helpers/dataplane-fixtures.ts";
import { startRelayProcess } from "../helpers/relay-process.ts";

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
    ["warns at start when node was started without it", [], true],
    ["says nothing when node was started with it", ["--initial-old-space-size=64"], false],
  ])("flock relay start %s", async (_, nodeArgs, warns) => {
    const ca = await makeCa("Old Space Floor CA");
    const relay = await issueRelay(ca, "bench");
    const relayProcess = await startRelayProcess({
      certs: { relayCaPem: ca.certPem, certPem: relay.certPem, keyPem: relay.keyPem },
      nodeArgs,
    });
    try {
      const warnings = relayProcess.startLog
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        // Other warnings come too: nothing answers at this relay's worker URL.
        .filter((entry) => entry.level === 40 && entry.msg.includes("old generation"))
        .map((entry) => entry.msg);
      expect(warnings).toEqual(warns ? [NO_OLD_SPACE_FLOOR_WARNING] : []);
    } finally {
      await relayProcess.stop();
    }
  });
});
