/**
 * Every proxied answer says which backend answered and how long it took, and every call
 * leaves one JSON log line (never credentials, never bodies). The same attempts feed the
 * latency average and the back-off of failing backends.
 */
import { recordBackoff, recordLatency } from "./backend-store.ts";
import type { Attempt, ProxyResult } from "./call-context.ts";

/** A backend that failed (unreachable, timed out, 503) is skipped this long, then probed again. */
export const BACKEND_BACKOFF_MS = 30_000;

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
      backend: entry.result.backends.join(",") || null,
      status: entry.status,
      latencyMs: entry.totalMs,
      attempts: entry.result.attempts.length,
      tried: entry.result.attempts.map(describeAttempt),
    }),
  );
}

/** 429 is the namespace's quota, not the backend's health: it changes neither average nor back-off. */
export function healthStatements(db: D1Database, attempts: Attempt[], nowMs: number): D1PreparedStatement[] {
  return attempts.flatMap((a) => {
    if (a.outcome !== "answer" || a.status === 503)
      return [recordBackoff(db, a.backend, nowMs + BACKEND_BACKOFF_MS)];
    if (a.status === 429) return [];
    return [recordLatency(db, a.backend, a.ms)];
  });
}
