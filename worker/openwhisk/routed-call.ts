/**
 * Calls that go to one backend at a time, in routing order (docs/openwhisk.md, "Failover safety").
 * Invokes fail over only when the backend could not be reached or refused before creating an
 * activation (429/503). A timeout is not retried: the Workers fetch API cannot tell whether the
 * request was already sent, and a second backend could run the action twice. An answer with an
 * activation (200/202/500/502) or a 404 is the user's answer and is returned unchanged.
 */
import {
  type Attempt,
  attempt,
  type CallContext,
  discard,
  isRetryableStatus,
  type ProxyResult,
  type RoutedBackend,
} from "./call-context.ts";
import { OW_MESSAGES, owError } from "./envelope.ts";

const MAX_ACTIVATION_ID_BODY_BYTES = 4096;

function noAnswer(ctx: CallContext, last: Attempt | undefined): Response {
  return last?.outcome === "timeout"
    ? owError(504, OW_MESSAGES.upstreamTimeout, ctx.request.requestId)
    : owError(503, OW_MESSAGES.noBackend, ctx.request.requestId);
}

async function activationIdOf(response: Response): Promise<string | undefined> {
  const header = response.headers.get("x-openwhisk-activation-id");
  if (header) return header;
  // A backend (or a proxy before it) that drops the header still names the id in a 202 body, which is tiny.
  const length = Number(response.headers.get("content-length") ?? 0);
  if (response.status !== 202 || length > MAX_ACTIVATION_ID_BODY_BYTES) return undefined;
  try {
    const text = await response.clone().text();
    if (text.length > MAX_ACTIVATION_ID_BODY_BYTES) return undefined;
    const body = JSON.parse(text) as { activationId?: unknown };
    return typeof body.activationId === "string" ? body.activationId : undefined;
  } catch {
    return undefined;
  }
}

/** POST invoke (and trigger fire): the first backend that accepts the call answers it. */
export async function invokeWithFailover(ctx: CallContext, order: RoutedBackend[]): Promise<ProxyResult> {
  const attempts: Attempt[] = [];
  let held: { response: Response; backend: string } | undefined;
  for (const [index, backend] of order.entries()) {
    const { outcome, attempt: record } = await attempt(ctx, backend);
    attempts.push(record);
    if (outcome.kind === "unreachable") continue;
    if (outcome.kind === "timeout") break;
    const isLast = index === order.length - 1;
    if (isRetryableStatus(outcome.response.status) && !isLast) {
      if (held) discard(held.response);
      held = { response: outcome.response, backend: backend.name };
      continue;
    }
    if (held) discard(held.response);
    const id = await activationIdOf(outcome.response);
    return {
      response: outcome.response,
      backends: [backend.name],
      attempts,
      activations: id ? [{ id, backend: backend.name }] : [],
    };
  }
  // Every backend was unreachable or throttled: a backend's own 429/503 says more than ours.
  const last = attempts.at(-1);
  if (held && last?.outcome !== "timeout")
    return { response: held.response, backends: [held.backend], attempts };
  if (held) discard(held.response);
  return { response: noAnswer(ctx, last), backends: [], attempts };
}

/** GET of one entity: the first backend that has it; 404 only when no reachable backend does. */
export async function readFirstFound(ctx: CallContext, order: RoutedBackend[]): Promise<ProxyResult> {
  const attempts: Attempt[] = [];
  let fallback: { response: Response; backend: string } | undefined;
  for (const backend of order) {
    const { outcome, attempt: record } = await attempt(ctx, backend);
    attempts.push(record);
    if (outcome.kind !== "answer") continue;
    const { status } = outcome.response;
    if (status === 404 || isRetryableStatus(status)) {
      if (fallback === undefined || (fallback.response.status !== 404 && status === 404)) {
        if (fallback) discard(fallback.response);
        fallback = { response: outcome.response, backend: backend.name };
      } else {
        discard(outcome.response);
      }
      continue;
    }
    if (fallback) discard(fallback.response);
    return { response: outcome.response, backends: [backend.name], attempts };
  }
  if (fallback) return { response: fallback.response, backends: [fallback.backend], attempts };
  return { response: noAnswer(ctx, attempts.at(-1)), backends: [], attempts };
}
