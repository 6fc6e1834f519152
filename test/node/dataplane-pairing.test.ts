import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PairEndReason, PairingSide } from "../../dataplane/pairs/pairing.ts";
import { Pairing } from "../../dataplane/pairs/pairing.ts";
import type { ErrorCode } from "../../protocol/errors.ts";
import { FlockError } from "../../protocol/errors.ts";
import { pairId } from "../../protocol/ticket.ts";
import { TestParty } from "../helpers/dataplane-client.ts";
import type { Party } from "../helpers/dataplane-fixtures.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

class FakeSide implements PairingSide {
  failures: ErrorCode[] = [];
  constructor(
    readonly id: string,
    readonly self: string,
    readonly peer: string,
    readonly pair = "p1",
    readonly user = self.split("/")[0] as string,
  ) {}
  fail(code: ErrorCode): void {
    this.failures.push(code);
  }
}

function makePairing(
  options: {
    pairingTimeoutMs?: number;
    maxPairs?: number;
    maxWaitingPerParty?: number;
    maxPairsPerUser?: number;
  } = {},
) {
  const paired: Array<[string, string]> = [];
  const ended: Array<[string, PairEndReason]> = [];
  const pairing = new Pairing<FakeSide>({
    pairingTimeoutMs: options.pairingTimeoutMs ?? 60_000,
    maxPairs: options.maxPairs ?? 100,
    maxWaitingPerParty: options.maxWaitingPerParty ?? 100,
    maxPairsPerUser: options.maxPairsPerUser ?? 100,
    onPaired: (w, a) => paired.push([w.id, a.id]),
    onSideEnded: (side, reason) => ended.push([side.id, reason]),
  });
  return { pairing, paired, ended };
}

