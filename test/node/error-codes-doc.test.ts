import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ERRORS } from "../../protocol/errors.ts";

// README lists every error code; this keeps the table and protocol/errors.ts in step.
describe("README error code table", () => {
  it("has one row per code with its status and sentence", async () => {
    const whole = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    // Only the "Error codes" section: limits tables elsewhere use the same row shape.
    const readme = whole.slice(whole.indexOf("\n## Error codes"));
    const rows = new Map(
      [...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [
        m[1],
        [Number(m[2]), m[3]],
      ]),
    );
    for (const [code, [status, message]] of Object.entries(ERRORS)) {
      expect(rows.get(code), code).toEqual([status, message]);
    }
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERRORS).sort());
  });
});
