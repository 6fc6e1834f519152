/**
 * Every proxied answer says which backend answered and how long it took, and every call
 * leaves one JSON log line (never credentials, never bodies).
 */
import type { Attempt, ProxyResult } from "./call-context.ts";

export function withTrace(result: ProxyResult): Response {
  const response = new Response(result.response.body, result.response);
  if (result.backends.length > 0) response.headers.set("x-flock-backend", result.backends.join(","));
  response.headers.set("x-flock-attempts", String(result.attempts.length));
  if (result.attempts.length > 0) {
    response.headers.set("x-flock-backends", result.attempts.map(describeAttempt).join(","));
    response.headers.set(
      "server-timing",
      result.attempts.map((a) => `backend;desc="${a.backend}";dur=${a.ms}`).join(", "),
    );
  }
  return response;
}

export function describeAttempt(a: Attempt): string {
  return `${a.backend}=${a.outcome === "answer" ? String(a.status) : a.outcome}`;
}

export interface CallLog {
  requestId: string;
  user: string;
  method: string;
  path: string;
  /** The action (or other entity) the call is about, e.g. `pkg/hello`; absent for lists. */
  action?: string;
  status: number;
  result: ProxyResult;
  totalMs: number;
}

export function logCall(entry: CallLog): void {
  console.log(
    JSON.stringify({
      event: "openwhisk.call",
      requestId: entry.requestId,
      user: entry.user,
      method: entry.method,
      path: entry.path,
      action: entry.action ?? null,
      backend: entry.result.backends.join(",") || null,
      status: entry.status,
      latencyMs: entry.totalMs,
      attempts: entry.result.attempts.length,
      tried: entry.result.attempts.map(describeAttempt),
    }),
  );
}
