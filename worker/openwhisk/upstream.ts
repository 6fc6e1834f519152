/**
 * One HTTP call to one backend. The request carries only what OpenWhisk reads (never the
 * caller's Authorization: the backend's own credentials replace it), every call is bounded
 * by a timeout, and the answer comes back with hop-by-hop headers stripped (hono's proxy
 * helper). Failures are values, so routing can decide whether to try the next backend.
 */
import { proxy } from "hono/proxy";

/**
 * docs/openwhisk.md, "Timeouts and sizes": nginx waits 75 s; a blocking wait is at most
 * 60 s + controller slack.
 */
export const BLOCKING_INVOKE_TIMEOUT_MS = 75_000;
/** Non-blocking invokes, reads and lists: the controller answers these without running code. */
export const UPSTREAM_TIMEOUT_MS = 15_000;
/** PUT/DELETE of entities: action code may be tens of megabytes. */
export const ENTITY_WRITE_TIMEOUT_MS = 30_000;

/** Blocking invokes wait for the action; everything else is answered by the controller alone. */
export function upstreamTimeoutMs(method: string, search: string): number {
  if (method === "POST") {
    return new URLSearchParams(search).get("blocking") === "true"
      ? BLOCKING_INVOKE_TIMEOUT_MS
      : UPSTREAM_TIMEOUT_MS;
  }
  return method === "GET" ? UPSTREAM_TIMEOUT_MS : ENTITY_WRITE_TIMEOUT_MS;
}

/** Request headers OpenWhisk reads; everything else (cookies, the caller's credentials, hop-by-hop) stays here. */
const FORWARDED_REQUEST_HEADERS = ["accept", "content-type", "user-agent", "x-ow-extra-logging"];

export interface UpstreamBackend {
  name: string;
  apihost: string;
  /** Decrypted `uuid:key`. */
  auth: string;
}

export interface UpstreamRequest {
  method: string;
  /** Raw (still percent-encoded) path after `/api/v1`, e.g. `/namespaces/_/actions/pkg/x`. */
  path: string;
  /** Raw query string including `?`, or "". */
  search: string;
  headers: Headers;
  requestId: string;
  body?: Uint8Array | ReadableStream<Uint8Array>;
  timeoutMs: number;
}

export type UpstreamOutcome =
  | { kind: "answer"; response: Response; ms: number }
  | { kind: "unreachable"; ms: number; reason: string }
  | { kind: "timeout"; ms: number };

export type Fetcher = (request: Request) => Promise<Response>;

function basicAuthorization(auth: string): string {
  const bytes = new TextEncoder().encode(auth);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

export function upstreamHeaders(incoming: Headers, backend: UpstreamBackend, requestId: string): Headers {
  const headers = new Headers();
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = incoming.get(name);
    if (value !== null) headers.set(name, value);
  }
  headers.set("authorization", basicAuthorization(backend.auth));
  headers.set("x-request-id", requestId);
  return headers;
}

export async function callBackend(
  backend: UpstreamBackend,
  request: UpstreamRequest,
  fetcher: Fetcher = (r) => fetch(r),
): Promise<UpstreamOutcome> {
  const started = Date.now();
  const signal = AbortSignal.timeout(request.timeoutMs);
  try {
    const response = await proxy(`${backend.apihost}/api/v1${request.path}${request.search}`, {
      method: request.method,
      headers: upstreamHeaders(request.headers, backend, request.requestId),
      body: request.body,
      signal,
      customFetch: fetcher,
    });
    return { kind: "answer", response, ms: Date.now() - started };
  } catch (error) {
    const ms = Date.now() - started;
    if (signal.aborted) return { kind: "timeout", ms };
    return { kind: "unreachable", ms, reason: error instanceof Error ? error.message : String(error) };
  }
}
