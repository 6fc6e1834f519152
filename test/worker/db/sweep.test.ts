import {
  createExecutionContext,
  createScheduledController,
  env,
  waitOnExecutionContext,
} from "cloudflare:test";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { ACTIVATION_AFFINITY_RETENTION_SECONDS } from "../../../worker/db/activations.ts";
import { sweepExpiredRecords, TICKET_AUDIT_RETENTION_SECONDS } from "../../../worker/db/sweep.ts";
import { nowSeconds } from "../../../worker/db/time.ts";
import worker from "../../../worker/index.ts";

/** The same insert twice: the row just past the table's limit ("old") and the one just inside ("kept"). */
function oldAndKept(sql: string, old: unknown[], kept: unknown[]): D1PreparedStatement[] {
  return [env.DB.prepare(sql).bind("old", ...old), env.DB.prepare(sql).bind("kept", ...kept)];
}

/** An "old" and a "kept" row in every swept table. */
async function seed(now: number): Promise<void> {
  const auditEdge = now - TICKET_AUDIT_RETENTION_SECONDS;
  const activationEdge = now - ACTIVATION_AFFINITY_RETENTION_SECONDS;
  await env.DB.batch([
    env.DB.prepare("INSERT OR IGNORE INTO users (name, created_at) VALUES ('sweeper', 0)"),
    env.DB.prepare(
      "INSERT OR IGNORE INTO ow_backends (name, user_name, apihost, auth_sealed, created_at) VALUES ('b', 'sweeper', 'https://x.test', 'v1.x.y', 0)",
    ),
    ...oldAndKept(
      "INSERT INTO tickets (jti, user_name, party, dest, pair, relay, issued_at, expires_at) VALUES (?, 'sweeper', 'a', 'b', 'p', 'r', ?, ?)",
      [auditEdge - 1, auditEdge + 59],
      [auditEdge, auditEdge + 60],
    ),
    ...oldAndKept(
      "INSERT INTO retired_certificates (fingerprint, not_after) VALUES (?, ?)",
      [now],
      [now + 1],
    ),
    ...oldAndKept(
      "INSERT INTO request_nonces (jti, signer, expires_at) VALUES (?, 'k', ?)",
      [now - 1],
      [now],
    ),
    ...oldAndKept(
      "INSERT INTO pair_assignments (pair, relay, expires_at) VALUES (?, 'r', ?)",
      [now],
      [now + 1],
    ),
    ...oldAndKept(
      "INSERT INTO ow_activations (activation_id, user_name, backend, created_at) VALUES (?, 'sweeper', 'b', ?)",
      [activationEdge - 1],
      [activationEdge],
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
