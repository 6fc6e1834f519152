import { PerformanceObserver } from "node:perf_hooks";
import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { sha256, toBase64Url } from "../../protocol/encoding.ts";
import { TestParty } from "../helpers/dataplane-client.ts";
import { certField, proofSignature } from "../helpers/dataplane-fixtures.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();

async function pairOnce(port: number) {
  const a = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
  const { nonce } = await a.readChallenge();
  const ticket = await fx.ticket(fx.a, fx.b);
  const sig = proofSignature(fx.a, nonce, toBase64Url(await sha256(ticket)));
  a.send({ type: "hello", ticket, cert: certField(fx.a), sig });
  const b = await TestParty.dial({
    transport: "tls",
    port,
    relayCaPem: fx.relayCa.certPem,
    tlsIdentity: fx.b,
  });
  await b.sendTicket(await fx.ticket(fx.b, fx.a));
  await Promise.all([a.paired(), b.paired()]);
  return { a, b, secrets: [ticket, sig, certField(fx.a)] };
}

/** Allocates about 64 MiB that dies at once, so V8 collects its young generation several times. */
function makeGarbage(): number {
  let junk: number[] = [];
  for (let i = 0; i < 8192; i++) junk = new Array<number>(1024).fill(i);
  return junk.length;
}

/** Resolves once node has handed a PerformanceObserver the entries of a collection. */
function nextCollectionSeen(): Promise<void> {
  return new Promise((resolve) => {
    const witness = new PerformanceObserver(() => {
      witness.disconnect();
      resolve();
    });
    witness.observe({ entryTypes: ["gc"] });
    makeGarbage();
  });
}

describe("data plane metrics", () => {
  it("serves pairs, pairing latency, bytes, errors by code and end reasons on /metrics", async () => {
    const dp = await fx.start();
    const { a, b } = await pairOnce(dp.port);
    a.dataStream().write("12345");
    await new Promise((resolve) => b.dataStream().once("data", resolve));
    const refused = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await refused.sendTicket(await fx.ticket(fx.a, fx.b));
    expect(await refused.errorCode()).toBe("PROOF_MISSING");

    const live = await (await fetch(`http://127.0.0.1:${dp.metricsPort}/metrics`)).text();
    expect(live).toMatch(/^flock_dataplane_pairs_active 1$/m);
    expect(live).toMatch(/^flock_dataplane_sides_waiting 0$/m);
    expect(live).toMatch(/^flock_dataplane_pairs_total 1$/m);
    expect(live).toMatch(/^flock_dataplane_pairing_seconds_count 1$/m);
    expect(live).toMatch(/^flock_dataplane_errors_total\{code="PROOF_MISSING"\} 1$/m);
    expect(live).toMatch(/^flock_dataplane_connections_total\{transport="tls"\} 1$/m);

    a.stream.end();
    b.stream.end();
    await expect
      .poll(async () => (await fetch(`http://127.0.0.1:${dp.metricsPort}/metrics`)).text())
      .toMatch(/^flock_dataplane_pair_ends_total\{reason="closed"\} 1$/m);
    const after = await (await fetch(`http://127.0.0.1:${dp.metricsPort}/metrics`)).text();
    expect(after).toMatch(/^flock_dataplane_bytes_total 5$/m);
    expect(after).toMatch(/^flock_dataplane_pairs_active 0$/m);
  });

  it("count V8's collections while the data plane runs, and no longer once it stopped", async () => {
    const dp = await fx.start();
    const scrape = async () => (await fetch(`http://127.0.0.1:${dp.metricsPort}/metrics`)).text();
    await nextCollectionSeen();
    const live = await scrape();
    expect(live).toMatch(/^flock_dataplane_gc_total\{kind="minor"\} [1-9]\d*$/m);
    const seconds = /^flock_dataplane_gc_seconds_total\{kind="minor"\} (\S+)$/m.exec(live)?.[1];
    expect(Number(seconds)).toBeGreaterThan(0);
    // The test process was started without the floor.
    expect(live).toMatch(/^flock_dataplane_old_space_floor_bytes 0$/m);

    await dp.stop();
    const counted = () => dp.metrics.registry.getSingleMetricAsString("flock_dataplane_gc_total");
    const atStop = await counted();
    // An observer left connected would be handed the same entries, before the witness.
    await nextCollectionSeen();
    expect(await counted()).toBe(atStop);
  });

  it("listen on loopback unless told otherwise, whatever address the relay listens on", async () => {
    const scrape = (host: string, port: number | null) =>
      fetch(`http://${host}:${port}/metrics`).then(
        (res) => res.status,
        () => "unreachable",
      );
    const dp = await fx.start({}, { host: "127.0.0.2" });
    expect(await scrape("127.0.0.1", dp.metricsPort)).toBe(200);
    expect(await scrape("127.0.0.2", dp.metricsPort)).toBe("unreachable");
    const opened = await fx.start({}, { host: "127.0.0.2", metricsHost: "127.0.0.3" });
    expect(await scrape("127.0.0.3", opened.metricsPort)).toBe(200);
  });

  it("answers 404 off /metrics and can be turned off", async () => {
    const dp = await fx.start();
    expect((await fetch(`http://127.0.0.1:${dp.metricsPort}/`)).status).toBe(404);
    const off = await fx.start({}, { metricsPort: null });
    expect(off.metricsPort).toBeNull();
  });
});

