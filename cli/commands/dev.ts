import { join, relative } from "node:path";
import type { Command } from "commander";
import { integerIn } from "../command-group.ts";
import { STATE_DIR_NAME, writeConfig } from "../config.ts";
import type { LocalWorker } from "../local/local-worker.ts";
import { progress } from "../output.ts";

export const DEFAULT_DEV_PORT = 8787;
export const DEV_HOST = "127.0.0.1";

export interface DevOptions {
  /** Worker port; 0 picks a free one. */
  port?: number;
  /** secrets.json and the D1 database; defaults to `.flock` under cwd. */
  stateDir?: string;
  /** Where `.flock/config.json` and `certs/` live. */
  cwd?: string;
  quiet?: boolean;
}

export interface DevEnvironment {
  worker: LocalWorker;
  configPath: string;
  stop(): Promise<void>;
}

/** The whole local setup: the worker in workerd with persisted state, and a config the other commands find. */
export async function startDev(options: DevOptions = {}): Promise<DevEnvironment> {
  const cwd = options.cwd ?? process.cwd();
  // Loaded on demand so other commands do not pay for Miniflare's import.
  const { startLocalWorker } = await import("../local/local-worker.ts");
  const worker = await startLocalWorker({
    stateDir: options.stateDir ?? join(cwd, STATE_DIR_NAME),
    port: options.port ?? DEFAULT_DEV_PORT,
    host: DEV_HOST,
    quiet: options.quiet,
    onProgress: progress,
  });
  try {
    const path = await writeConfig({ url: worker.url, token: worker.adminToken }, cwd);
    return { worker, configPath: path, stop: () => worker.stop() };
  } catch (error) {
    await worker.stop();
    throw error;
  }
}

export function nextSteps(env: DevEnvironment, cwd: string = process.cwd()): string {
  const where = relative(cwd, env.configPath) || env.configPath;
  return [
    `Flock worker running at ${env.worker.url}`,
    `Admin URL and token saved in ${where} (mode 0600); commands run from this directory use them.`,
    "",
    "Next, in another terminal in this directory:",
    "  npx flock create user --name alice",
    "  npx flock create party --user alice --name p0",
    "  npx flock create party --user alice --name p1",
    "  npx flock list parties",
    "",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Miniflare's exit hook answers SIGINT/SIGTERM with an immediate process.exit, which would
 * cut short an orderly stop. `dev` owns the signals instead: it drops the listeners that
 * appeared while starting, and stops everything itself (Miniflare's exit-time kill of
 * workerd stays as the safety net).
 */
async function withOwnSignals<T>(start: () => Promise<T>): Promise<T> {
  const before = new Map(STOP_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  try {
    return await start();
  } finally {
    for (const signal of STOP_SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)?.has(listener)) process.off(signal, listener);
      }
    }
  }
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

export function registerDevCommand(program: Command): void {
  program
    .command("dev")
    .description("run the worker locally (workerd, D1 under .flock/) and save its URL and admin token")
    .option("--port <port>", "worker port (0 picks a free one)", integerIn(0, 65535), DEFAULT_DEV_PORT)
    .option("--state <dir>", "state directory (secrets.json, D1)", STATE_DIR_NAME)
    .action(async (flags: { port: number; state: string }) => {
      const env = await withOwnSignals(() => startDev({ port: flags.port, stateDir: flags.state }));
      process.stdout.write(nextSteps(env));
      const signal = await untilSignal();
      process.stderr.write(`${signal}: stopping…\n`);
      await env.stop();
      process.stderr.write("stopped.\n");
    });
}
