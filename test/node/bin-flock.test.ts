import { spawnSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FLOCK_BIN, runFlock } from "../helpers/run-flock.ts";

describe("bin/flock.js", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("says how to build when dist/ is missing, exit 1", async () => {
    const root = await mkdtemp(join(tmpdir(), "flock-unbuilt-"));
    dirs.push(root);
    await mkdir(join(root, "bin"));
    const bin = join(root, "bin", "flock.js");
    await copyFile(FLOCK_BIN, bin);
    const run = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe("error: the flock CLI is not built: run `npm run build` (or `npm install`).\n");
  });

  it("runs the compiled CLI", async () => {
    const run = await runFlock(["--version"], tmpdir());
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
