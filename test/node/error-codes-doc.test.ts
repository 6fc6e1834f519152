import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { ERRORS } from "../../protocol/errors.ts";

// docs/errors.md lists every error code; this keeps the table and protocol/errors.ts in step.
describe("docs/errors.md error code table", () => {
  it("has one row per code with its status and sentence", async () => {
    const page = await readFile(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const rows = new Map(
      [...page.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], [Number(m[2]), m[3]]]),
    );
    for (const [code, [status, message]] of Object.entries(ERRORS)) {
      expect(rows.get(code), code).toEqual([status, message]);
    }
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERRORS).sort());
  });
});
