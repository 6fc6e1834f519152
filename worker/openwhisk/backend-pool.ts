/** The backends one user's call may use, in the order the user's policy tries them. */
import type { RoutingPolicy } from "../../protocol/api.ts";
import type { BackendRow } from "../db/backends.ts";
import { currentHealth } from "./backend-health.ts";
import type { RoutedBackend } from "./call-context.ts";
import { backendKey, openCredential } from "./credential-cipher.ts";
import { orderCandidates } from "./routing-policy.ts";

/**
 * Round-robin position per user, kept in the isolate: exact rotation within an isolate,
 * approximate across isolates, and no D1 write on the invoke path.
 */
const roundRobin = new Map<string, number>();
/** Bounds the counter map; a forgotten user just restarts its rotation. */
export const MAX_ROUND_ROBIN_USERS = 10_000;

/** The user's backends with credentials opened for this request only, and the health routing should use. */
export async function routedBackends(rows: BackendRow[], secret: string): Promise<RoutedBackend[]> {
  if (rows.length === 0) return [];
  const key = await backendKey(secret);
  const health = currentHealth(rows);
  return Promise.all(
    rows.map(async (row) => ({
      name: row.name,
      apihost: row.apihost,
      auth: await openCredential(key, row.auth_sealed, row.name),
      latencyMs: health.get(row.name)?.latencyMs ?? null,
      backoffUntil: health.get(row.name)?.backoffUntil ?? 0,
    })),
  );
}

export function routingOrder(
  user: string,
  policy: RoutingPolicy,
  backends: RoutedBackend[],
): RoutedBackend[] {
  const counter = roundRobin.get(user) ?? 0;
  if (roundRobin.size >= MAX_ROUND_ROBIN_USERS && !roundRobin.has(user)) roundRobin.clear();
  roundRobin.set(user, counter + 1);
  return orderCandidates(policy, backends, { nowMs: Date.now(), counter, random: Math.random });
}