describe("data plane logs", () => {
  it("say which connection did what, and never carry tickets, signatures or certificates", async () => {
    let text = "";
    const sink = new Writable({
      write(chunk, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const dp = await fx.start({}, { logger: pino({ level: "debug" }, sink) });
    const { a, b, secrets } = await pairOnce(dp.port);
    const forged = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    const badTicket = `${(await fx.ticket(fx.a, fx.b)).slice(0, -4)}AAAA`;
    await forged.sendTicket(badTicket, fx.a);
    expect(await forged.errorCode()).toBe("TICKET_INVALID");
    a.stream.end();
    b.stream.end();
    await expect.poll(() => text).toContain('"msg":"pair ended"');

    const lines = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg === "paired").map((l) => l.party)).toEqual(["alice/a", "alice/b"]);
    expect(lines.find((l) => l.msg === "refused")).toMatchObject({
      code: "TICKET_INVALID",
      transport: "tcp",
    });
    expect(
      lines.every((l) => l.msg === "data plane listening" || typeof l.conn === "string" || !("code" in l)),
    ).toBe(true);
    for (const secret of [...secrets, badTicket, fx.a.keyPem, fx.relay.keyPem]) {
      expect(text).not.toContain(secret.slice(20, 60));
    }
  });
});

describe("load reports", () => {
  it("are signed with the relay key and carry pairs, waiting sides, bytes/s and capacity", async () => {
    const dp = await fx.start({ maxPairs: 77 });
    await pairOnce(dp.port);
    const waiting = await TestParty.dial({
      transport: "tls",
      port: dp.port,
      relayCaPem: fx.relayCa.certPem,
      tlsIdentity: fx.a,
    });
    await waiting.sendDirect("b", "solo");
    expect(await waiting.frame()).toEqual({ type: "waiting" });
    const before = fx.worker.reports.length;
    await dp.reportNow();
    expect(fx.worker.reports.slice(before)).toEqual([
      { activePairs: 1, waitingSides: 1, bytesPerSecond: 0, capacity: 77 },
    ]);
  });

  it("are sent on their own every interval, and report capacity 0 while draining", async () => {
    const before = fx.worker.reports.length;
    // The worker's answer sets the pace from the second report on.
    fx.worker.reportIntervalSeconds = 0.05;
    const dp = await fx.start({}, { reportIntervalMs: 60_000 });
    await expect.poll(() => fx.worker.reports.length).toBeGreaterThan(before + 2);
    expect(fx.worker.reports.at(-1)).toMatchObject({ capacity: 10_000 });
    await dp.drain(10);
    await expect.poll(() => fx.worker.reports.at(-1)).toMatchObject({ capacity: 0 });
    fx.worker.reportIntervalSeconds = 10;
  });
});
