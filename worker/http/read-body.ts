import type { Context } from "hono";
import { FlockError } from "../../protocol/errors.ts";
import type { AppEnv } from "../env.ts";

/** The JSON object body of an admin request; anything else is BAD_REQUEST. */
export async function readJsonObject(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(await c.req.text());
  } catch (error) {
    if (error instanceof FlockError) throw error;
    throw new FlockError("BAD_REQUEST", "The body must be a JSON object.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FlockError("BAD_REQUEST", "The body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}

/**
 * The compact JWS of a signed request (content-type application/jose). Read as bytes:
 * workerd warns when .text() meets a non-text content type.
 */
export async function readSignedRequest(c: Context<AppEnv>): Promise<string> {
  return new TextDecoder().decode(await c.req.arrayBuffer()).trim();
}
