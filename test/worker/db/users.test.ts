import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { FlockError } from "../../../protocol/errors.ts";
import { parsePageQuery } from "../../../worker/db/pagination.ts";
import { findParty, insertParty } from "../../../worker/db/parties.ts";
import { deleteUser, findUser, getUser, insertUser, listUsers } from "../../../worker/db/users.ts";
import { listRevokedFingerprints } from "../support/registry-rows.ts";

const T0 = 1_800_000_000;

describe("users queries", () => {
  it("inserts, finds and refuses a duplicate with USER_EXISTS", async () => {
    expect(await insertUser(env.DB, "carol", T0)).toEqual({
      name: "carol",
      createdAt: new Date(T0 * 1000).toISOString(),
    });
    expect(await findUser(env.DB, "carol")).toEqual({ name: "carol", createdAt: "2027-01-15T08:00:00.000Z" });
    await expect(insertUser(env.DB, "carol", T0)).rejects.toMatchObject({ code: "USER_EXISTS" });
  });

  it("answers USER_NOT_FOUND for a missing user", async () => {
    expect(await findUser(env.DB, "nobody")).toBeUndefined();
    await expect(getUser(env.DB, "nobody")).rejects.toBeInstanceOf(FlockError);
    await expect(deleteUser(env.DB, "nobody")).rejects.toMatchObject({ code: "USER_NOT_FOUND" });
  });

  it("deleting a user deletes its parties (ON DELETE CASCADE)", async () => {
    await insertUser(env.DB, "dave", T0);
    await insertParty(
      env.DB,
      { user: "dave", name: "p", relayCert: "pem", fingerprint: "fp-dave-p", notAfter: T0 + 10 },
      T0,
    );
    expect(await deleteUser(env.DB, "dave")).toMatchObject({ name: "dave" });
    expect(await findParty(env.DB, "dave", "p")).toBeUndefined();
    // Its certificate still chains to the relay CA, so data planes keep refusing it until it expires.
    expect(await listRevokedFingerprints(env.DB, T0)).toEqual(["fp-dave-p"]);
    expect(await listRevokedFingerprints(env.DB, T0 + 10)).toEqual([]);
  });

  it("stores SQL metacharacters verbatim: binds are positional, never spliced", async () => {
    const hostile = "x'); DROP TABLE users; --";
    await insertUser(env.DB, hostile, T0);
    expect(await findUser(env.DB, hostile)).toMatchObject({ name: hostile });
    expect(await findUser(env.DB, "x' OR '1'='1")).toBeUndefined();
    await deleteUser(env.DB, hostile);
    const { results } = await env.DB.prepare(
      "SELECT count(*) AS n FROM sqlite_master WHERE name = 'users'",
    ).all();
    expect(results).toEqual([{ n: 1 }]);
  });

  it("pages through users in name order with an opaque cursor", async () => {
    for (const name of ["u3", "u1", "u2", "u5", "u4"]) await insertUser(env.DB, name, T0);
    const names: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listUsers(env.DB, parsePageQuery("2", cursor, 1));
      names.push(...page.items.map((u) => u.name));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);
    expect(names.filter((n) => n.startsWith("u"))).toEqual(["u1", "u2", "u3", "u4", "u5"]);
    expect(pages).toBe(Math.ceil(names.length / 2));
  });
});
