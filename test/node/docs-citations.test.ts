import { readdir, readFile } from "node:fs/promises";
import { join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * Code comments cite documentation by page (a docs page, SECURITY.md or the README) and
 * section name in quotes; pages link to each other by page and anchor. Both break silently
 * when a heading is renamed or a page moves, so this reads every citation and every link and
 * checks that the page exists and has that heading.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE_DIRS = [
  "bench",
  "bin",
  "cli",
  "client",
  "dataplane",
  "docker",
  "examples",
  "protocol",
  "scripts",
  "test",
  "worker",
];
const SOURCE_FILES = ["wrangler.toml", ".ci/run"];
const SKIP = new Set(["node_modules", "dist", ".wrangler", ".flock"]);

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries
      .filter((e) => !SKIP.has(e.name))
      .map((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))),
  );
  return nested.flat();
}

async function markdownPages(): Promise<string[]> {
  const docs = (await filesUnder("docs")).filter((f) => f.endsWith(".md"));
  return ["README.md", "SECURITY.md", ...docs];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, "")
    .replace(/ /g, "-");
}

interface Headings {
  texts: Set<string>;
  anchors: Set<string>;
}

async function headingsOf(page: string): Promise<Headings | undefined> {
  const text = await readFile(join(ROOT, page), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const texts = new Set<string>();
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (!m?.[1]) continue;
    texts.add(m[1].replace(/`/g, "").trim());
    const anchor = anchorOf(m[1]);
    const n = seen.get(anchor) ?? 0;
    seen.set(anchor, n + 1);
    anchors.add(n === 0 ? anchor : `${anchor}-${n}`);
  }
  return { texts, anchors };
}

/** A citation may leave out a heading's parenthesis: "Schema" names "Schema (`worker/migrations/`)". */
function hasSection(headings: Headings, cited: string): boolean {
  return [...headings.texts].some((text) => text === cited || text.startsWith(`${cited} (`));
}

/** A cited page, then optionally the quoted section names: comma, space or parenthesis between. */
const CITATION =
  /\b(docs\/[\w-]+(?:\/[\w-]+)*\.md|SECURITY\.md|README(?:\.md)?)(?:(?:,\s*|\s+|\s*\(\s*)((?:"[^"\n]+"(?:,\s*|\s+and\s+)?)+))?/g;

describe("documentation citations", () => {
  it("every docs page and section a source file cites exists", async () => {
    const files = [...(await Promise.all(SOURCE_DIRS.map(filesUnder))).flat(), ...SOURCE_FILES];
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      const raw = await readFile(join(ROOT, file), "utf8").catch(() => "");
      // A citation may wrap across comment lines: join them first.
      const text = raw.replace(/\n\s*(?:\*|\/\/|#)?\s*/g, " ");
      for (const m of text.matchAll(CITATION)) {
        const page = m[1] === "README" ? "README.md" : (m[1] as string);
        const headings = await headingsOf(page);
        checked++;
        if (headings === undefined) {
          broken.push(`${file}: ${page} does not exist`);
          continue;
        }
        for (const [, section] of (m[2] ?? "").matchAll(/"([^"]+)"/g)) {
          if (!hasSection(headings, section as string))
            broken.push(`${file}: ${page} has no section "${section}"`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(0);
  });

  it("every link between the pages reaches a page and a heading", async () => {
    const broken: string[] = [];
    for (const page of await markdownPages()) {
      const text = await readFile(join(ROOT, page), "utf8");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z]+:/.test(target)) continue;
        const [path, anchor] = target.split("#");
        const linked = path ? normalize(join(page, "..", path)) : page;
        const headings = await headingsOf(linked);
        if (headings === undefined) {
          broken.push(`${page}: ${target} (no ${relative(".", linked)})`);
        } else if (anchor && linked.endsWith(".md") && !headings.anchors.has(anchor)) {
          broken.push(`${page}: ${target} (no heading #${anchor})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
