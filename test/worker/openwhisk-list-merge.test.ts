import { describe, expect, it } from "vitest";
import { parseApiPath } from "../../worker/openwhisk/api-path.ts";
import { mergeActivations, mergeEntities, parsePaging } from "../../worker/openwhisk/list-merge.ts";

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
