/**
 * What the proxy says itself, in OpenWhisk's own shapes (docs/openwhisk.md, "Conventions"):
 * `{"error", "code": <transaction id>}` as application/json, the controller's CORS headers,
 * and its transaction-id rule for X-Request-ID.
 */

export const OW_MESSAGES = {
  noCredentials: "The resource requires authentication, which was not supplied with the request",
  badCredentials: "The supplied authentication is invalid",
  notFound: "The requested resource does not exist.",
  methodNotAllowed: "HTTP method not allowed, supported methods: GET, PUT, POST, DELETE",
  noBackend: "No OpenWhisk backend is available to serve this request; try again later.",
  noBackendRegistered: "No OpenWhisk backend is registered for this user.",
  upstreamTimeout: "The OpenWhisk backend did not answer in time.",
  internal: "The server failed; the request id in the logs says where.",
  databaseUnavailable: "The proxy's database did not answer; try again later.",
} as const;

export const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, DELETE, POST, PUT, HEAD",
  "access-control-allow-headers": "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent",
};

export const AUTH_CHALLENGE = 'Basic realm="OpenWhisk secure realm"';

/** Matches the controller: the caller's X-Request-ID unless it starts with `sid_`, else 32 random characters. */
export function transactionId(given: string | undefined): string {
  if (given && !given.startsWith("sid_") && given.length <= 256) return given;
  let hex = "";
  for (const b of crypto.getRandomValues(new Uint8Array(16))) hex += b.toString(16).padStart(2, "0");
  return hex;
}

export function owError(
  status: number,
  message: string,
  requestId: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: message, code: requestId }), {
    status,
    headers: { "content-type": "application/json", "x-request-id": requestId, ...CORS_HEADERS, ...headers },
  });
}

/** The controller's 413 text (http/ErrorResponse.scala:162). */
export function tooLargeMessage(size: number, limit: number): string {
  return `Request larger than allowed: ${size} > ${limit} bytes.`;
}
