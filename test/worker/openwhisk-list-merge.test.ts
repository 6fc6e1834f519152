import { describe, expect, it } from "vitest";
import { parseApiPath } from "../../worker/openwhisk/api-path.ts";
import {
  MAX_LIST_BODY_BYTES,
  mergeActivations,
  mergeEntities,
  parsePaging,
  readListBody,
} from "../../worker/openwhisk/list-merge.ts";

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
