import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { assignPair, findPairAssignment } from "../../../worker/db/pair-assignments.ts";

const T0 = 1_800_000_000;

describe("pair assignments", () => {
  it("records the first assignment and keeps it against a racing one", async () => {
    expect(await assignPair(env.DB, "p1", "r1", undefined, T0 + 360, T0)).toBe("r1");
    // The other side raced with a different view (no assignment seen): the first one wins.
    expect(await assignPair(env.DB, "p1", "r2", undefined, T0 + 360, T0)).toBe("r1");
    expect(await findPairAssignment(env.DB, "p1", T0)).toEqual({ relay: "r1", expiresAt: T0 + 360 });
  });

  it("moves a pair when the caller saw the current assignment (its relay died)", async () => {
    await assignPair(env.DB, "p2", "r1", undefined, T0 + 360, T0);
    expect(await assignPair(env.DB, "p2", "r2", "r1", T0 + 400, T0 + 40)).toBe("r2");
    expect(await findPairAssignment(env.DB, "p2", T0 + 40)).toEqual({ relay: "r2", expiresAt: T0 + 400 });
  });

  it("forgets an assignment once it expires", async () => {
    await assignPair(env.DB, "p3", "r1", undefined, T0 + 10, T0);
    expect(await findPairAssignment(env.DB, "p3", T0 + 10)).toBeUndefined();
    expect(await assignPair(env.DB, "p3", "r2", undefined, T0 + 400, T0 + 10)).toBe("r2");
  });
});
