/**
 * SECURITY.md's attack table names, for each attack tried against Flock, the test that
 * reproduces it. This keeps the table honest: every test it names exists in its file, as an
 * `it` or `test` (a renamed or deleted test fails here), and none of issue 13's attacks is
 * dropped from it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const SECTION = "## Attacks tried, and the tests that show they fail";

/** The attacks issue 13 tried, by the words its table row starts with. */
const ATTACKS = [
  "Pre-authentication flood",
  "Slow hello",
  "Early-bytes slot leak",
  "No ticket rate limit",
  "Unbounded ticket lifetime",
  "Metrics open to anyone",
  "Plain-HTTP control plane",
  "Internal backends",
  "Revocation in direct mode",
];

interface Row {
  attack: string;
  file: string;
  name: string;
}

function attackRows(markdown: string): Row[] {
  const start = markdown.indexOf(SECTION);
  if (start < 0) throw new Error(`SECURITY.md has no section "${SECTION}"`);
  const body = markdown.slice(start + SECTION.length);
  const section = body.slice(0, body.search(/^## /m) >>> 0);
  return section
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| attack ") && !line.startsWith("|---"))
    .map((line) => {
      const cells = line.split(" | ");
      const attack = (cells[0] ?? "").replace(/^\| /, "");
      const test = (cells.at(-1) ?? "").replace(/ \|$/, "");
      const m = /^`([^`]+)` "(.+)"$/.exec(test);
      if (!m) throw new Error(`SECURITY.md attack row without \`file\` "test name": ${line}`);
      return { attack, file: m[1] as string, name: m[2] as string };
    });
}

const CALLEE = /^(?:it|test)(?:\.(?:each|concurrent|sequential|only|skip|fails))*$/;

/** The callee of the call whose `(` is at `open`: `it`, `it.each` (for `it.each(table)(`), `describe`... */
function calleeAt(source: string, open: number): string {
  let i = open - 1;
  if (source[i] === ")") {
    // `it.each([...])(name, ...)`: step over the table to the callee before it.
    for (let depth = 0; i >= 0; i--) {
      if (source[i] === ")") depth++;
      else if (source[i] === "(" && --depth === 0) break;
    }
    i--;
  }
  return /[\w.]+$/.exec(source.slice(Math.max(0, i - 60), i + 1))?.[0] ?? "";
}

/** Every test name in a file, as written in the source (a template keeps its `${...}`). */
function testNames(source: string): Set<string> {
  const names = new Set<string>();
  for (const m of source.matchAll(/\(\s*(["'`])((?:\\.|(?!\1)[^\\])*)\1\s*,/g)) {
    const open = (m.index ?? 0) + m[0].indexOf("(");
    if (CALLEE.test(calleeAt(source, open))) names.add((m[2] as string).replace(/\\(["'`\\])/g, "$1"));
  }
  return names;
}

describe("SECURITY.md's attack table", () => {
  const rows = attackRows(readFileSync(join(ROOT, "SECURITY.md"), "utf8"));

  it("has a test for every attack issue 13 tried", () => {
    for (const attack of ATTACKS) {
      expect(
        rows.some((r) => r.attack.startsWith(`${attack}:`) || r.attack.startsWith(`${attack},`)),
        attack,
      ).toBe(true);
    }
  });

  it("names only tests that exist, in the files it names", () => {
    expect(rows.length).toBeGreaterThanOrEqual(ATTACKS.length);
    for (const row of rows) {
      const path = join(ROOT, row.file);
      expect(existsSync(path), row.file).toBe(true);
      expect([...testNames(readFileSync(path, "utf8"))], row.file).toContain(row.name);
    }
  });

  it("reads test names the way they are declared, and only those of tests", () => {
    const source = [
      'describe("a group", () => {',
      '  it("plain", () => {});',
      "  it.each([[1, 2], [3, 4]])('each %s (with parens)', () => {});",
      `  test(\`templated ${"$"}{LIMIT} s\`, () => {});`,
      '  it("quoted \\"word\\" and `code`", async () => {});',
      '  expect(x).toBe("not a test", 1);',
      "});",
    ].join("\n");
    expect([...testNames(source)].sort()).toEqual([
      "each %s (with parens)",
      "plain",
      'quoted "word" and `code`',
      `templated ${"$"}{LIMIT} s`,
    ]);
  });
});
