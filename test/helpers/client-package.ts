import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const PACK_CLIENT_SCRIPT = fileURLToPath(new URL("../../scripts/pack-client.mjs", import.meta.url));
/** The SDK's single-file bundle, as `npm run build` leaves it (fresh for every test run: see fresh-build.ts). */
export const CLIENT_BUNDLE = fileURLToPath(new URL("../../dist/client/flock-client.mjs", import.meta.url));

/** `npm run pack:client` as a user runs it; resolves to the tarball path it prints last. */
export async function packClient(): Promise<string> {
  const { stdout } = await run(process.execPath, [PACK_CLIENT_SCRIPT], { maxBuffer: 1 << 20 });
  const last = stdout.trimEnd().split("\n").at(-1);
  if (!last?.endsWith(".tgz")) throw new Error(`pack:client printed no tarball path:\n${stdout}`);
  return last;
}

/** Runs a program and resolves with its stdout; rejects with its stderr on a non-zero exit. */
export async function runProgram(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  try {
    const { stdout } = await run(command, args, { ...options, maxBuffer: 16 << 20 });
    return stdout;
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${failed.stderr || failed.message}`);
  }
}
