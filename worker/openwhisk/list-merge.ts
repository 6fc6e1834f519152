/**
 * Lists span every backend of the user (docs/openwhisk.md, "Lists and activation lookups"):
 * each backend is asked for its first skip+limit rows (in pages of the controller's maximum),
 * the rows are merged (entities deduplicated by name, newest first; activations by start,
 * newest first) and the requested window is cut out.
 */
import {
  type Attempt,
  attempt,
  type CallContext,
  discard,
  type ProxyResult,
  type RoutedBackend,
} from "./call-context.ts";
import { CORS_HEADERS, OW_MESSAGES, owError } from "./envelope.ts";
import { readBoundedBody } from "./request-body.ts";

/** The controller's list paging (RestApiCommons; conf query-limit). */
export const LIST_DEFAULT_LIMIT = 30;
export const LIST_MAX_LIMIT = 200;
/**
 * The deepest merged window: a window ending at row N needs each backend's first N rows,
 * which is N / LIST_MAX_LIMIT requests per backend, so the depth is bounded.
 */
export const MAX_MERGED_ROWS = 1000;
/** Guards against a backend answering a list with an unbounded body. */
export const MAX_LIST_BODY_BYTES = 8 * 1024 * 1024;

export type Paging = { limit: number; skip: number };

/** Same checks and texts as the controller, so a bad value fails here as it would there. */
export function parsePaging(search: string, collection: string): Paging | { error: string } {
  const query = new URLSearchParams(search);
  const read = (name: string, fallback: number, max: number): number | string => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    if (!/^-?\d+$/.test(raw)) return `The value '${raw}' is not an integer for ${collection}.`;
    const value = Number(raw);
    if (value < 0 || value > max)
      return `The value '${raw}' is not in the range of 0 to ${max} for ${collection}.`;
    return value;
  };
  const limit = read("limit", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT);
  if (typeof limit === "string") return { error: limit };
  const skip = read("skip", 0, Number.MAX_SAFE_INTEGER);
  if (typeof skip === "string") return { error: skip };
  const paging = { limit: limit === 0 ? LIST_MAX_LIMIT : limit, skip };
  if (paging.skip + paging.limit > MAX_MERGED_ROWS) {
    return {
      error: `skip + limit may be at most ${MAX_MERGED_ROWS} for ${collection}: Flock merges lists across backends only that deep.`,
    };
  }
  return paging;
}

type Row = Record<string, unknown>;

export function mergeEntities(lists: Row[][], paging: Paging): Row[] {
  const byName = new Map<string, Row>();
  for (const list of lists) {
    for (const row of list) {
      const key = `${String(row.namespace)}/${String(row.name)}`;
      const seen = byName.get(key);
      if (!seen || Number(row.updated ?? 0) > Number(seen.updated ?? 0)) byName.set(key, row);
    }
  }
  // Among equal times each backend keeps its own order (the sort is stable and the rows come
  // backend by backend): any other tie-break could rank a row past what a backend returned for
  // skip+limit above one it did return, so windows would repeat or skip rows.
  return [...byName.values()]
    .sort((a, b) => Number(b.updated ?? 0) - Number(a.updated ?? 0))
    .slice(paging.skip, paging.skip + paging.limit);
}

export function mergeActivations(lists: Row[][], paging: Paging): Row[] {
  return lists
    .flat()
    .sort((a, b) => Number(b.start ?? 0) - Number(a.start ?? 0))
    .slice(paging.skip, paging.skip + paging.limit);
}

/** Stops reading at MAX_LIST_BODY_BYTES, whether or not the backend declared a length. */
export async function readListBody(response: Response): Promise<unknown> {
  const read = await readBoundedBody(response, MAX_LIST_BODY_BYTES);
  if ("tooLarge" in read) throw new Error("list body too large");
  return JSON.parse(new TextDecoder().decode(read.bytes));
}

function jsonResponse(body: unknown, requestId: string): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "content-type": "application/json", "x-request-id": requestId, ...CORS_HEADERS },
  });
}

/** What one backend gave a list: a 200 body, another answer to pass on if nobody says 200, or nothing. */
type BackendRead =
  | { kind: "body"; body: unknown }
  | { kind: "answer"; response: Response }
  | { kind: "none" };

type ReadBackend = (backend: RoutedBackend, attempts: Attempt[]) => Promise<BackendRead>;

/** One request; an unreadable 200 body counts as an unreachable backend. */
async function readOnce(
  ctx: CallContext,
  backend: RoutedBackend,
  search: string,
  attempts: Attempt[],
): Promise<BackendRead> {
  const r = await attempt(ctx, backend, { search });
  attempts.push(r.attempt);
  if (r.outcome.kind !== "answer") return { kind: "none" };
  if (r.outcome.response.status !== 200) return { kind: "answer", response: r.outcome.response };
  try {
    return { kind: "body", body: await readListBody(r.outcome.response) };
  } catch {
    r.attempt.outcome = "unreachable";
    return { kind: "none" };
  }
}

