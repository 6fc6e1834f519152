import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BUNDLE_PRUNE_AGE_MS, pruneBundles, readWranglerSettings } from "../../cli/local/worker-bundle.ts";

describe("worker bundle cache", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "flock-bundles-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prunes only bundles older than BUNDLE_PRUNE_AGE_MS, never the current one", async () => {
    const now = Date.now();
    const ages: Record<string, number> = {
      current: BUNDLE_PRUNE_AGE_MS * 2,
      old: BUNDLE_PRUNE_AGE_MS + 60_000,
      "build-abandoned": BUNDLE_PRUNE_AGE_MS + 60_000,
      recent: BUNDLE_PRUNE_AGE_MS - 60_000,
    };
    for (const [name, age] of Object.entries(ages)) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, "index.js"), "");
      const when = new Date(now - age);
      await utimes(join(dir, name), when, when);
    }
    expect((await pruneBundles(dir, "current", now)).sort()).toEqual(["build-abandoned", "old"]);
    expect((await readdir(dir)).sort()).toEqual(["current", "recent"]);
  });

  it("reads the settings the local runner needs from wrangler.toml", async () => {
    const path = join(dir, "wrangler.toml");
    await writeFile(
      path,
      [
        'compatibility_date = "2026-04-20"',
        'compatibility_flags = ["nodejs_compat", "other_flag"]',
        "[[kv_namespaces]]",
        'binding = "KV"',
        'id = "kv"',
        "[[d1_databases]]",
        'binding = "DB"',
        'database_id = "abc"',
        "[vars]",
        'database_id = "not-this"',
      ].join("\n"),
    );
    expect(await readWranglerSettings(path)).toEqual({
      compatibilityDate: "2026-04-20",
      compatibilityFlags: ["nodejs_compat", "other_flag"],
      d1DatabaseId: "abc",
      d1Binding: "DB",
    });
    await writeFile(path, 'name = "x"\n');
    await expect(readWranglerSettings(path)).rejects.toThrow("lacks compatibility_date");
  });
});
