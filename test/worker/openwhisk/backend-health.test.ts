import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackendRow } from "../../../worker/db/backends.ts";
import {
  BACKEND_BACKOFF_MS,
  currentHealth,
  foldLatency,
  HEALTH_PERSIST_INTERVAL_MS,
  LATENCY_EWMA_WEIGHT,
  observeAttempts,
} from "../../../worker/openwhisk/backend-health.ts";

const NOW = 1_700_000_000_000;

function row(name: string, latency: number | null = null, backoffUntil = 0): BackendRow {
  return {
    name,
    user_name: null,
    apihost: "https://x.test",
    auth_sealed: "v1.x.y",
    created_at: 0,
    latency_ms: latency,
    backoff_until: backoffUntil,
  };
}

async function insertBackend(name: string): Promise<void> {
  await env.DB.prepare(
    "INSERT INTO ow_backends (name, apihost, auth_sealed, created_at) VALUES (?, 'https://x.test', 'v1.x.y', 0)",
  )
    .bind(name)
    .run();
}

async function stored(name: string) {
  return env.DB.prepare("SELECT latency_ms, backoff_until FROM ow_backends WHERE name = ?")
    .bind(name)
    .first();
}

describe("backend health", () => {
  it("folds samples into a moving average", () => {
    expect(foldLatency(null, 40)).toBe(40);
    expect(foldLatency(40, 100)).toBeCloseTo(40 * (1 - LATENCY_EWMA_WEIGHT) + 100 * LATENCY_EWMA_WEIGHT);
  });

  it("seeds from D1 the first time the isolate sees a backend (stored seconds, kept as ms)", () => {
    expect(currentHealth([row("seeded", 12, 5)]).get("seeded")).toEqual({
      latencyMs: 12,
      backoffUntil: 5000,
    });
  });

  it("backs off a failed backend at once and persists it, then clears it on success", async () => {
    await insertBackend("flaky");
    const fail = observeAttempts(env.DB, [{ backend: "flaky", outcome: "unreachable", ms: 3 }], NOW);
    await env.DB.batch(fail);
    // Stored in unix seconds, rounded up so the stored back-off never ends early.
    const backoffSeconds = Math.ceil((NOW + BACKEND_BACKOFF_MS) / 1000);
    expect(await stored("flaky")).toEqual({ latency_ms: null, backoff_until: backoffSeconds });
    expect(currentHealth([row("flaky")]).get("flaky")?.backoffUntil).toBe(NOW + BACKEND_BACKOFF_MS);

    const ok = observeAttempts(
      env.DB,
      [{ backend: "flaky", outcome: "answer", status: 200, ms: 20 }],
      NOW + 1,
    );
    await env.DB.batch(ok);
    expect(await stored("flaky")).toEqual({ latency_ms: 20, backoff_until: 0 });
  });

  it("treats a 503 answer and a timeout as failures, and a 429 as neither", () => {
    for (const [name, attempt] of [
      ["busy", { outcome: "answer", status: 503 }],
      ["late", { outcome: "timeout" }],
    ] as const) {
      observeAttempts(env.DB, [{ backend: name, ms: 1, ...attempt }], NOW);
      expect(currentHealth([row(name)]).get(name)?.backoffUntil).toBe(NOW + BACKEND_BACKOFF_MS);
    }
    const writes = observeAttempts(
      env.DB,
      [{ backend: "quota", outcome: "answer", status: 429, ms: 1 }],
      NOW,
    );
    expect(writes).toEqual([]);
    expect(currentHealth([row("quota", 7)]).get("quota")).toEqual({ latencyMs: 7, backoffUntil: 0 });
  });

  it("writes averages to D1 at most once per interval", async () => {
    await insertBackend("steady");
    const ok = (ms: number, at: number) =>
      observeAttempts(env.DB, [{ backend: "steady", outcome: "answer", status: 200, ms }], at);
    expect(ok(10, NOW)).toHaveLength(1);
    expect(ok(10, NOW + 1)).toHaveLength(0);
    const later = ok(10, NOW + HEALTH_PERSIST_INTERVAL_MS);
    expect(later).toHaveLength(1);
    await env.DB.batch(later);
    expect(await stored("steady")).toEqual({ latency_ms: 10, backoff_until: 0 });
  });
});
