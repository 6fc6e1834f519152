/** Which strategy serves a request: merged lists, routed invokes and reads, fan-out writes, activation lookup. */
import { readActivation } from "./activation-affinity.ts";
import { activationBackend } from "./activation-store.ts";
import type { ApiTarget } from "./api-path.ts";
import { routingOrder } from "./backend-pool.ts";
import type { CallContext, ProxyResult } from "./call-context.ts";
import { OW_MESSAGES, owError } from "./envelope.ts";
import { fanOut } from "./fan-out.ts";
import { listActivations, listEntities, listNamespaces, parsePaging } from "./list-merge.ts";
import { invokeWithFailover, readFirstFound } from "./routed-call.ts";

/** Collections whose POST starts an activation (action invoke, trigger fire). */
const ACTIVATING_COLLECTIONS = new Set(["actions", "triggers"]);

/** A request refused before any backend is asked, or undefined when it may go on. */
export function refuseEarly(target: ApiTarget, method: string, requestId: string): Response | undefined {
  if (target.kind === "unknown") return owError(404, OW_MESSAGES.notFound, requestId);
  const allowed =
    target.kind === "entity"
      ? method === "GET" ||
        method === "PUT" ||
        method === "DELETE" ||
        (method === "POST" && ACTIVATING_COLLECTIONS.has(target.collection))
      : method === "GET";
  return allowed ? undefined : owError(405, OW_MESSAGES.methodNotAllowed, requestId);
}

export async function dispatch(
  db: D1Database,
  target: ApiTarget,
  ctx: CallContext,
): Promise<ProxyResult | Response> {
  const { method, search, requestId } = ctx.request;
  const order = () => routingOrder(ctx.user, ctx.policy, ctx.backends);
  switch (target.kind) {
    case "namespaces":
      return listNamespaces(ctx);
    case "list": {
      const paging = parsePaging(search, target.collection);
      if ("error" in paging) return owError(400, paging.error, requestId);
      return target.collection === "activations"
        ? listActivations(ctx, paging)
        : listEntities(ctx, target.collection, paging);
    }
    case "limits":
      return readFirstFound(ctx, order());
    case "activation":
      return readActivation(ctx, await activationBackend(db, ctx.user, target.id));
    case "entity":
      if (method === "POST") return invokeWithFailover(ctx, order());
      if (method === "GET") return readFirstFound(ctx, order());
      return fanOut(ctx);
    case "unknown":
      return owError(404, OW_MESSAGES.notFound, requestId);
  }
}
