import { env } from "cloudflare:test";
import { beforeAll, expect, it } from "vitest";
import { ACTIVATION_AFFINITY_RETENTION_SECONDS } from "../../../worker/db/activations.ts";
import {
  AFFINITY_FLUSH_BATCH,
  AFFINITY_FLUSH_INTERVAL_MS,
  activationBackend,
  dueAffinityWrites,
  rememberActivation,
} from "../../../worker/openwhisk/activation-store.ts";
import { adminPost } from "../support/fixtures.ts";

const NOW = Date.now();
const id = (n: number) => n.toString(16).padStart(32, "0");

beforeAll(async () => {
  await adminPost("/v1/users", { name: "acts" });
  await adminPost("/v1/backends", { name: "holder", apihost: "https://h.test", auth: "u:k", user: "acts" });
});

async function storedIds(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    "SELECT activation_id FROM ow_activations WHERE user_name = 'acts' ORDER BY activation_id",
  ).all<{ activation_id: string }>();
  return results.map((r) => r.activation_id);
}

it("prunes rows past the retention on the first flush, and answers from memory before flushing", async () => {
  await env.DB.prepare("INSERT INTO ow_activations VALUES ('acts', ?, 'holder', ?)")
    .bind(id(999), Math.floor(NOW / 1000) - ACTIVATION_AFFINITY_RETENTION_SECONDS - 1)
    .run();
  rememberActivation("acts", id(1), "holder", NOW);
  expect(await activationBackend(env.DB, "acts", id(1))).toBe("holder");
  expect(dueAffinityWrites(env.DB, NOW + 1)).toEqual([]);
  const due = dueAffinityWrites(env.DB, NOW + AFFINITY_FLUSH_INTERVAL_MS);
  expect(due.length).toBe(2);
  await env.DB.batch(due);
  expect(await storedIds()).toEqual([id(1)]);
  expect(await activationBackend(env.DB, "acts", id(1))).toBe("holder");
});

it("flushes as soon as AFFINITY_FLUSH_BATCH rows are waiting", async () => {
  for (let n = 100; n < 100 + AFFINITY_FLUSH_BATCH - 1; n++) rememberActivation("acts", id(n), "holder", NOW);
  expect(dueAffinityWrites(env.DB, NOW)).toEqual([]);
  rememberActivation("acts", id(100 + AFFINITY_FLUSH_BATCH - 1), "holder", NOW);
  const due = dueAffinityWrites(env.DB, NOW);
  expect(due.length).toBe(AFFINITY_FLUSH_BATCH);
  await env.DB.batch(due);
  expect((await storedIds()).length).toBe(1 + AFFINITY_FLUSH_BATCH);
  expect(dueAffinityWrites(env.DB, NOW + AFFINITY_FLUSH_INTERVAL_MS * 10)).toEqual([]);
});

it("knows nothing of an activation it never saw", async () => {
  expect(await activationBackend(env.DB, "acts", id(5))).toBeUndefined();
  expect(await activationBackend(env.DB, "someone-else", id(1))).toBeUndefined();
});

it("stores unix seconds, like every other table", async () => {
  rememberActivation("acts", id(7), "holder", NOW);
  await env.DB.batch(dueAffinityWrites(env.DB, NOW + AFFINITY_FLUSH_INTERVAL_MS));
  const row = await env.DB.prepare("SELECT created_at FROM ow_activations WHERE activation_id = ?")
    .bind(id(7))
    .first<{ created_at: number }>();
  expect(row).toEqual({ created_at: Math.floor(NOW / 1000) });
});

it("drops a remembered activation whose user or backend went meanwhile, and keeps the rest of the batch", async () => {
  await adminPost("/v1/users", { name: "gone" });
  await adminPost("/v1/backends", { name: "gone-b", apihost: "https://g.test", auth: "u:k", user: "gone" });
  rememberActivation("gone", id(8), "gone-b", NOW);
  rememberActivation("acts", id(9), "holder", NOW);
  rememberActivation("acts", id(10), "removed-backend", NOW);
  await env.DB.prepare("DELETE FROM users WHERE name = 'gone'").run();
  await env.DB.batch(dueAffinityWrites(env.DB, NOW + AFFINITY_FLUSH_INTERVAL_MS));
  expect(await storedIds()).toContain(id(9));
  expect(await storedIds()).not.toContain(id(10));
  const gone = await env.DB.prepare(
    "SELECT count(*) AS n FROM ow_activations WHERE user_name = 'gone'",
  ).first();
  expect(gone).toEqual({ n: 0 });
});
