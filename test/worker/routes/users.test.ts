import { describe, expect, it } from "vitest";
import type { Page, UserInfo } from "../../../protocol/api.ts";
import { MAX_NAME_LENGTH } from "../../../protocol/names.ts";
import { admin, adminPost, createParty, createUser, expectError } from "../support/fixtures.ts";

describe("/v1/users", () => {
  it("creates a user: 201 {item}", async () => {
    const res = await adminPost("/v1/users", { name: "alice" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { item: UserInfo };
    expect(body).toEqual({ item: { name: "alice", createdAt: expect.any(String) } });
    expect(Date.parse(body.item.createdAt)).not.toBeNaN();
  });

  it("refuses a duplicate name with 409 USER_EXISTS", async () => {
    await createUser("dup");
    await expectError(await adminPost("/v1/users", { name: "dup" }), 409, "USER_EXISTS");
  });

  it("takes a name of MAX_NAME_LENGTH characters", async () => {
    expect((await adminPost("/v1/users", { name: "a".repeat(MAX_NAME_LENGTH) })).status).toBe(201);
  });

  it.each([
    ["SQL metacharacters", "x'; DROP TABLE users; --"],
    ["a quote", "o'brien"],
    ["a slash", "a/b"],
    ["a colon (SAN URI separator)", "a:b"],
    ["a leading underscore", "_relays"],
    ["an empty name", ""],
    ["MAX_NAME_LENGTH + 1 characters", "a".repeat(MAX_NAME_LENGTH + 1)],
    ["a number", 42],
  ])("refuses a name with %s: 400 INVALID_NAME", async (_what, name) => {
    await expectError(await adminPost("/v1/users", { name }), 400, "INVALID_NAME");
  });

  it("refuses a body that is not a JSON object: 400 BAD_REQUEST", async () => {
    await expectError(await admin("/v1/users", { method: "POST", body: "{not json" }), 400, "BAD_REQUEST");
    await expectError(await admin("/v1/users", { method: "POST", body: "[]" }), 400, "BAD_REQUEST");
  });

  it("lists users in pages with limit and cursor", async () => {
    for (const name of ["list-a", "list-b", "list-c"]) await createUser(name);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await admin(`/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page<UserInfo>;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((u) => u.name));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(["list-a", "list-b", "list-c"]));
  });

  it("refuses a bad limit or cursor with 400 BAD_REQUEST", async () => {
    await expectError(await admin("/v1/users?limit=201"), 400, "BAD_REQUEST");
    await expectError(await admin("/v1/users?limit=0"), 400, "BAD_REQUEST");
    await expectError(await admin("/v1/users?cursor=%27%3B--"), 400, "BAD_REQUEST");
  });

  it("deletes a user and its parties: 200 {item}", async () => {
    await createUser("gone");
    await createParty("gone", "p");
    const res = await admin("/v1/users/gone", { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ item: { name: "gone", createdAt: expect.any(String) } });
    await expectError(await admin("/v1/users/gone/parties"), 404, "USER_NOT_FOUND");
    const all = (await (await admin("/v1/parties")).json()) as Page<{ user: string }>;
    expect(all.items.filter((p) => p.user === "gone")).toEqual([]);
  });

  it("answers 404 USER_NOT_FOUND when deleting a missing user, 400 for a bad name", async () => {
    await expectError(await admin("/v1/users/nobody", { method: "DELETE" }), 404, "USER_NOT_FOUND");
    await expectError(await admin("/v1/users/a%27b", { method: "DELETE" }), 400, "INVALID_NAME");
  });
});