describe("Pairing (no sockets)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("pairs opposite directions of one pair id", () => {
    const { pairing, paired } = makePairing();
    expect(pairing.join(new FakeSide("1", "u/a", "u/b"))).toBe("waiting");
    expect(pairing.join(new FakeSide("2", "u/b", "u/a"))).toBe("paired");
    expect(paired).toEqual([["1", "2"]]);
    expect([pairing.active, pairing.waiting]).toEqual([1, 0]);
  });

  it("keeps the same direction apart: a newer arrival replaces the stale one", () => {
    const { pairing, paired, ended } = makePairing();
    const stale = new FakeSide("1", "u/a", "u/b");
    pairing.join(stale);
    pairing.join(new FakeSide("2", "u/a", "u/b"));
    expect(stale.failures).toEqual(["REPLACED"]);
    expect(ended).toEqual([["1", "replaced"]]);
    pairing.join(new FakeSide("3", "u/b", "u/a"));
    expect(paired).toEqual([["2", "3"]]);
  });

  it("holds many pairs at once without mixing them", () => {
    const { pairing, paired } = makePairing();
    for (let i = 0; i < 50; i++) pairing.join(new FakeSide(`a${i}`, "u/a", "u/b", `p${i}`));
    for (let i = 49; i >= 0; i--) pairing.join(new FakeSide(`b${i}`, "u/b", "u/a", `p${i}`));
    expect(paired).toHaveLength(50);
    for (const [w, a] of paired) expect(w.slice(1)).toBe(a.slice(1));
  });

  it("never meets sides of another pair of parties under the same pair id", () => {
    const { pairing, paired } = makePairing();
    pairing.join(new FakeSide("1", "u/a", "u/b"));
    pairing.join(new FakeSide("2", "u/c", "u/a"));
    expect(paired).toEqual([]);
    expect(pairing.waiting).toBe(2);
  });

  it("refuses a match across users with CROSS_USER", () => {
    const { pairing } = makePairing();
    pairing.join(new FakeSide("1", "u/a", "u/b", "p1", "u"));
    expect(() => pairing.join(new FakeSide("2", "u/b", "u/a", "p1", "v"))).toThrow(
      new FlockError("CROSS_USER"),
    );
  });

  it("times a lone side out with PEER_TIMEOUT", () => {
    vi.useFakeTimers();
    const { pairing, ended } = makePairing({ pairingTimeoutMs: 1000 });
    const side = new FakeSide("1", "u/a", "u/b");
    pairing.join(side);
    vi.advanceTimersByTime(999);
    expect(side.failures).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(side.failures).toEqual(["PEER_TIMEOUT"]);
    expect(ended).toEqual([["1", "peer_timeout"]]);
    expect(pairing.waiting).toBe(0);
  });

  it("counts a waiting side against capacity, but lets its peer in", () => {
    const { pairing } = makePairing({ maxPairs: 1 });
    pairing.join(new FakeSide("1", "u/a", "u/b"));
    expect(() => pairing.join(new FakeSide("2", "u/c", "u/d", "p2"))).toThrow(
      new FlockError("OVER_CAPACITY"),
    );
    expect(pairing.join(new FakeSide("3", "u/b", "u/a"))).toBe("paired");
    expect(() => pairing.join(new FakeSide("4", "u/c", "u/d", "p2"))).toThrow(
      new FlockError("OVER_CAPACITY"),
    );
    pairing.pairEnded(new FakeSide("1", "u/a", "u/b"));
    expect(pairing.join(new FakeSide("5", "u/c", "u/d", "p2"))).toBe("waiting");
  });

  it("caps the sides one party has waiting, and gives the share back on every way out", () => {
    vi.useFakeTimers();
    const { pairing } = makePairing({ maxWaitingPerParty: 2, pairingTimeoutMs: 1000 });
    const first = new FakeSide("1", "u/a", "u/b", "p1");
    pairing.join(first);
    pairing.join(new FakeSide("2", "u/a", "u/b", "p2"));
    const refused = () => pairing.join(new FakeSide("3", "u/a", "u/b", "p3"));
    expect(refused).toThrow(
      new FlockError(
        "OVER_CAPACITY",
        "This party already has 2 sides waiting for a peer, its share of the data plane.",
      ),
    );
    // Another party of the same user, and another user, still get in.
    expect(pairing.join(new FakeSide("4", "u/c", "u/b", "p1"))).toBe("waiting");
    expect(pairing.join(new FakeSide("5", "v/a", "v/b", "p1"))).toBe("waiting");
    // A reconnect of a waiting side replaces it without needing a free share.
    expect(pairing.join(new FakeSide("1b", "u/a", "u/b", "p1"))).toBe("waiting");
    expect(refused).toThrow("This party already has 2 sides waiting");
    pairing.join(new FakeSide("6", "u/b", "u/a", "p1")); // paired: one share back
    expect(pairing.join(new FakeSide("3", "u/a", "u/b", "p3"))).toBe("waiting");
    expect(() => pairing.join(new FakeSide("8", "u/a", "u/b", "p8"))).toThrow("already has 2 sides");
    pairing.leave(first); // not waiting any more (replaced): a no-op
    vi.advanceTimersByTime(1000); // p2, p3 time out: both shares back
    expect(pairing.join(new FakeSide("7", "u/a", "u/b", "p7"))).toBe("waiting");
    expect(pairing.join(new FakeSide("9", "u/a", "u/b", "p9"))).toBe("waiting");
    pairing.failAllWaiting("DRAINING", "drained");
    expect(pairing.waiting).toBe(0);
    // Every share is back: each party can wait twice again.
    for (const self of ["u/a", "u/c", "v/a"]) {
      for (const pair of ["q1", "q2"])
        expect(pairing.join(new FakeSide(pair, self, "u/z", pair))).toBe("waiting");
    }
  });

  it("caps the pairs one user holds, waiting or spliced, and frees them when pairs end", () => {
    const { pairing } = makePairing({ maxPairsPerUser: 2 });
    pairing.join(new FakeSide("1", "u/a", "u/b", "p1"));
    const arriving = new FakeSide("2", "u/b", "u/a", "p1");
    pairing.join(arriving);
    pairing.join(new FakeSide("3", "u/a", "u/c", "p2"));
    expect(() => pairing.join(new FakeSide("4", "u/d", "u/e", "p3"))).toThrow(
      new FlockError("OVER_CAPACITY", "This user already holds 2 pairs, its share of the data plane."),
    );
    expect(pairing.join(new FakeSide("5", "v/a", "v/b", "p3"))).toBe("waiting");
    pairing.pairEnded(arriving);
    expect(pairing.join(new FakeSide("4", "u/d", "u/e", "p3"))).toBe("waiting");
  });

  it("forgets a waiting side that left, and ignores leave for others", () => {
    const { pairing, ended } = makePairing();
    const side = new FakeSide("1", "u/a", "u/b");
    pairing.join(side);
    pairing.leave(new FakeSide("9", "u/a", "u/b"));
    expect(pairing.waiting).toBe(1);
    pairing.leave(side);
    expect(pairing.waiting).toBe(0);
    expect(ended).toEqual([["1", "abandoned"]]);
  });
});

