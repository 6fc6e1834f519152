import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { describe, expect, it } from "vitest";
import { programs, ROOT } from "../../scripts/build.mjs";
import { runFlock } from "../helpers/run-flock.ts";

const WHOLE_CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** What the data plane's entry compiles in, as esbuild reports it. */
async function relayEntryInputs(): Promise<string[]> {
  const entry = programs.find((p) => p.outfile === "dist/cli/relay.js");
  if (entry === undefined) throw new Error("scripts/build.mjs has no dist/cli/relay.js entry");
  const result = await esbuild.build({
    ...entry,
    bundle: true,
    platform: "node",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
    absWorkingDir: ROOT,
  });
  return Object.keys(result.metafile.inputs);
}

describe("flock relay (the data plane's own entry)", () => {
  it("compiles in the relay command and none of the others", async () => {
    const inputs = await relayEntryInputs();
    expect(inputs.filter((f) => f.startsWith("cli/commands/"))).toEqual(["cli/commands/relay.ts"]);
    expect(inputs.some((f) => f.startsWith("dataplane/"))).toBe(true);
    for (const unrelated of ["node_modules/node-forge/", "node_modules/@peculiar/", "worker/", "client/"]) {
      expect(inputs.filter((f) => f.startsWith(unrelated))).toEqual([]);
    }
  });

  it.each([
    [["relay", "--help"]],
    [["relay", "start", "--help"]],
    [["relay"]],
    [["relay", "start"]],
    [["relay", "stop"]],
    [["relay", "start", "--name", "r1", "--port", "65536"]],
  ])("`flock %j` answers as the whole command tree does", async (args) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOCK_")));
    const whole = spawnSync(process.execPath, [WHOLE_CLI, ...args], {
      cwd: tmpdir(),
      encoding: "utf8",
      env: { ...env, NO_COLOR: "1" },
    });
    const relay = await runFlock(args, tmpdir());
    expect({ code: relay.code, stdout: relay.stdout, stderr: relay.stderr }).toEqual({
      code: whole.status,
      stdout: whole.stdout,
      stderr: whole.stderr,
    });
  });
});
