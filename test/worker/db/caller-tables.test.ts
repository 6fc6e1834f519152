import { env } from "cloudflare:test";
import { beforeAll, expect, it } from "vitest";
import { CALLER_CACHE_TTL_MS, forgetCallers, MAX_CACHED_CALLERS } from "../../../worker/db/caller-cache.ts";
import { callerTable, loadCallerTable } from "../../../worker/db/caller-tables.ts";
import { issueWskKey } from "../../../worker/openwhisk/wsk-keys.ts";
import { adminPost } from "../support/fixtures.ts";

/** The isolate's clock in ms; keys are created at the same moment in stored seconds. */
const NOW = 1_700_000_000_000;
let uuid: string;

beforeAll(async () => {
  await adminPost("/v1/users", { name: "cached" });
  uuid = (await issueWskKey(env.DB, "cached", NOW / 1000)).uuid;
});

async function dropKeyRow(): Promise<void> {
  await env.DB.prepare("DELETE FROM wsk_keys WHERE uuid = ?").bind(uuid).run();
}

it("serves a caller from the isolate within the TTL, from D1 after it, and forgets on admin changes", async () => {
  forgetCallers();
  expect((await callerTable(env.DB, uuid, NOW)).key?.user_name).toBe("cached");
  await dropKeyRow();
  expect((await callerTable(env.DB, uuid, NOW + CALLER_CACHE_TTL_MS - 1)).key?.user_name).toBe("cached");
  expect((await callerTable(env.DB, uuid, NOW + CALLER_CACHE_TTL_MS)).key).toBeUndefined();

  uuid = (await issueWskKey(env.DB, "cached", NOW / 1000)).uuid;
  expect((await callerTable(env.DB, uuid, NOW)).key).toBeDefined();
  await dropKeyRow();
  forgetCallers();
  expect((await callerTable(env.DB, uuid, NOW)).key).toBeUndefined();
});

it("keeps no entry for an unknown uuid, so a key issued afterwards works at once", async () => {
  forgetCallers();
  const issued = await issueWskKey(env.DB, "cached", NOW / 1000);
  await env.DB.prepare("DELETE FROM wsk_keys WHERE uuid = ?").bind(issued.uuid).run();
  expect((await callerTable(env.DB, issued.uuid, NOW)).key).toBeUndefined();
  await env.DB.prepare(
    "INSERT INTO wsk_keys (uuid, user_name, key_hash, created_at) VALUES (?, 'cached', 'h', 0)",
  )
    .bind(issued.uuid)
    .run();
  expect((await callerTable(env.DB, issued.uuid, NOW)).key?.user_name).toBe("cached");
  expect(MAX_CACHED_CALLERS).toBeGreaterThanOrEqual(1000);
});

it("gives a caller their own backends and the explicitly shared ones, never another user's", async () => {
  await adminPost("/v1/users", { name: "neighbour" });
  const add = (name: string, owner: Record<string, unknown>) =>
    adminPost("/v1/backends", { name, apihost: `https://${name}.test`, auth: "u:k", ...owner });
  expect((await add("mine", { user: "cached" })).status).toBe(201);
  expect((await add("theirs", { user: "neighbour" })).status).toBe(201);
  expect((await add("common", { shared: true })).status).toBe(201);
  const mine = await loadCallerTable(env.DB, (await issueWskKey(env.DB, "cached", NOW / 1000)).uuid);
  expect(mine.rows.map((r) => r.name)).toEqual(["common", "mine"]);
  const theirs = await loadCallerTable(env.DB, (await issueWskKey(env.DB, "neighbour", NOW / 1000)).uuid);
  expect(theirs.rows.map((r) => r.name)).toEqual(["common", "theirs"]);
});
