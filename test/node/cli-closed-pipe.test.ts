import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { FLOCK_BIN } from "../helpers/run-flock.ts";

/** Runs `flock ...args` with its stdout a pipe whose reading end is closed before it writes. */
async function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [FLOCK_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
  return { code, stderr };
}

describe("flock writing to a pipe its reader closed (`flock ... | head`)", () => {
  it.each([
    ["--help"],
    ["relay", "start", "--help"],
  ])("flock %s exits 141, as SIGPIPE ends a C tool, with nothing on stderr", async (...args) => {
    expect(await withClosedStdout(args)).toEqual({ code: 141, stderr: "" });
  });
});
