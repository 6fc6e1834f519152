/**
 * Basic `uuid:key` from the caller, checked against the worker's own wsk keys. Failures use
 * the controller's two texts and its challenge header (OPENWHISK-API.md §2).
 */
import { AUTH_CHALLENGE, OW_MESSAGES, owError } from "./envelope.ts";
import { authenticateWskKey } from "./wsk-key-store.ts";

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

/** The user the caller authenticates as, or the 401 to send. */
export async function authenticateCaller(
  db: D1Database,
  header: string | undefined,
  requestId: string,
): Promise<{ user: string } | { response: Response }> {
  const credentials = parseBasic(header);
  const challenge = { "www-authenticate": AUTH_CHALLENGE };
  if (credentials === "absent")
    return { response: owError(401, OW_MESSAGES.noCredentials, requestId, challenge) };
  const user =
    credentials === "invalid" ? undefined : await authenticateWskKey(db, credentials.uuid, credentials.key);
  if (!user) return { response: owError(401, OW_MESSAGES.badCredentials, requestId, challenge) };
  return { user };
}
