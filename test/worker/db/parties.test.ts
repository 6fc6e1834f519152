import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { parsePageQuery } from "../../../worker/db/pagination.ts";
import {
  findParty,
  insertParty,
  listAllParties,
  listPartiesOfUser,
  revokeParty,
} from "../../../worker/db/parties.ts";
import { insertUser } from "../../../worker/db/users.ts";
import { findPartyByFingerprint, listRevokedFingerprints } from "../support/registry-rows.ts";

const T0 = 1_800_000_000;

function party(user: string, name: string, notAfter = T0 + 1000) {
  return { user, name, relayCert: `pem-${user}-${name}`, fingerprint: `fp-${user}-${name}`, notAfter };
}

describe("parties queries", () => {
  beforeAll(async () => {
    await insertUser(env.DB, "alice", T0);
    await insertUser(env.DB, "bob", T0);
  });

  it("inserts and finds a party by name and by fingerprint", async () => {
    const info = await insertParty(env.DB, party("alice", "a"), T0);
    expect(info).toEqual({
      user: "alice",
      name: "a",
      status: "active",
      fingerprint: "fp-alice-a",
      notAfter: new Date((T0 + 1000) * 1000).toISOString(),
      createdAt: new Date(T0 * 1000).toISOString(),
    });
    expect(await findParty(env.DB, "alice", "a")).toMatchObject({
      relay_cert: "pem-alice-a",
      status: "active",
    });
    expect(await findPartyByFingerprint(env.DB, "fp-alice-a")).toMatchObject({
      user_name: "alice",
      name: "a",
    });
    expect(await findParty(env.DB, "bob", "a")).toBeUndefined();
  });

  it("refuses a duplicate name within a user, allows it in another user", async () => {
    await insertParty(env.DB, party("alice", "dup"), T0);
    await expect(
      insertParty(env.DB, { ...party("alice", "dup"), fingerprint: "other" }, T0),
    ).rejects.toMatchObject({
      code: "PARTY_EXISTS",
    });
    await expect(insertParty(env.DB, party("bob", "dup"), T0)).resolves.toMatchObject({ user: "bob" });
  });

  it("refuses a party of a missing user with USER_NOT_FOUND (foreign key)", async () => {
    await expect(insertParty(env.DB, party("ghost", "p"), T0)).rejects.toMatchObject({
      code: "USER_NOT_FOUND",
    });
  });

  it("revokes idempotently, keeping the first revocation time", async () => {
    await insertParty(env.DB, party("alice", "rev"), T0);
    const first = await revokeParty(env.DB, "alice", "rev", T0 + 5);
    expect(first).toMatchObject({ status: "revoked", revokedAt: new Date((T0 + 5) * 1000).toISOString() });
    expect(await revokeParty(env.DB, "alice", "rev", T0 + 9)).toEqual(first);
    await expect(revokeParty(env.DB, "alice", "nope", T0)).rejects.toMatchObject({ code: "PARTY_NOT_FOUND" });
  });

  it("lists revoked fingerprints only while their certificate is valid", async () => {
    await insertParty(env.DB, party("bob", "old", T0 + 10), T0);
    await revokeParty(env.DB, "bob", "old", T0 + 1);
    expect(await listRevokedFingerprints(env.DB, T0 + 2)).toEqual(["fp-alice-rev", "fp-bob-old"]);
    expect(await listRevokedFingerprints(env.DB, T0 + 11)).toEqual(["fp-alice-rev"]);
  });

  it("pages parties of one user and of all users", async () => {
    for (const name of ["p1", "p2", "p3"]) await insertParty(env.DB, party("bob", name), T0);
    const first = await listPartiesOfUser(env.DB, "bob", parsePageQuery("2", undefined, 1));
    expect(first.items.map((p) => p.name)).toEqual(["dup", "old"]);
    const second = await listPartiesOfUser(env.DB, "bob", parsePageQuery("2", first.nextCursor, 1));
    expect(second.items.map((p) => p.name)).toEqual(["p1", "p2"]);

    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listAllParties(env.DB, parsePageQuery("3", cursor, 2));
      all.push(...page.items.map((p) => `${p.user}/${p.name}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(all).toEqual([
      "alice/a",
      "alice/dup",
      "alice/rev",
      "bob/dup",
      "bob/old",
      "bob/p1",
      "bob/p2",
      "bob/p3",
    ]);
  });
});
