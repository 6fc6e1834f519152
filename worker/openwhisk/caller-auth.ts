/**
 * Basic `uuid:key` from the caller, checked against the worker's own wsk keys. Failures use
 * the controller's two texts and its challenge header (docs/openwhisk.md, "Conventions").
 */

import type { RoutingPolicy } from "../../protocol/api.ts";
import type { BackendRow } from "../db/backends.ts";
import { callerTable } from "../db/caller-tables.ts";
import { AUTH_CHALLENGE, OW_MESSAGES, owError } from "./envelope.ts";
import { isWskKeyUuid, wskKeyMatches } from "./wsk-keys.ts";

/** Longer than any `uuid:key` this worker issues; bounds the work done for garbage. */
export const MAX_BASIC_CREDENTIALS_CHARS = 512;

export function parseBasic(header: string | undefined): { uuid: string; key: string } | "absent" | "invalid" {
  if (!header) return "absent";
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1] || match[1].length > MAX_BASIC_CREDENTIALS_CHARS) return "invalid";
  let decoded: string;
  try {
    decoded = atob(match[1]);
  } catch {
    return "invalid";
  }
  const colon = decoded.indexOf(":");
  if (colon <= 0 || colon === decoded.length - 1) return "invalid";
  return { uuid: decoded.slice(0, colon), key: decoded.slice(colon + 1) };
}

export interface Caller {
  user: string;
  policy: RoutingPolicy;
  rows: BackendRow[];
}

/** The caller's user with their routing table, or the 401 to send. */
export async function authenticateCaller(
  db: D1Database,
  header: string | undefined,
  requestId: string,
): Promise<Caller | { response: Response }> {
  const credentials = parseBasic(header);
  const challenge = { "www-authenticate": AUTH_CHALLENGE };
  if (credentials === "absent")
    return { response: owError(401, OW_MESSAGES.noCredentials, requestId, challenge) };
  const table =
    credentials !== "invalid" && isWskKeyUuid(credentials.uuid)
      ? await callerTable(db, credentials.uuid, Date.now())
      : undefined;
  const key = credentials === "invalid" ? "" : credentials.key;
  if (!table?.key || !(await wskKeyMatches(table.key, key))) {
    return { response: owError(401, OW_MESSAGES.badCredentials, requestId, challenge) };
  }
  return { user: table.key.user_name, policy: table.policy, rows: table.rows };
}
