import type { ChildProcess } from "node:child_process";
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
  return new Promise((resolve, reject) => {
    const child = spawnFlock(args, cwd, env);
    child.stdin?.end();
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The CLI in its own process with its stdio as pipes, for commands that stream (`flock connect`). */
export function spawnFlock(args: string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FLOCK_")));
  return spawn(process.execPath, [FLOCK_BIN, ...args], {
    cwd,
    env: { ...base, NO_COLOR: "1", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
}
