import {
  createExecutionContext,
  createScheduledController,
  env,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { nowSeconds } from "../../../worker/db/time.ts";
import worker from "../../../worker/index.ts";
import { sweepExpiredRecords, TICKET_AUDIT_RETENTION_SECONDS } from "../../../worker/maintenance/sweep.ts";
import { ACTIVATION_AFFINITY_RETENTION_MS } from "../../../worker/openwhisk/activation-store.ts";

/** One row just past its table's limit ("old") and one just inside it ("kept"), in every swept table. */
async function seed(now: number): Promise<void> {
  const auditEdge = now - TICKET_AUDIT_RETENTION_SECONDS;
  const activationEdge = now * 1000 - ACTIVATION_AFFINITY_RETENTION_MS;
  await env.DB.batch([
    env.DB.prepare("INSERT OR IGNORE INTO users (name, created_at) VALUES ('sweeper', 0)"),
    env.DB.prepare(
      "INSERT OR IGNORE INTO ow_backends (name, user_name, apihost, auth_sealed, created_at) VALUES ('b', 'sweeper', 'https://x.test', 'v1.x.y', 0)",
    ),
    ...[
      ["old", auditEdge - 1],
      ["kept", auditEdge],
    ].map(([jti, issuedAt]) =>
      env.DB.prepare(
        "INSERT INTO tickets (jti, user_name, party, dest, pair, relay, issued_at, expires_at) VALUES (?, 'sweeper', 'a', 'b', 'p', 'r', ?, ?)",
      ).bind(jti, issuedAt, Number(issuedAt) + 60),
    ),
    ...[
      ["old", now],
      ["kept", now + 1],
    ].map(([fingerprint, notAfter]) =>
      env.DB.prepare("INSERT INTO retired_certificates (fingerprint, not_after) VALUES (?, ?)").bind(
        fingerprint,
        notAfter,
      ),
    ),
    ...[
      ["old", now - 1],
      ["kept", now],
    ].map(([jti, expiresAt]) =>
      env.DB.prepare("INSERT INTO request_nonces (signer, jti, expires_at) VALUES ('k', ?, ?)").bind(
        jti,
        expiresAt,
      ),
    ),
    ...[
      ["old", now],
      ["kept", now + 1],
    ].map(([pair, expiresAt]) =>
      env.DB.prepare("INSERT INTO pair_assignments (pair, relay, expires_at) VALUES (?, 'r', ?)").bind(
        pair,
        expiresAt,
      ),
    ),
    ...[
      ["old", activationEdge - 1],
      ["kept", activationEdge],
    ].map(([id, createdAt]) =>
      env.DB.prepare(
        "INSERT INTO ow_activations (user_name, activation_id, backend, created_at) VALUES ('sweeper', ?, 'b', ?)",
      ).bind(id, createdAt),
    ),
  ]);
}

async function remaining(): Promise<Record<string, unknown[]>> {
  const column = async (sql: string) => (await env.DB.prepare(sql).raw()).map(([value]) => value);
  return {
    tickets: await column("SELECT jti FROM tickets"),
    retiredCertificates: await column("SELECT fingerprint FROM retired_certificates"),
    requestNonces: await column("SELECT jti FROM request_nonces"),
    pairAssignments: await column("SELECT pair FROM pair_assignments"),
    activations: await column("SELECT activation_id FROM ow_activations"),
  };
}

const ONLY_KEPT = {
  tickets: ["kept"],
  retiredCertificates: ["kept"],
  requestNonces: ["kept"],
  pairAssignments: ["kept"],
  activations: ["kept"],
};

describe("sweeping expired records", () => {
  beforeEach(async () => {
    await env.DB.batch(
      ["tickets", "retired_certificates", "request_nonces", "pair_assignments", "ow_activations"].map((t) =>
        env.DB.prepare(`DELETE FROM ${t}`),
      ),
    );
  });

  it("deletes exactly the rows past their limit in every table, and counts them", async () => {
    const now = 1_900_000_000;
    await seed(now);
    expect(await sweepExpiredRecords(env.DB, now)).toEqual({
      tickets: 1,
      retiredCertificates: 1,
      requestNonces: 1,
      pairAssignments: 1,
      activations: 1,
    });
    expect(await remaining()).toEqual(ONLY_KEPT);
    // A second sweep at the same moment finds nothing more.
    expect(Object.values(await sweepExpiredRecords(env.DB, now))).toEqual([0, 0, 0, 0, 0]);
  });

  it("runs from the worker's scheduled handler and logs what it removed", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const now = nowSeconds();
      await seed(now);
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: "17 3 * * *" }), env, ctx);
      await waitOnExecutionContext(ctx);
      // Rows at the edge may cross it if the clock ticked since seeding; "old" ones must be gone.
      const left = await remaining();
      for (const rows of Object.values(left)) expect(rows).not.toContain("old");
      const line = JSON.parse(String(log.mock.calls.at(-1)?.[0]));
      expect(line.event).toBe("maintenance.sweep");
      expect(line.removed.tickets).toBeGreaterThanOrEqual(1);
    } finally {
      log.mockRestore();
    }
  });
});
