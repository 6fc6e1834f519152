import pino from "pino";
import { describe, expect, it } from "vitest";
import { chooseSplicer } from "../../dataplane/pairs/kernel-splice.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import type { TestParty, Transport } from "../helpers/dataplane-client.ts";
import { dialWithTicket } from "../helpers/dataplane-client.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();
const kernel = chooseSplicer(true);
const kernelPairs = () => (kernel.path === "kernel" ? kernel.stats().pairs : 0);

/** A data plane whose log lines are kept, parsed. */
async function startLogged(
  kernelSplice: boolean,
): Promise<{ dp: DataPlane; lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const dp = await fx.start({}, { logger, kernelSplice });
  return { dp, lines };
}

async function pairUp(port: number, transport: Transport): Promise<[TestParty, TestParty]> {
  const a = await dialWithTicket(fx, port, transport, fx.a, fx.b);
  const b = await dialWithTicket(fx, port, transport, fx.b, fx.a);
  await Promise.all([a.paired(), b.paired()]);
  return [a, b];
}

async function echo(a: TestParty, b: TestParty): Promise<string> {
  const got = new Promise<Buffer>((resolve) => b.dataStream().once("data", resolve));
  a.dataStream().write("ping");
  return (await got).toString();
}

async function splicePathMetric(dp: DataPlane) {
  return (await dp.metrics.splicePath.get()).values.map((v) => [v.labels.path, v.value]);
}

describe("the data plane's splice", () => {
  it("moves tcp pairs in the kernel, and says so in its log and metrics", async () => {
    const { dp, lines } = await startLogged(true);
    expect(lines.find((l) => l.msg === "data plane listening")).toMatchObject({ splice: "kernel" });
    expect(await splicePathMetric(dp)).toEqual([["kernel", 1]]);
    const before = kernelPairs();
    const [a, b] = await pairUp(dp.port, "tcp");
    expect(await echo(a, b)).toBe("ping");
    expect(kernelPairs()).toBe(before + 1);
  });

  it("keeps TLS pairs on the JS splice", async () => {
    const { dp } = await startLogged(true);
    const before = kernelPairs();
    const [a, b] = await pairUp(dp.port, "tls");
    expect(await echo(a, b)).toBe("ping");
    expect(kernelPairs()).toBe(before);
  });

  it("turned off (FLOCK_NATIVE_SPLICE=0), moves every pair in JS and says why", async () => {
    const { dp, lines } = await startLogged(false);
    expect(lines.find((l) => l.msg === "data plane listening")).toMatchObject({
      splice: "js",
      spliceWhy: "turned off (FLOCK_NATIVE_SPLICE=0)",
    });
    expect(await splicePathMetric(dp)).toEqual([["js", 1]]);
    const before = kernelPairs();
    const [a, b] = await pairUp(dp.port, "tcp");
    expect(await echo(a, b)).toBe("ping");
    expect(kernelPairs()).toBe(before);
  });
});
