import { describe, expect, it } from "vitest";
import { MAX_PARSED_CACHE_ENTRIES, parsedCache } from "../../client/parsed-cache.ts";

describe("parsedCache", () => {
  it("computes once per distinct text", () => {
    const cache = parsedCache<string>();
    const calls: string[] = [];
    const parse = (text: string) =>
      cache.get(text, () => {
        calls.push(text);
        return text.toUpperCase();
      });
    expect(parse("a")).toBe("A");
    expect(parse("a")).toBe("A");
    expect(parse("b")).toBe("B");
    expect(calls).toEqual(["a", "b"]);
  });

  it("keeps nothing when the computation throws, so a bad text fails every time", () => {
    const cache = parsedCache<string>();
    let calls = 0;
    const bad = () =>
      cache.get("bad", () => {
        calls++;
        throw new Error("not a PEM");
      });
    expect(bad).toThrow("not a PEM");
    expect(bad).toThrow("not a PEM");
    expect(calls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it(`holds at most MAX_PARSED_CACHE_ENTRIES (${MAX_PARSED_CACHE_ENTRIES}) texts, dropping the oldest`, () => {
    const cache = parsedCache<number>();
    let calls = 0;
    const parse = (i: number) =>
      cache.get(`text-${i}`, () => {
        calls++;
        return i;
      });
    for (let i = 0; i <= MAX_PARSED_CACHE_ENTRIES; i++) parse(i);
    expect(cache.size).toBe(MAX_PARSED_CACHE_ENTRIES);
    expect(calls).toBe(MAX_PARSED_CACHE_ENTRIES + 1);
    parse(MAX_PARSED_CACHE_ENTRIES); // newest: still there
    expect(calls).toBe(MAX_PARSED_CACHE_ENTRIES + 1);
    parse(0); // oldest: was dropped, computed again
    expect(calls).toBe(MAX_PARSED_CACHE_ENTRIES + 2);
  });
});
