import { describe, expect, it } from "vitest";
import { issueRelay, makeCa } from "../helpers/dataplane-fixtures.ts";
import { collectGarbage, GC_ON_DEMAND_NODE_ARGS, startRelayProcess } from "../helpers/relay-process.ts";

/**
 * V8 (Node 20) never starts incremental marking while the old generation is under 8 MB. A
 * data plane above it that sat idle, then spliced a ws pair, ran a full mark-compact every
 * ~20 MB spliced, twice the CPU per GB of one below it (docs/benchmarks.md, "Relay CPU per
 * GB"). What `flock relay start` loads at start is what decides which side it is on.
 */
const V8_MARKING_THRESHOLD_BYTES = 8 * 1024 * 1024;

describe("flock relay start, the process", () => {
  it("holds less V8 heap, once started, than the size at which V8 starts marking", async () => {
    const ca = await makeCa("Relay Heap CA");
    const relay = await issueRelay(ca, "bench");
    const relayProcess = await startRelayProcess({
      certs: { relayCaPem: ca.certPem, certPem: relay.certPem, keyPem: relay.keyPem },
      nodeArgs: GC_ON_DEMAND_NODE_ARGS,
      stderr: "pipe",
    });
    try {
      expect(await collectGarbage(relayProcess)).toBeLessThan(V8_MARKING_THRESHOLD_BYTES);
    } finally {
      await relayProcess.stop();
    }
  });
});
