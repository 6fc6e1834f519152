import { describe, expect, it } from "vitest";
import {
  MAX_PAIR_LOOKUP_BUCKETS,
  PAIR_LOOKUP_BURST,
  PAIR_LOOKUPS_PER_SECOND,
  PairLookupBudget,
} from "../../../worker/tickets/pair-lookup-budget.ts";

/** How many lookups `party` gets at `now` before a refusal, and that refusal. */
function drain(budget: PairLookupBudget, party: string, now: number): { taken: number; refusal: unknown } {
  for (let taken = 0; ; taken++) {
    try {
      budget.take(party, now);
    } catch (refusal) {
      return { taken, refusal };
    }
  }
}

describe("PairLookupBudget", () => {
  it("gives a party the burst at once, then refills at the rate, never past the burst", () => {
    const budget = new PairLookupBudget();
    expect(drain(budget, "u/a", 100)).toMatchObject({
      taken: PAIR_LOOKUP_BURST,
      refusal: { code: "PAIR_LOOKUP_LIMITED", retryAfterSeconds: 1 },
    });
    expect(drain(budget, "u/a", 103).taken).toBe(3 * PAIR_LOOKUPS_PER_SECOND);
    expect(drain(budget, "u/a", 10_000).taken).toBe(PAIR_LOOKUP_BURST);
  });

  it("refills nothing when the clock goes back", () => {
    const budget = new PairLookupBudget();
    drain(budget, "u/a", 100);
    expect(drain(budget, "u/a", 50).taken).toBe(0);
    expect(drain(budget, "u/a", 101).taken).toBe(PAIR_LOOKUPS_PER_SECOND);
  });

  it(`keeps at most MAX_PAIR_LOOKUP_BUCKETS (${MAX_PAIR_LOOKUP_BUCKETS}) parties, dropping the least recently seen`, () => {
    const budget = new PairLookupBudget();
    drain(budget, "u/flood", 100);
    drain(budget, "u/idle", 100);
    for (let i = 0; i < MAX_PAIR_LOOKUP_BUCKETS - 2; i++) budget.take(`u/p${i}`, 100);
    // The flooding party is seen again after the idle one, so the idle one is dropped first.
    budget.take("u/flood", 101);
    budget.take("u/new", 101);
    expect(budget.size).toBe(MAX_PAIR_LOOKUP_BUCKETS);
    expect(drain(budget, "u/flood", 101).taken).toBe(PAIR_LOOKUPS_PER_SECOND - 1);
    expect(drain(budget, "u/idle", 101).taken).toBe(PAIR_LOOKUP_BURST);
  });
});