/**
 * The backend's first `want` rows, a page of at most LIST_MAX_LIMIT at a time, until a short
 * page. A backend whose later page fails is left out: half its rows would cut a wrong window.
 */
function readRows(ctx: CallContext, query: URLSearchParams, want: number): ReadBackend {
  return async (backend, attempts) => {
    const rows: Row[] = [];
    for (;;) {
      const limit = Math.min(LIST_MAX_LIMIT, want - rows.length);
      const page = new URLSearchParams(query);
      page.set("skip", String(rows.length));
      page.set("limit", String(limit));
      const read = await readOnce(ctx, backend, `?${page}`, attempts);
      if (read.kind !== "body") {
        if (rows.length === 0) return read;
        if (read.kind === "answer") discard(read.response);
        return { kind: "none" };
      }
      const pageRows = Array.isArray(read.body) ? (read.body as Row[]) : [];
      rows.push(...pageRows);
      if (pageRows.length < limit || rows.length >= want) return { kind: "body", body: rows };
    }
  };
}

/**
 * Reads every backend, keeps the 200 bodies, and builds one answer from them; if no backend
 * answered 200, the first answer is passed on as is.
 */
async function gather(
  ctx: CallContext,
  read: ReadBackend,
  combine: (bodies: unknown[]) => unknown,
): Promise<ProxyResult> {
  const perBackend = ctx.backends.map(() => [] as Attempt[]);
  const reads = await Promise.all(ctx.backends.map((backend, i) => read(backend, perBackend[i] ?? [])));
  const attempts = perBackend.flat();
  const ok: Array<{ backend: string; body: unknown }> = [];
  let fallback: { backend: string; response: Response } | undefined;
  for (const [i, r] of reads.entries()) {
    const backend = ctx.backends[i]?.name ?? "";
    if (r.kind === "body") ok.push({ backend, body: r.body });
    else if (r.kind === "answer") {
      if (fallback) discard(r.response);
      else fallback = { backend, response: r.response };
    }
  }
  if (ok.length > 0) {
    if (fallback) discard(fallback.response);
    return {
      response: jsonResponse(combine(ok.map((o) => o.body)), ctx.request.requestId),
      backends: ok.map((o) => o.backend),
      attempts,
    };
  }
  if (fallback) return { response: fallback.response, backends: [fallback.backend], attempts };
  return { response: owError(503, OW_MESSAGES.noBackend, ctx.request.requestId), backends: [], attempts };
}

const once =
  (ctx: CallContext, search: string): ReadBackend =>
  (backend, attempts) =>
    readOnce(ctx, backend, search, attempts);
const arrays = (bodies: unknown[]): Row[][] => bodies.map((b) => (Array.isArray(b) ? (b as Row[]) : []));
const counts = (bodies: unknown[], key: string): number[] =>
  bodies.map((b) => Number((b as Record<string, unknown> | null)?.[key] ?? 0));

/** actions, packages, triggers, rules: entities exist on every backend, so counts take the largest. */
export function listEntities(ctx: CallContext, collection: string, paging: Paging): Promise<ProxyResult> {
  const query = new URLSearchParams(ctx.request.search);
  if (query.get("count") === "true") {
    return gather(ctx, once(ctx, `?${query}`), (bodies) => ({
      [collection]: Math.max(0, ...counts(bodies, collection)),
    }));
  }
  return gather(ctx, readRows(ctx, query, paging.skip + paging.limit), (bodies) =>
    mergeEntities(arrays(bodies), paging),
  );
}

/** Activations are disjoint across backends, so counts add up. */
export function listActivations(ctx: CallContext, paging: Paging): Promise<ProxyResult> {
  const query = new URLSearchParams(ctx.request.search);
  if (query.get("count") === "true") {
    return gather(ctx, once(ctx, `?${query}`), (bodies) => ({
      activations: counts(bodies, "activations").reduce((a, b) => a + b, 0),
    }));
  }
  return gather(ctx, readRows(ctx, query, paging.skip + paging.limit), (bodies) =>
    mergeActivations(arrays(bodies), paging),
  );
}

/** GET /namespaces: the union of what the backends call this user's namespaces. */
export function listNamespaces(ctx: CallContext): Promise<ProxyResult> {
  return gather(ctx, once(ctx, ctx.request.search), (bodies) => [
    ...new Set(bodies.flatMap((b) => (Array.isArray(b) ? b.filter((n) => typeof n === "string") : []))),
  ]);
}
