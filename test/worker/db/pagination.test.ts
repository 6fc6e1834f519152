import { describe, expect, it } from "vitest";
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, parsePageQuery, toPage } from "../../../worker/db/pagination.ts";

describe("page queries", () => {
  it("defaults to DEFAULT_PAGE_LIMIT from the start", () => {
    expect(parsePageQuery(undefined, undefined, 2)).toEqual({ limit: DEFAULT_PAGE_LIMIT, after: ["", ""] });
  });

  it.each(["0", "-1", "1.5", "abc", String(MAX_PAGE_LIMIT + 1), "", "99999"])("refuses limit=%s", (limit) => {
    expect(() => parsePageQuery(limit, undefined, 1)).toThrow(
      expect.objectContaining({ code: "BAD_REQUEST" }),
    );
  });

  it("accepts MAX_PAGE_LIMIT", () => {
    expect(parsePageQuery(String(MAX_PAGE_LIMIT), undefined, 1).limit).toBe(MAX_PAGE_LIMIT);
  });

  it("round-trips its own cursor and refuses forged ones", () => {
    const page = toPage(
      [{ k: "a" }, { k: "b" }, { k: "c" }],
      { limit: 2, after: [""] },
      (r) => [r.k],
      (r) => r.k,
    );
    expect(page.items).toEqual(["a", "b"]);
    expect(parsePageQuery("2", page.nextCursor, 1).after).toEqual(["b"]);
    for (const forged of ["not-base64!", "e30", page.nextCursor ?? "", "x".repeat(600)]) {
      // "e30" is {} and a one-key cursor is not a two-key one.
      expect(() => parsePageQuery("2", forged, 2)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
    }
  });

  it("has no next cursor on the last page", () => {
    const page = toPage(
      [{ k: "a" }],
      { limit: 2, after: [""] },
      (r) => [r.k],
      (r) => r.k,
    );
    expect(page).toEqual({ items: ["a"] });
  });
});
