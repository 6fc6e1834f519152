/**
 * PUT and DELETE of entities go to every backend of the user, so an action can be invoked
 * wherever routing sends it (docs/openwhisk.md, "Entities on every backend"). The answer is
 * the first success by backend name, and `x-flock-backends` lists what each backend said. A
 * create without overwrite keeps OpenWhisk's meaning: if the entity already existed anywhere,
 * the answer is that backend's 409 (the header still shows where the create did succeed).
 */
import { attempt, type CallContext, discard, type ProxyResult } from "./call-context.ts";
import { OW_MESSAGES, owError } from "./envelope.ts";

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

export async function fanOut(ctx: CallContext): Promise<ProxyResult> {
  const results = await Promise.all(ctx.backends.map((backend) => attempt(ctx, backend)));
  const attempts = results.map((r) => r.attempt);
  const answers = results.flatMap((r, i) =>
    r.outcome.kind === "answer"
      ? [{ backend: ctx.backends[i]?.name ?? "", response: r.outcome.response }]
      : [],
  );
  const createOnly =
    ctx.request.method === "PUT" && new URLSearchParams(ctx.request.search).get("overwrite") !== "true";
  const conflict = createOnly ? answers.find((a) => a.response.status === 409) : undefined;
  const chosen =
    conflict ??
    answers.find((a) => isSuccess(a.response.status)) ??
    answers.find((a) => a.response.status !== 429 && a.response.status !== 503) ??
    answers[0];
  for (const a of answers) if (a !== chosen) discard(a.response);
  if (chosen) return { response: chosen.response, backends: [chosen.backend], attempts };
  const timedOut = attempts.some((a) => a.outcome === "timeout");
  const response = timedOut
    ? owError(504, OW_MESSAGES.upstreamTimeout, ctx.request.requestId)
    : owError(503, OW_MESSAGES.noBackend, ctx.request.requestId);
  return { response, backends: [], attempts };
}
