/** What every proxied call carries, and what it reports back for tracing and health. */
import type { RoutingPolicy } from "../../protocol/api.ts";
import type { Candidate } from "./routing-policy.ts";
import {
  callBackend,
  type Fetcher,
  type UpstreamBackend,
  type UpstreamOutcome,
  type UpstreamRequest,
} from "./upstream.ts";

export interface RoutedBackend extends UpstreamBackend, Candidate {}

export interface CallContext {
  user: string;
  policy: RoutingPolicy;
  /** The user's backends, sorted by name. */
  backends: RoutedBackend[];
  request: UpstreamRequest;
  fetcher?: Fetcher;
}

export interface Attempt {
  backend: string;
  /** `credentials-refused`: the backend answered 401 to the credentials stored for it. */
  outcome: UpstreamOutcome["kind"] | "credentials-refused";
  status?: number;
  ms: number;
}

export interface ProxyResult {
  response: Response;
  /** The backend whose answer is returned, or the backends merged into it. */
  backends: string[];
  attempts: Attempt[];
  /** Activation id → backend learned from invoke answers. */
  activations?: Array<{ id: string; backend: string }>;
}

/**
 * One call to one backend. A 401 from a backend means its stored credentials are wrong: the
 * caller's own key was already accepted, so passing that 401 on would tell wsk the wrong
 * thing. It counts as an unreachable backend instead (tried next, backed off, never shown).
 */
export async function attempt(
  ctx: CallContext,
  backend: RoutedBackend,
  overrides: Partial<UpstreamRequest> = {},
): Promise<{ outcome: UpstreamOutcome; attempt: Attempt }> {
  const outcome = await callBackend(backend, { ...ctx.request, ...overrides }, ctx.fetcher);
  const record: Attempt = { backend: backend.name, outcome: outcome.kind, ms: outcome.ms };
  if (outcome.kind !== "answer") return { outcome, attempt: record };
  if (outcome.response.status === 401) {
    discard(outcome.response);
    record.outcome = "credentials-refused";
    return {
      outcome: { kind: "unreachable", ms: outcome.ms, reason: "credentials refused" },
      attempt: record,
    };
  }
  record.status = outcome.response.status;
  return { outcome, attempt: record };
}

/** Drops a response we will not return, so its connection is released. */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}

/** OpenWhisk answers 429 (throttled) and 503 (no invoker) before an activation exists: safe to send elsewhere. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 503;
}
