/**
 * Requests to a bench child process and their replies over its IPC channel: the parent's
 * `forkServing` sends a request and awaits its reply; the child's `serveRequests` answers each
 * request with what its handler returns, or with the error's stack.
 */
import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";

type Reply<T> = { id: number; result: T } | { id: number; error: string };

export interface ServingChild<Request, Result> {
  request(request: Request): Promise<Result>;
  /** Ends the child (by its pid). */
  stop(): void;
}

/** Forks `module` under tsx with `args`; resolves once the child says it is ready. */
export async function forkServing<Request, Result>(
  module: string,
  args: string[],
  name: string,
  execArgv: string[] = [],
): Promise<ServingChild<Request, Result>> {
  const child: ChildProcess = fork(module, args, {
    execArgv: [...execArgv, "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`the ${name} process exited with ${code}`)));
  });
  child.on("message", (reply: Reply<Result>) => {
    const pending = waiting.get(reply.id);
    waiting.delete(reply.id);
    if ("result" in reply) pending?.resolve(reply.result);
    else pending?.reject(new Error(reply.error));
  });
  child.on("exit", (code) => {
    for (const { reject } of waiting.values()) reject(new Error(`the ${name} process exited with ${code}`));
    waiting.clear();
  });
  return {
    request: (request) =>
      new Promise<Result>((resolve, reject) => {
        const id = ++next;
        waiting.set(id, { resolve, reject });
        child.send({ id, request });
      }),
    stop: () => {
      child.kill();
    },
  };
}

/** In the child: answers every request with `handle`'s result; exits when the parent goes. */
export function serveRequests<Request, Result>(handle: (request: Request) => Promise<Result>): void {
  process.on("message", async ({ id, request }: { id: number; request: Request }) => {
    let reply: Reply<Result>;
    try {
      reply = { id, result: await handle(request) };
    } catch (error) {
      reply = { id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    }
    process.send?.(reply);
  });
  process.on("disconnect", () => process.exit(0));
  process.send?.({ ready: true });
}
