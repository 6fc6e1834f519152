import { describe, expect, it } from "vitest";
import { parseApiPath } from "../../../worker/openwhisk/api-path.ts";
import type { CallContext } from "../../../worker/openwhisk/call-context.ts";
import {
  LIST_MAX_LIMIT,
  listEntities,
  MAX_LIST_BODY_BYTES,
  MAX_MERGED_ROWS,
  mergeActivations,
  mergeEntities,
  parsePaging,
  readListBody,
} from "../../../worker/openwhisk/list-merge.ts";
import type { Fetcher } from "../../../worker/openwhisk/upstream.ts";

describe("list paging", () => {
  it("defaults to 30, treats 0 as 200, and uses the controller's texts", () => {
    expect(parsePaging("", "actions")).toEqual({ limit: 30, skip: 0 });
    expect(parsePaging("?limit=0&skip=5", "actions")).toEqual({ limit: 200, skip: 5 });
    expect(parsePaging("?limit=201", "actions")).toEqual({
      error: "The value '201' is not in the range of 0 to 200 for actions.",
    });
    expect(parsePaging("?limit=x", "activations")).toEqual({
      error: "The value 'x' is not an integer for activations.",
    });
    expect(parsePaging("?skip=-1", "actions")).toEqual({
      error: `The value '-1' is not in the range of 0 to ${Number.MAX_SAFE_INTEGER} for actions.`,
    });
  });

  it("serves windows down to MAX_MERGED_ROWS and refuses deeper ones with a sentence", () => {
    const deepest = MAX_MERGED_ROWS - LIST_MAX_LIMIT;
    expect(parsePaging(`?limit=0&skip=${deepest}`, "actions")).toEqual({ limit: 200, skip: deepest });
    expect(parsePaging(`?limit=0&skip=${deepest + 1}`, "actions")).toEqual({
      error: `skip + limit may be at most ${MAX_MERGED_ROWS} for actions: Flock merges lists across backends only that deep.`,
    });
  });
});

describe("merged lists deeper than one backend page", () => {
  type Row = { namespace: string; name: string; updated: number };
  /** `count` actions newest first; `offset` shifts names so two backends share some. */
  const actions = (count: number, offset: number): Row[] =>
    Array.from({ length: count }, (_, i) => ({
      namespace: "guest",
      name: `a${String(i + offset).padStart(4, "0")}`,
      updated: 10_000 - i - offset,
    }));

  /** Backends that page like the controller: skip/limit, limit at most 200, 400 beyond. */
  function pagingBackends(rows: Record<string, Row[]>, failPage2?: string) {
    const asked: string[] = [];
    const fetcher: Fetcher = async (request) => {
      const url = new URL(request.url);
      const name = url.hostname.replace(".test", "");
      const skip = Number(url.searchParams.get("skip"));
      const limit = Number(url.searchParams.get("limit"));
      asked.push(`${name} ${skip}+${limit}`);
      if (name === failPage2 && skip > 0) return new Response('{"error":"down","code":"x"}', { status: 500 });
      if (!(limit >= 1 && limit <= LIST_MAX_LIMIT)) return new Response("{}", { status: 400 });
      return new Response(JSON.stringify((rows[name] ?? []).slice(skip, skip + limit)));
    };
    return { asked, fetcher };
  }

  function listContext(names: string[], fetcher: Fetcher, search: string): CallContext {
    return {
      user: "alice",
      policy: "round-robin",
      backends: names.map((name) => ({
        name,
        apihost: `https://${name}.test`,
        auth: `u-${name}:k-${name}`,
        latencyMs: null,
        backoffUntil: 0,
      })),
      fetcher,
      request: {
        method: "GET",
        path: "/namespaces/_/actions",
        search,
        headers: new Headers({ authorization: "Basic eDp5" }),
        requestId: "rid-list",
        body: undefined,
        timeoutMs: 1000,
      },
    };
  }

  it("reads each backend page by page and cuts the same window as merging everything", async () => {
    const rows = { one: actions(450, 0), two: actions(300, 400) };
    const { asked, fetcher } = pagingBackends(rows);
    const paging = { skip: 300, limit: 200 };
    const result = await listEntities(
      listContext(["one", "two"], fetcher, "?skip=300&limit=200"),
      "actions",
      paging,
    );
    expect(result.response.status).toBe(200);
    const body = (await result.response.json()) as Row[];
    expect(body).toEqual(mergeEntities([rows.one, rows.two], paging));
    expect(body).toHaveLength(200);
    // 500 rows wanted: one reads 200+200+100; two runs out after 300 (a short page ends it).
    expect(asked.filter((a) => a.startsWith("one")).sort()).toEqual([
      "one 0+200",
      "one 200+200",
      "one 400+100",
    ]);
    expect(asked.filter((a) => a.startsWith("two")).sort()).toEqual(["two 0+200", "two 200+200"]);
    expect(result.backends).toEqual(["one", "two"]);
  });

  it("leaves out a backend whose later page fails rather than cut a window from half its rows", async () => {
    const rows = { one: actions(300, 0), two: actions(300, 1000) };
    const { fetcher } = pagingBackends(rows, "two");
    const wanted = { skip: 200, limit: 50 };
    const result = await listEntities(
      listContext(["one", "two"], fetcher, "?skip=200&limit=50"),
      "actions",
      wanted,
    );
    expect(result.backends).toEqual(["one"]);
    expect(await result.response.json()).toEqual(mergeEntities([rows.one], wanted));
    expect(result.attempts.filter((a) => a.backend === "two").map((a) => a.status)).toEqual([200, 500]);
  });
});

