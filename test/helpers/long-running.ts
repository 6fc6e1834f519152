import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";

export interface Running {
  child: ChildProcess;
  /** The match of `ready` in stdout. */
  match: RegExpExecArray;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM to this process (by pid), then its exit code. */
  stop(): Promise<number | null>;
}

/** Starts a program that keeps running, and resolves once its stdout matches `ready`. */
export function startUntil(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<Running> {
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stdout?.on("data", (d) => {
      stdout += d;
      const match = ready.exec(stdout);
      if (match) resolve({ child, match, stderr: () => stderr, stop });
    });
    exited.then((code) =>
      reject(new Error(`${command} ${args.join(" ")} exited (${code}) before it was ready:\n${stderr}`)),
    );
  });
}

/**
 * The peer side of examples/python-tunnel: its echo service and a `flock tunnel --forward` to
 * it as the party `identity` (environment variables, as `identityEnv` makes them).
 */
export async function startEchoBehindTunnel(
  flockBin: string,
  identity: Record<string, string>,
): Promise<Running[]> {
  const echoServer = new URL("../../examples/python-tunnel/echo_server.py", import.meta.url).pathname;
  const server = await startUntil(
    "python3",
    [echoServer, "--port", "0"],
    process.env,
    /listening on 127\.0\.0\.1:(\d+)/,
  );
  try {
    const forward = await startUntil(
      process.execPath,
      [flockBin, "tunnel", "--quiet", "--forward", `127.0.0.1:${server.match[1]}`],
      { PATH: process.env.PATH, NO_COLOR: "1", ...identity },
      /^forwarding to /,
    );
    return [server, forward];
  } catch (error) {
    await server.stop();
    throw error;
  }
}
