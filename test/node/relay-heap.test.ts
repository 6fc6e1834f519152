import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { issueRelay, makeCa } from "../helpers/dataplane-fixtures.ts";
import { startRelayProcess } from "../helpers/relay-process.ts";

/**
 * V8 (Node 20) never starts incremental marking while the old generation is under 8 MB. A
 * data plane above it that sat idle, then spliced a ws pair, ran a full mark-compact every
 * ~20 MB spliced, twice the CPU per GB of one below it (docs/benchmarks.md, "Relay CPU per
 * GB"). What `flock relay start` loads at start is what decides which side it is on.
 */
const V8_MARKING_THRESHOLD_BYTES = 8 * 1024 * 1024;
const HEAP_REPORT = pathToFileURL(new URL("../helpers/heap-report.mjs", import.meta.url).pathname).href;

describe("flock relay start, the process", () => {
  it("holds less V8 heap, once started, than the size at which V8 starts marking", async () => {
    const ca = await makeCa("Relay Heap CA");
    const relay = await issueRelay(ca, "bench");
    const relayProcess = await startRelayProcess({
      certs: { relayCaPem: ca.certPem, certPem: relay.certPem, keyPem: relay.keyPem },
      nodeArgs: ["--expose-gc", "--import", HEAP_REPORT],
      stderr: "pipe",
    });
    try {
      const heapUsed = new Promise<number>((resolve) => {
        let seen = "";
        relayProcess.child.stderr?.on("data", (chunk: Buffer) => {
          seen += chunk.toString();
          const match = /heap-used-bytes (\d+)\n/.exec(seen);
          if (match) resolve(Number(match[1]));
        });
      });
      relayProcess.child.kill("SIGUSR2");
      expect(await heapUsed).toBeLessThan(V8_MARKING_THRESHOLD_BYTES);
    } finally {
      await relayProcess.stop();
    }
  });
});
