import { env } from "cloudflare:test";
import { runBatch } from "../../../worker/db/batch.ts";
import {
  assignPairs,
  type PlacedPair,
  selectPlacedPairs,
  sweepPairAssignments,
} from "../../../worker/db/pair-assignments.ts";
import { findRelay, type RelayRow } from "../../../worker/db/relays.ts";

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
  unreachable: string[] = [],
): Promise<RelayRow> {
  const written = await runBatch(env.DB, {
    before: also.before ?? [],
    sweep: sweepPairAssignments(env.DB, now),
    assignment: assignPairs(env.DB, [{ pair, relay }], expiresAt, now, unreachable),
    placed: selectPlacedPairs(env.DB, [pair]),
    after: also.after ?? [],
  });
  const placed = written.placed.results[0] as PlacedPair | undefined;
  const row = placed && (await findRelay(env.DB, placed.name));
  if (!row) throw new Error(`no relay assigned to ${pair}`);
  return row;
}
