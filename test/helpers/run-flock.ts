import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const FLOCK_BIN = fileURLToPath(new URL("../../bin/flock.js", import.meta.url));

export interface FlockRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The CLI as a user runs it, in its own process. FLOCK_* variables of the test's own
 * environment never leak in: only `env` sets them.
 */
export function runFlock(args: string[], cwd: string, env: Record<string, string> = {}): Promise<FlockRun> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOCK_")));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOCK_BIN, ...args], {
      cwd,
      env: { ...base, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
