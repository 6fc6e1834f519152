import { env } from "cloudflare:test";
import { firstRow, runBatch } from "../../../worker/db/batch.ts";
import {
  assignPair,
  selectAssignedRelay,
  sweepPairAssignments,
} from "../../../worker/db/pair-assignments.ts";
import type { RelayRow } from "../../../worker/db/relays.ts";

/** Statements to run in the same batch as the assignment, before or after it. */
export interface AlsoRun {
  before?: D1PreparedStatement[];
  after?: D1PreparedStatement[];
}

/**
 * A pair's assignment as a ticket's batch runs it (sweep, upsert, read back the relay it
 * left), with `also` in the same transaction; answers the assigned relay's row.
 */
export async function assignAndRead(
  pair: string,
  relay: string,
  expiresAt: number,
  now: number,
  also: AlsoRun = {},
): Promise<RelayRow> {
  const written = await runBatch(env.DB, {
    before: also.before ?? [],
    sweep: sweepPairAssignments(env.DB, now),
    assignment: assignPair(env.DB, pair, relay, expiresAt, now),
    relay: selectAssignedRelay(env.DB, pair),
    after: also.after ?? [],
  });
  const row = firstRow<RelayRow>(written.relay);
  if (!row) throw new Error(`no relay assigned to ${pair}`);
  return row;
}
