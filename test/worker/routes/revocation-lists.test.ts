import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RevocationListInfo } from "../../../protocol/api.ts";
import { MAX_REVOCATION_LIST_BYTES, signRevocationList } from "../../../protocol/revocation-list.ts";
import { revocationListPath } from "../../../protocol/wire.ts";
import { admin, BASE, createUser, expectError, generateKeys } from "../support/fixtures.ts";

/** A list as the CLI makes it, signed with a key standing in for the user CA's. */
async function signedList(user: string, seq: number, parties: string[]): Promise<string> {
  const { privateKey } = await generateKeys("ec");
  return signRevocationList(privateKey, "ES256", { user, seq, iat: 1_800_000_000, parties });
}

function publish(user: string, list: unknown): Promise<Response> {
  return admin(revocationListPath(user), { method: "PUT", body: JSON.stringify({ list }) });
}

async function fetchList(user: string): Promise<{ status: number; body: unknown }> {
  const res = await SELF.fetch(`${BASE}${revocationListPath(user)}`);
  return { status: res.status, body: await res.json() };
}

describe("/v1/users/:user/revocations", () => {
  it("stores a published list and serves it as it came, to anyone", async () => {
    await createUser("rl-alice");
    const jws = await signedList("rl-alice", 1, ["p1", "p0"]);
    const res = await publish("rl-alice", jws);
    expect(res.status).toBe(200);
    expect((await res.json()) as { item: RevocationListInfo }).toEqual({
      item: { user: "rl-alice", seq: 1, parties: ["p0", "p1"], publishedAt: expect.any(String) },
    });
    expect(await fetchList("rl-alice")).toEqual({ status: 200, body: { list: jws } });
  });

  it("answers {list: null} for a user without a list and for an unknown user alike", async () => {
    await createUser("rl-empty");
    expect(await fetchList("rl-empty")).toEqual({ status: 200, body: { list: null } });
    expect(await fetchList("rl-nobody")).toEqual({ status: 200, body: { list: null } });
  });

  it("only replaces a list with a higher seq: 409 REVOCATION_LIST_STALE otherwise, the newer one kept", async () => {
    await createUser("rl-seq");
    const second = await signedList("rl-seq", 2, ["a"]);
    expect((await publish("rl-seq", second)).status).toBe(200);
    await expectError(
      await publish("rl-seq", await signedList("rl-seq", 2, [])),
      409,
      "REVOCATION_LIST_STALE",
    );
    await expectError(
      await publish("rl-seq", await signedList("rl-seq", 1, [])),
      409,
      "REVOCATION_LIST_STALE",
    );
    expect((await fetchList("rl-seq")).body).toEqual({ list: second });
    expect((await publish("rl-seq", await signedList("rl-seq", 3, ["a", "b"]))).status).toBe(200);
  });

  it("needs the admin token to publish: 401 UNAUTHENTICATED", async () => {
    await createUser("rl-anon");
    const res = await SELF.fetch(`${BASE}${revocationListPath("rl-anon")}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ list: await signedList("rl-anon", 1, []) }),
    });
    await expectError(res, 401, "UNAUTHENTICATED");
    expect((await fetchList("rl-anon")).body).toEqual({ list: null });
  });

  it("refuses the list of another user, a malformed list and a list over MAX_REVOCATION_LIST_BYTES: 400 BAD_REQUEST", async () => {
    await createUser("rl-bad");
    await expectError(await publish("rl-bad", await signedList("rl-other", 1, [])), 400, "BAD_REQUEST");
    await expectError(await publish("rl-bad", "not.a.jws"), 400, "BAD_REQUEST");
    await expectError(await publish("rl-bad", 42), 400, "BAD_REQUEST");
    const [header, , signature] = (await signedList("rl-bad", 1, [])).split(".");
    const unsorted = btoa(JSON.stringify({ user: "rl-bad", seq: 1, iat: 1, parties: ["b", "a"] }))
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_");
    await expectError(await publish("rl-bad", `${header}.${unsorted}.${signature}`), 400, "BAD_REQUEST");
    const padded = `${header}.${"A".repeat(MAX_REVOCATION_LIST_BYTES)}.${signature}`;
    await expectError(await publish("rl-bad", padded), 400, "BAD_REQUEST");
    expect((await fetchList("rl-bad")).body).toEqual({ list: null });
  });

  it("refuses a list for an unknown user: 404 USER_NOT_FOUND", async () => {
    await expectError(await publish("rl-ghost", await signedList("rl-ghost", 1, [])), 404, "USER_NOT_FOUND");
  });

  it("forgets the list with its user", async () => {
    await createUser("rl-gone");
    expect((await publish("rl-gone", await signedList("rl-gone", 5, ["x"]))).status).toBe(200);
    expect((await admin("/v1/users/rl-gone", { method: "DELETE" })).status).toBe(200);
    expect((await fetchList("rl-gone")).body).toEqual({ list: null });
    await createUser("rl-gone");
    expect((await publish("rl-gone", await signedList("rl-gone", 1, []))).status).toBe(200);
  });
});