describe("merging", () => {
  it("keeps one row per entity, newest first, then cuts the window", () => {
    const a = [
      { namespace: "guest", name: "x", updated: 30 },
      { namespace: "guest", name: "y", updated: 10 },
    ];
    const b = [
      { namespace: "guest", name: "x", updated: 31 },
      { namespace: "guest", name: "z", updated: 20 },
    ];
    expect(mergeEntities([a, b], { skip: 0, limit: 30 })).toEqual([b[0], b[1], a[1]]);
    expect(mergeEntities([a, b], { skip: 1, limit: 1 })).toEqual([b[1]]);
  });

  it("windows merged from each backend's first skip+limit rows never repeat or skip a row when times tie", () => {
    // A controller lists newest first and keeps its own order among equal times (here: the
    // order of creation, which is not the order of the names). Each window is merged from
    // what each backend returns for skip+limit, as listEntities asks.
    const backend = (tag: string) =>
      Array.from({ length: 25 }, (_, i) => ({
        namespace: "guest",
        name: `${tag}-${1000 - i}`,
        updated: 100 - Math.floor(i / 10),
      }));
    const lists = [backend("a"), backend("b")];
    const windows: string[] = [];
    for (let skip = 0; skip < 50; skip += 7) {
      const prefixes = lists.map((list) => list.slice(0, skip + 7));
      windows.push(...mergeEntities(prefixes, { skip, limit: 7 }).map((row) => row.name as string));
    }
    expect(windows).toHaveLength(50);
    expect(new Set(windows).size).toBe(50);
  });

  it("orders activations by start, newest first", () => {
    const a = [
      { activationId: "1", start: 5 },
      { activationId: "2", start: 1 },
    ];
    const b = [{ activationId: "3", start: 3 }];
    expect(mergeActivations([a, b], { skip: 0, limit: 2 }).map((r) => r.activationId)).toEqual(["1", "3"]);
  });
});

describe("API paths", () => {
  it.each([
    ["/namespaces", { kind: "namespaces" }],
    ["/namespaces/_/actions", { kind: "list", collection: "actions" }],
    ["/namespaces/_/actions/", { kind: "list", collection: "actions" }],
    ["/namespaces/_/actions/pkg/", { kind: "list", collection: "actions" }],
    ["/namespaces/%40me/actions/hello%20you", { kind: "entity", collection: "actions", name: "hello%20you" }],
    ["/namespaces/_/actions/pkg/hello", { kind: "entity", collection: "actions", name: "pkg/hello" }],
    ["/namespaces/_/actions/a/b/c", { kind: "unknown" }],
    ["/namespaces/_/activations", { kind: "list", collection: "activations" }],
    ["/namespaces/_/activations/abc", { kind: "activation", id: "abc", part: "record" }],
    ["/namespaces/_/activations/abc/logs", { kind: "activation", id: "abc", part: "logs" }],
    ["/namespaces/_/activations/abc/other", { kind: "unknown" }],
    ["/namespaces/_/secrets/x", { kind: "unknown" }],
    ["/namespaces/_/limits", { kind: "limits" }],
    ["/namespaces/_/limits/x", { kind: "unknown" }],
  ])("%s", (path, target) => {
    expect(parseApiPath(path)).toEqual(target);
  });
});

describe("reading a backend's list answer", () => {
  const CHUNK_BYTES = 64 * 1024;

  /** A chunked body (no content-length) of `total` bytes that counts what the reader pulled. */
  function countedBody(total: number) {
    const seen = { pulled: 0, cancelled: false };
    const chunk = new TextEncoder().encode(" ".repeat(CHUNK_BYTES));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (seen.pulled >= total) return controller.close();
        seen.pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
      cancel() {
        seen.cancelled = true;
      },
    });
    return { seen, response: new Response(body, { headers: { "content-type": "application/json" } }) };
  }

  it("stops pulling a body without content-length once it passes MAX_LIST_BODY_BYTES", async () => {
    const { seen, response } = countedBody(4 * MAX_LIST_BODY_BYTES);
    expect(response.headers.get("content-length")).toBeNull();
    await expect(readListBody(response)).rejects.toThrow("list body too large");
    expect(seen.cancelled).toBe(true);
    expect(seen.pulled).toBeGreaterThan(MAX_LIST_BODY_BYTES);
    expect(seen.pulled).toBeLessThanOrEqual(MAX_LIST_BODY_BYTES + 2 * CHUNK_BYTES);
  });

  it("refuses a declared oversized body without reading it, and parses one within the limit", async () => {
    const { seen, response } = countedBody(4 * MAX_LIST_BODY_BYTES);
    const declared = new Response(response.body, {
      headers: { "content-length": String(MAX_LIST_BODY_BYTES + 1) },
    });
    await expect(readListBody(declared)).rejects.toThrow("list body too large");
    expect(seen.pulled).toBeLessThanOrEqual(CHUNK_BYTES);
    expect(await readListBody(new Response('[{"name":"x"}]'))).toEqual([{ name: "x" }]);
  });
});
