import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { claimRequestNonce } from "../../../worker/db/request-nonces.ts";

const T0 = 1_800_000_000;

describe("request nonces", () => {
  it("accepts a jti once per signer", async () => {
    expect(await claimRequestNonce(env.DB, "kid-a", "j1", T0 + 120, T0)).toBe(true);
    expect(await claimRequestNonce(env.DB, "kid-a", "j1", T0 + 120, T0 + 1)).toBe(false);
    // Another signer's jti space is its own.
    expect(await claimRequestNonce(env.DB, "kid-b", "j1", T0 + 120, T0 + 1)).toBe(true);
  });

  it("sweeps nonces after they expire", async () => {
    await claimRequestNonce(env.DB, "kid-c", "old", T0 + 10, T0);
    await claimRequestNonce(env.DB, "kid-c", "new", T0 + 500, T0 + 11);
    const { results } = await env.DB.prepare("SELECT jti FROM request_nonces WHERE signer = 'kid-c'").all();
    expect(results).toEqual([{ jti: "new" }]);
  });
});
