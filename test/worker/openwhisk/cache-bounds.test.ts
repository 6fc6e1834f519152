/**
 * The per-isolate tables of the proxy are bounded: each is filled to its limit, shown to keep
 * what it holds up to there, and shown to start over (forget) once one more entry arrives.
 */
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import type { BackendRow } from "../../../worker/db/backends.ts";
import { forgetCallers, MAX_CACHED_CALLERS } from "../../../worker/db/caller-cache.ts";
import { callerTable } from "../../../worker/db/caller-tables.ts";
import {
  currentHealth,
  MAX_TRACKED_BACKENDS,
  observeAttempts,
} from "../../../worker/openwhisk/backend-health.ts";
import { MAX_ROUND_ROBIN_USERS, routingOrder } from "../../../worker/openwhisk/backend-pool.ts";
import type { RoutedBackend } from "../../../worker/openwhisk/call-context.ts";
import { adminPost } from "../support/fixtures.ts";

const NOW = 1_700_000_000_000;

it("forgets every cached caller when a new one would pass MAX_CACHED_CALLERS", {
  timeout: 120_000,
}, async () => {
  await adminPost("/v1/users", { name: "many" });
  // uuid-0 … uuid-<MAX>: MAX + 1 caller keys, inserted in one statement.
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO wsk_keys (uuid, user_name, key_hash, created_at) SELECT 'uuid-' || i, 'many', 'h', 0 FROM n`,
  )
    .bind(MAX_CACHED_CALLERS)
    .run();
  forgetCallers();
  expect((await callerTable(env.DB, "uuid-0", NOW)).key?.user_name).toBe("many");
  // From here on only the isolate still knows uuid-0.
  await env.DB.prepare("DELETE FROM wsk_keys WHERE uuid = 'uuid-0'").run();
  for (let i = 1; i < MAX_CACHED_CALLERS; i++) await callerTable(env.DB, `uuid-${i}`, NOW);
  expect((await callerTable(env.DB, "uuid-0", NOW)).key?.user_name).toBe("many");

  await callerTable(env.DB, `uuid-${MAX_CACHED_CALLERS}`, NOW);
  expect((await callerTable(env.DB, "uuid-0", NOW)).key).toBeUndefined();
});

function row(name: string, latency: number | null): BackendRow {
  return {
    name,
    user_name: "u",
    apihost: "https://x.test",
    auth_sealed: "v1.x.y",
    created_at: 0,
    latency_ms: latency,
    backoff_until: 0,
  };
}

it("reseeds backend health from D1 once more than MAX_TRACKED_BACKENDS are tracked", () => {
  const d1Row = row("watched", 999);
  currentHealth([d1Row]);
  observeAttempts(env.DB, [{ backend: "watched", outcome: "answer", status: 200, ms: 5 }], NOW);
  const isolateLatency = currentHealth([d1Row]).get("watched")?.latencyMs;
  expect(isolateLatency).not.toBe(999);

  const others = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => row(`other-${from + i}`, null));
  currentHealth(others(1, MAX_TRACKED_BACKENDS));
  expect(currentHealth([d1Row]).get("watched")?.latencyMs).toBe(isolateLatency);

  currentHealth(others(MAX_TRACKED_BACKENDS, MAX_TRACKED_BACKENDS + 1));
  expect(currentHealth([d1Row]).get("watched")?.latencyMs).toBe(999);
});

it("restarts every user's rotation when a new user would pass MAX_ROUND_ROBIN_USERS", () => {
  const backends: RoutedBackend[] = ["a", "b", "c"].map((name) => ({
    name,
    apihost: `https://${name}.test`,
    auth: "u:k",
    latencyMs: null,
    backoffUntil: 0,
  }));
  const first = (user: string) => routingOrder(user, "round-robin", backends)[0]?.name;
  expect(first("rotating")).toBe("a");
  for (let i = 1; i < MAX_ROUND_ROBIN_USERS; i++) first(`user-${i}`);
  expect(first("rotating")).toBe("b");

  first(`user-${MAX_ROUND_ROBIN_USERS}`);
  expect(first("rotating")).toBe("a");
});
