import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * vitest globalSetup: compiles dist/ once before the node tests, so every test that spawns
 * `bin/flock.js` (or loads the SDK bundle) runs what the sources say now. Unchanged outputs
 * are not rewritten; see docs/testing.md.
 */
export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/build.mjs", import.meta.url))], {
    stdio: "inherit",
  });
}