const fx = useDataPlaneFixtures();

async function side(port: number, from: Party, to: Party, channel = "default"): Promise<TestParty> {
  const party = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
  const pair = await pairId(from.user, from.party, to.party, channel);
  await party.sendTicket(await fx.ticket(from, to, { chn: channel, pair }), from);
  return party;
}

async function endReasons(dp: {
  metrics: { pairEnds: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> } };
}) {
  const { values } = await dp.metrics.pairEnds.get();
  return Object.fromEntries(values.map((v) => [(v.labels as { reason: string }).reason, v.value]));
}

function transfer(from: Duplex, to: Duplex, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    to.on("data", (chunk: Buffer) => {
      got += chunk.length;
      if (got >= bytes) resolve();
    });
    to.once("close", () => reject(new Error("closed early")));
    const piece = Buffer.alloc(64 * 1024, 1);
    for (let sent = 0; sent < bytes; sent += piece.length) from.write(piece);
  });
}

describe("pairing on a live data plane", () => {
  it("answers PEER_TIMEOUT to a side whose peer never comes", async () => {
    const dp = await fx.start({ pairingTimeoutMs: 150 });
    const a = await side(dp.port, fx.a, fx.b);
    expect(await a.errorCode()).toBe("PEER_TIMEOUT");
    expect(await endReasons(dp)).toMatchObject({ peer_timeout: 1 });
  });

  it("answers REPLACED to the older of two connections for one side, and pairs the newer", async () => {
    const dp = await fx.start();
    const old = await side(dp.port, fx.a, fx.b);
    expect(await old.frame()).toEqual({ type: "waiting" });
    const fresh = await side(dp.port, fx.a, fx.b);
    expect(await old.errorCode()).toBe("REPLACED");
    const b = await side(dp.port, fx.b, fx.a);
    await Promise.all([fresh.paired(), b.paired()]);
  });

  it("answers OVER_CAPACITY beyond maxPairs", async () => {
    const dp = await fx.start({ maxPairs: 1 });
    const a = await side(dp.port, fx.a, fx.b, "one");
    expect(await a.frame()).toEqual({ type: "waiting" });
    const other = await side(dp.port, fx.a, fx.b, "two");
    expect(await other.errorCode()).toBe("OVER_CAPACITY");
    const b = await side(dp.port, fx.b, fx.a, "one");
    await Promise.all([a.paired(), b.paired()]);
  });

  it("refuses a party past its share of waiting sides while another user still pairs", async () => {
    const dp = await fx.start({ maxWaitingPerParty: 2 });
    for (const channel of ["one", "two"]) {
      expect(await (await side(dp.port, fx.a, fx.b, channel)).frame()).toEqual({ type: "waiting" });
    }
    const third = await side(dp.port, fx.a, fx.b, "three");
    expect(await third.frame()).toEqual({
      type: "error",
      code: "OVER_CAPACITY",
      message: "This party already has 2 sides waiting for a peer, its share of the data plane.",
    });
    const c = await side(dp.port, fx.c, fx.d);
    const d = await side(dp.port, fx.d, fx.c);
    await Promise.all([c.paired(), d.paired()]);
  });

  it("refuses a user past its share of pairs while another user still pairs", async () => {
    const dp = await fx.start({ maxPairsPerUser: 1 });
    const a = await side(dp.port, fx.a, fx.b, "one");
    const b = await side(dp.port, fx.b, fx.a, "one");
    await Promise.all([a.paired(), b.paired()]);
    const more = await side(dp.port, fx.b, fx.a, "two");
    expect(await more.frame()).toEqual({
      type: "error",
      code: "OVER_CAPACITY",
      message: "This user already holds 1 pairs, its share of the data plane.",
    });
    const c = await side(dp.port, fx.c, fx.d);
    const d = await side(dp.port, fx.d, fx.c);
    await Promise.all([c.paired(), d.paired()]);
  });

  it("closes a pair idle longer than the idle timeout", async () => {
    const dp = await fx.start({ idleTimeoutMs: 200 });
    const a = await side(dp.port, fx.a, fx.b);
    const b = await side(dp.port, fx.b, fx.a);
    await Promise.all([a.paired(), b.paired()]);
    a.dataStream().resume();
    b.dataStream().resume();
    // Reset, not ended: see dataplane-pair-ends.test.ts.
    await Promise.all([a.gone, b.gone]);
    expect(await endReasons(dp)).toMatchObject({ idle_timeout: 1 });
  });

  it("delivers what a side sent before its peer arrived, in order, even past maxEarlyBytes", async () => {
    const dp = await fx.start({ maxEarlyBytes: 1024 });
    const a = await side(dp.port, fx.a, fx.b);
    expect(await a.frame()).toEqual({ type: "waiting" });
    const early = Buffer.alloc(200 * 1024);
    for (let i = 0; i < early.length; i++) early[i] = i % 253;
    a.stream.write(early);
    const b = await side(dp.port, fx.b, fx.a);
    await b.paired();
    const sb = b.dataStream();
    const chunks: Buffer[] = [];
    let n = 0;
    await new Promise<void>((resolve) =>
      sb.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        n += chunk.length;
        if (n >= early.length) resolve();
      }),
    );
    expect(Buffer.concat(chunks).equals(early)).toBe(true);
  });

  it("frees the place of a side that left after filling its early bytes, long before the pairing timeout", async () => {
    const dp = await fx.start({ maxEarlyBytes: 1024, waitingProbeIntervalMs: 50 });
    const a = await side(dp.port, fx.a, fx.b);
    expect(await a.frame()).toEqual({ type: "waiting" });
    // Far more than the relay reads: its FIN sits behind bytes nobody reads any more.
    a.stream.write(Buffer.alloc(8 * 1024 * 1024, 7));
    a.stream.destroy();
    await expect.poll(() => dp.waitingSides(), { timeout: 10_000 }).toBe(0);
    expect(await endReasons(dp)).toMatchObject({ abandoned: 1 });
    // Its place is free: the same side can wait again.
    const again = await side(dp.port, fx.a, fx.b);
    expect(await again.frame()).toEqual({ type: "waiting" });
  });

  it("does not let a stalled peer slow other pairs", async () => {
    const dp = await fx.start();
    const writer = await side(dp.port, fx.a, fx.b, "stalled");
    const sleeper = await side(dp.port, fx.b, fx.a, "stalled");
    await Promise.all([writer.paired(), sleeper.paired()]);
    // The sleeper never reads; the writer queues far more than kernel and relay buffers hold.
    const w = writer.dataStream();
    const queued = 64 * 1024 * 1024;
    // Many small writes, so writableLength shrinks as each one is taken by the kernel.
    const piece = Buffer.alloc(64 * 1024, 2);
    for (let n = 0; n < queued; n += piece.length) w.write(piece);

    const a = await side(dp.port, fx.a, fx.b, "busy");
    const b = await side(dp.port, fx.b, fx.a, "busy");
    await Promise.all([a.paired(), b.paired()]);
    const sa = a.dataStream();
    const sb = b.dataStream();
    await Promise.all([transfer(sa, sb, 8 * 1024 * 1024), transfer(sb, sa, 8 * 1024 * 1024)]);
    // The stalled pair is still there, still stalled: backpressure kept most of it at the writer.
    expect(dp.activePairs()).toBe(2);
    expect(w.writableLength).toBeGreaterThan(queued / 2);
  });

  it("drains: DRAINING to waiting sides and new hellos, pairs finish, then it stops", async () => {
    const dp = await fx.start();
    const a = await side(dp.port, fx.a, fx.b, "live");
    const b = await side(dp.port, fx.b, fx.a, "live");
    await Promise.all([a.paired(), b.paired()]);
    const lonely = await side(dp.port, fx.a, fx.b, "lonely");
    expect(await lonely.frame()).toEqual({ type: "waiting" });
    const late = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await late.readChallenge();

    const drained = dp.drain(60_000);
    expect(await lonely.errorCode()).toBe("DRAINING");
    await late.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
    expect(await late.errorCode()).toBe("DRAINING");

    // The live pair still moves bytes, and the drain ends when it closes.
    const sa = a.dataStream();
    const sb = b.dataStream();
    await transfer(sa, sb, 1024 * 1024);
    sa.end();
    sb.end();
    await drained;
    expect(await endReasons(dp)).toMatchObject({ drained: 1, closed: 1 });
  });

  it("drain cuts pairs still open at the deadline", async () => {
    const dp = await fx.start();
    const a = await side(dp.port, fx.a, fx.b);
    const b = await side(dp.port, fx.b, fx.a);
    await Promise.all([a.paired(), b.paired()]);
    a.dataStream().resume();
    await dp.drain(100);
    await a.gone;
    expect(await endReasons(dp)).toMatchObject({ drained: 1 });
  });
});
