import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * vitest globalSetup: compiles dist/ once before the node tests, so every test that spawns
 * `bin/flock.js` (or loads the SDK bundle) runs what the sources say now; and the kernel
 * splice addon, when its sources are newer than its build. Unchanged outputs are not
 * rewritten; see docs/testing.md.
 */
export default function setup(): void {
  const run = (script: string, ...args: string[]) =>
    execFileSync(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
      stdio: "inherit",
    });
  run("../../scripts/build.mjs");
  run("../../native/splice/install.mjs", "--if-stale");
}
