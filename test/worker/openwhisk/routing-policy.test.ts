import { describe, expect, it } from "vitest";
import {
  type Candidate,
  inverseLatencyWeights,
  orderCandidates,
  weightedShuffle,
} from "../../../worker/openwhisk/routing-policy.ts";

const NOW = 1_000_000;

function candidate(name: string, latencyMs: number | null, backoffUntil = 0): Candidate {
  return { name, latencyMs, backoffUntil };
}

/** A deterministic uniform source: a linear congruential generator. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const names = (list: Candidate[]) => list.map((c) => c.name);

describe("round-robin", () => {
  it("rotates the start by the counter, keeping the rest as failover order", () => {
    const list = [candidate("c", 1), candidate("a", 1), candidate("b", 1)];
    const inputs = (counter: number) => ({ nowMs: NOW, counter, random: Math.random });
    expect(names(orderCandidates("round-robin", list, inputs(0)))).toEqual(["a", "b", "c"]);
    expect(names(orderCandidates("round-robin", list, inputs(1)))).toEqual(["b", "c", "a"]);
    expect(names(orderCandidates("round-robin", list, inputs(2)))).toEqual(["c", "a", "b"]);
    expect(names(orderCandidates("round-robin", list, inputs(3)))).toEqual(["a", "b", "c"]);
  });
});

describe("least-latency", () => {
  it("tries unmeasured backends first, then the fastest", () => {
    const list = [candidate("slow", 90), candidate("fast", 5), candidate("new", null), candidate("mid", 20)];
    const order = orderCandidates("least-latency", list, { nowMs: NOW, counter: 7, random: Math.random });
    expect(names(order)).toEqual(["new", "fast", "mid", "slow"]);
  });
});

describe("random weighted by inverse latency", () => {
  it("weighs 1/latency, and an unmeasured backend like the fastest", () => {
    expect(inverseLatencyWeights([candidate("a", 10), candidate("b", 40), candidate("c", null)])).toEqual([
      0.1, 0.025, 0.1,
    ]);
    expect(inverseLatencyWeights([candidate("zero", 0)])).toEqual([1]);
  });

  it("routes in proportion to speed", () => {
    const list = [candidate("fast", 10), candidate("slow", 40)];
    const random = seeded(42);
    const firsts = { fast: 0, slow: 0 };
    for (let i = 0; i < 4000; i++) {
      const first = orderCandidates("random", list, { nowMs: NOW, counter: i, random })[0];
      if (first) firsts[first.name as "fast" | "slow"]++;
    }
    // Expected share of the fast one: 0.1 / (0.1 + 0.025) = 0.8.
    expect(firsts.fast / 4000).toBeGreaterThan(0.75);
    expect(firsts.fast / 4000).toBeLessThan(0.85);
  });

  it("returns every backend exactly once", () => {
    const order = weightedShuffle(["a", "b", "c", "d"], [1, 2, 3, 4], seeded(7));
    expect([...order].sort()).toEqual(["a", "b", "c", "d"]);
  });
});

describe("back-off", () => {
  it.each([
    "round-robin",
    "least-latency",
    "random",
  ] as const)("%s puts resting backends last, soonest back first", (policy) => {
    const list = [candidate("a", 1, NOW + 5000), candidate("b", 50), candidate("c", 1, NOW + 1000)];
    const order = orderCandidates(policy, list, { nowMs: NOW, counter: 0, random: seeded(1) });
    expect(names(order)).toEqual(["b", "c", "a"]);
  });

  it("probes a backend again once its back-off has passed", () => {
    const list = [candidate("a", 1, NOW - 1), candidate("b", 50)];
    const order = orderCandidates("least-latency", list, { nowMs: NOW, counter: 0, random: Math.random });
    expect(names(order)).toEqual(["a", "b"]);
  });
});
