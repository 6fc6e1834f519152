import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { FlockError } from "../../protocol/errors.ts";
import type { AppEnv } from "../env.ts";

/** Admin JSON bodies: a CSR of an RSA-4096 key plus a few fields fits several times over. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;
/** Signed requests (a JWS around a small body, RS256 signatures included). */
export const MAX_SIGNED_REQUEST_BYTES = 8 * 1024;

/**
 * Refuses a body over `maxBytes` with 413 BODY_TOO_LARGE: by content-length before reading,
 * otherwise by counting the stream as it arrives (hono's bodyLimit does both).
 */
export function limitBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new FlockError("BODY_TOO_LARGE", `The request body is larger than ${maxBytes} bytes.`);
    },
  });
}
