import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { RELAY_LIVE_SECONDS } from "../../../protocol/api.ts";
import { insertRelay, revokeRelay } from "../../../worker/db/relays.ts";
import { assignAndRead } from "../support/assign-pair.ts";
import { recordRelayReport } from "../support/registry-rows.ts";
import { findPairAssignment } from "../support/ticket-rows.ts";

const T0 = 1_800_000_000;
const LOAD = { activePairs: 0, waitingSides: 0, bytesPerSecond: 0, capacity: 10 };

async function relay(name: string, reportedAt: number, capacity = LOAD.capacity): Promise<void> {
  await insertRelay(
    env.DB,
    { name, hosts: ["127.0.0.1"], port: 6000, cert: "", fingerprint: `fp-${name}`, notAfter: T0 + 99_999 },
    T0,
  );
  await recordRelayReport(env.DB, name, { ...LOAD, capacity }, reportedAt);
}

const assigned = async (pair: string, relayName: string, expiresAt: number, now: number) =>
  (await assignAndRead(pair, relayName, expiresAt, now)).name;

describe("pair assignments", () => {
  beforeAll(async () => {
    await relay("r1", T0);
    await relay("r2", T0);
    await relay("silent", T0 - RELAY_LIVE_SECONDS);
    await relay("draining", T0, 0);
    await relay("revoked", T0);
    await revokeRelay(env.DB, "revoked", T0);
  });

  it("records the first assignment, keeps it against a racing one and extends it", async () => {
    expect(await assigned("p1", "r1", T0 + 360, T0)).toBe("r1");
    // The other side raced with a different choice: the first one stays, with the later expiry.
    expect(await assigned("p1", "r2", T0 + 370, T0)).toBe("r1");
    expect(await findPairAssignment(env.DB, "p1", T0)).toEqual({ relay: "r1", expiresAt: T0 + 370 });
  });

  it("answers the assigned relay's row, even for a relay the caller did not choose", async () => {
    await assignAndRead("p-row", "r2", T0 + 360, T0);
    expect(await assignAndRead("p-row", "r1", T0 + 360, T0)).toMatchObject({
      name: "r2",
      hosts: '["127.0.0.1"]',
      port: 6000,
      status: "active",
    });
  });

  it.each([
    ["stopped reporting", "silent"],
    ["is draining (capacity 0)", "draining"],
    ["was revoked", "revoked"],
  ])("moves a pair off a relay that %s", async (_why, name) => {
    const pair = `p-off-${name}`;
    await env.DB.prepare("INSERT INTO pair_assignments (pair, relay, expires_at) VALUES (?, ?, ?)")
      .bind(pair, name, T0 + 360)
      .run();
    expect(await assigned(pair, "r2", T0 + 400, T0)).toBe("r2");
    expect(await findPairAssignment(env.DB, pair, T0)).toEqual({ relay: "r2", expiresAt: T0 + 400 });
  });

  it("forgets an assignment once it expires", async () => {
    await assigned("p3", "r1", T0 + 10, T0);
    expect(await findPairAssignment(env.DB, "p3", T0 + 10)).toBeUndefined();
    expect(await assigned("p3", "r2", T0 + 400, T0 + 10)).toBe("r2");
  });

  it("changes nothing when a statement of its batch fails: the batch is one transaction", async () => {
    await assigned("p4", "r1", T0 + 360, T0);
    const duplicate = env.DB.prepare("INSERT INTO relays SELECT * FROM relays WHERE name = 'r2'");
    await expect(assignAndRead("p4", "r2", T0 + 999, T0, { before: [duplicate] })).rejects.toThrow(
      /UNIQUE constraint failed/,
    );
    await relay("r-late", T0);
    const late = env.DB.prepare("INSERT INTO relays SELECT * FROM relays WHERE name = 'r-late'");
    await env.DB.prepare("UPDATE relays SET status = 'revoked' WHERE name = 'r1'").run();
    await expect(assignAndRead("p4", "r2", T0 + 999, T0, { after: [late] })).rejects.toThrow(
      /UNIQUE constraint failed/,
    );
    await env.DB.prepare("UPDATE relays SET status = 'active' WHERE name = 'r1'").run();
    expect(await findPairAssignment(env.DB, "p4", T0)).toEqual({ relay: "r1", expiresAt: T0 + 360 });
  });
});
