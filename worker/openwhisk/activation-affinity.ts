/**
 * Activation ids are 32 hex characters that say nothing about where they ran, and the CLI
 * always asks under `_` (docs/openwhisk.md, "Lists and activation lookups"), so the
 * proxy remembers which backend answered each invoke (activation-store.ts) and asks that one
 * first; otherwise it asks every backend at once.
 */
import {
  type Attempt,
  attempt,
  type CallContext,
  discard,
  type ProxyResult,
  type RoutedBackend,
} from "./call-context.ts";
import { OW_MESSAGES, owError } from "./envelope.ts";

/** Asks all `backends` at once; the first 200 wins, 404 only if every one answered 404. */
async function askAll(
  ctx: CallContext,
  backends: RoutedBackend[],
  attempts: Attempt[],
): Promise<ProxyResult> {
  const calls = backends.map(async (backend) => {
    const result = await attempt(ctx, backend);
    attempts.push(result.attempt);
    if (result.outcome.kind === "answer" && result.outcome.response.status === 200) {
      return { backend: backend.name, response: result.outcome.response };
    }
    throw result;
  });
  try {
    const winner = await Promise.any(calls);
    // Late answers of the losers are released as they arrive.
    for (const call of calls) {
      call.then(
        (other) => {
          if (other.response !== winner.response) discard(other.response);
        },
        () => {},
      );
    }
    return { response: winner.response, backends: [winner.backend], attempts };
  } catch (error) {
    const failures = (error as AggregateError).errors as Array<Awaited<ReturnType<typeof attempt>>>;
    const answers = failures.map((f) => (f.outcome.kind === "answer" ? f.outcome.response : undefined));
    // All 404: it exists nowhere. All 400 (a malformed id): every backend says the same, pass it on.
    const unanimous = [404, 400].find((status) => answers.every((r) => r?.status === status));
    const chosen = unanimous === undefined ? undefined : answers[0];
    for (const r of answers) if (r && r !== chosen) discard(r);
    if (chosen) return { response: chosen, backends: [], attempts };
    return { response: owError(503, OW_MESSAGES.noBackend, ctx.request.requestId), backends: [], attempts };
  }
}

export async function readActivation(ctx: CallContext, known: string | undefined): Promise<ProxyResult> {
  const attempts: Attempt[] = [];
  const holder = ctx.backends.find((b) => b.name === known);
  if (holder) {
    const result = await attempt(ctx, holder);
    attempts.push(result.attempt);
    if (result.outcome.kind === "answer" && result.outcome.response.status === 200) {
      return { response: result.outcome.response, backends: [holder.name], attempts };
    }
    if (result.outcome.kind === "answer") discard(result.outcome.response);
  }
  if (ctx.backends.length === 0) {
    return {
      response: owError(503, OW_MESSAGES.noBackendRegistered, ctx.request.requestId),
      backends: [],
      attempts,
    };
  }
  return askAll(ctx, ctx.backends, attempts);
}
