import { join, relative } from "node:path";
import type { Writable } from "node:stream";
import type { Command } from "commander";
import type { DataPlane } from "../../dataplane/server.ts";
import { DEFAULT_RELAY_PORT, isLoopbackHostname } from "../../protocol/wire.ts";
import { ApiClient } from "../api-client.ts";
import { certsRoot } from "../certs/layout.ts";
import { integerIn } from "../command-group.ts";
import { readConfigFile, STATE_DIR_NAME, writeConfig } from "../config.ts";
import { devLogMode, openDevLog } from "../local/dev-log.ts";
import { ensureLocalRelay } from "../local/local-relay.ts";
import type { LocalWorker } from "../local/local-worker.ts";
import { assertPortFree } from "../local/port.ts";
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
  /** Run one data plane named `local` next to the worker (default true). */
  relay?: boolean;
  relayPort?: number;
  /** Worker listen address; 0.0.0.0 inside a container so other services reach it. */
  host?: string;
  /** Drop the worker's and the data plane's log lines. */
  quiet?: boolean;
  /** Where log lines (JSON) go: a new writable per source; default stderr. */
  logs?: () => Writable;
}

export interface DevEnvironment {
  worker: LocalWorker;
  /** Absent with `relay: false`. */
  relay?: DataPlane;
  configPath: string;
  /** A non-local worker URL that .flock/config.json held before (from `flock login`), now replaced. */
  replacedUrl?: string;
  stop(): Promise<void>;
}

/**
 * The whole local setup: the worker in workerd with persisted state, a config the other
 * commands find, and one data plane registered as relay `local`.
 */
export async function startDev(options: DevOptions = {}): Promise<DevEnvironment> {
  const cwd = options.cwd ?? process.cwd();
  const relayPort = options.relayPort ?? DEFAULT_RELAY_PORT;
  if (options.relay !== false) await assertPortFree(DEV_HOST, relayPort, "--relay-port or --no-relay");
  // Loaded on demand so other commands do not pay for Miniflare's import.
  const { startLocalWorker } = await import("../local/local-worker.ts");
  const worker = await startLocalWorker({
    stateDir: options.stateDir ?? join(cwd, STATE_DIR_NAME),
    port: options.port ?? DEFAULT_DEV_PORT,
    host: options.host ?? DEV_HOST,
    quiet: options.quiet,
    logs: options.logs,
    onProgress: progress,
  });
  let relay: DataPlane | undefined;
  const stop = async () => {
    await relay?.stop();
    await worker.stop();
  };
  try {
    const previousUrl = (await readConfigFile(cwd))?.url;
    const replacedUrl =
      previousUrl && !isLoopbackHostname(new URL(previousUrl).hostname) ? previousUrl : undefined;
    const path = await writeConfig({ url: worker.url, token: worker.adminToken }, cwd);
    if (options.relay !== false) {
      relay = await startLocalRelay(worker, cwd, relayPort, options);
    }
    return { worker, relay, configPath: path, replacedUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startLocalRelay(
  worker: LocalWorker,
  cwd: string,
  port: number,
  options: DevOptions,
): Promise<DataPlane> {
  const client = new ApiClient({ url: worker.url, token: worker.adminToken });
  const identity = await ensureLocalRelay(client, { certsDir: certsRoot(cwd), host: DEV_HOST, port });
  const { startDataPlane } = await import("../../dataplane/server.ts");
  const { pino } = await import("pino");
  const relay = await startDataPlane({
    name: identity.name,
    host: DEV_HOST,
    port,
    workerUrl: worker.url,
    certPem: identity.certPem,
    keyPem: identity.keyPem,
    relayCaPem: identity.relayCaPem,
    metricsPort: null,
    logger: pino({ level: options.quiet ? "silent" : "info" }, options.logs?.() ?? pino.destination(2)),
  });
  // Report at once so the worker hands out tickets for it before the first interval passes.
  await relay.reportNow();
  return relay;
}

export function nextSteps(env: DevEnvironment, cwd: string = process.cwd()): string {
  const where = relative(cwd, env.configPath) || env.configPath;
  const lines = [`Flock worker running at ${env.worker.url}`];
  if (env.relay)
    lines.push(`Data plane "${env.relay.name}" listening on ${DEV_HOST}:${env.relay.port} (tcp, tls, ws)`);
  lines.push(
    `Admin URL and token saved in ${where} (mode 0600); commands run from this directory use them.`,
    "",
    "Next, in another terminal in this directory:",
    "  npx flock create user --name alice",
    "  npx flock create party --user alice --name p0",
    "  npx flock create party --user alice --name p1",
  );
  if (env.relay) {
    lines.push(
      "  npx flock ticket --user alice --party p0 --dest p1",
      "  npx flock ping --user alice --party p1 --dest p0 --listen    # in one terminal",
      "  npx flock ping --user alice --party p0 --dest p1             # in another",
    );
  } else {
    lines.push("  npx flock list parties", "Tickets need a data plane: `flock relay start --name <relay>`.");
  }
  lines.push("", "Press Ctrl-C to stop.", "");
  return lines.join("\n");
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
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
      resolve(signal);
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
  });
}

/** What `flock dev --json` prints once everything is up, instead of the banner. */
export function readyInfo(env: DevEnvironment) {
  return {
    url: env.worker.url,
    relay: env.relay ? { name: env.relay.name, host: DEV_HOST, port: env.relay.port } : null,
    config: env.configPath,
    ...(env.replacedUrl ? { replacedUrl: env.replacedUrl } : {}),
  };
}

interface DevFlags {
  port: number;
  state: string;
  host: string;
  relay: boolean;
  relayPort: number;
  json?: boolean;
  logFile?: string;
}

export function registerDevCommand(program: Command): void {
  program
    .command("dev")
    .description(
      "run the worker (workerd, D1 under .flock/) and one data plane locally; save the admin config",
    )
    .option("--port <port>", "worker port (0 picks a free one)", integerIn(0, 65535), DEFAULT_DEV_PORT)
    .option("--state <dir>", "state directory (secrets.json, D1)", STATE_DIR_NAME)
    .option("--host <address>", "worker listen address (0.0.0.0 in a container)", DEV_HOST)
    .option("--relay-port <port>", "data plane port", integerIn(1, 65535), DEFAULT_RELAY_PORT)
    .option("--no-relay", "run the worker only")
    .option("--json", "print the addresses as one JSON object, and log JSON lines on stderr")
    .option("--log-file <path>", "append the JSON log lines to this file instead of the terminal")
    .action(async (flags: DevFlags) => {
      const mode = devLogMode({ ...flags, stdoutIsTTY: Boolean(process.stdout.isTTY) });
      const log = openDevLog({ mode, out: process.stderr, logFile: flags.logFile });
      // With --json, stderr carries JSON lines only, so the stop notices are JSON too.
      const notice = (text: string, event: string, fields: object = {}) =>
        process.stderr.write(flags.json ? `${JSON.stringify({ event, ...fields })}\n` : `${text}\n`);
      try {
        const env = await withOwnSignals(() =>
          startDev({
            port: flags.port,
            stateDir: flags.state,
            host: flags.host,
            relay: flags.relay,
            relayPort: flags.relayPort,
            logs: log.input,
          }),
        );
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(readyInfo(env))}\n`);
        } else {
          if (env.replacedUrl) {
            process.stderr.write(
              `note: .flock/config.json pointed at ${env.replacedUrl}; it now points at the local worker (\`flock login\` switches back).\n`,
            );
          }
          process.stdout.write(nextSteps(env));
        }
        log.release();
        const signal = await untilSignal();
        notice(`${signal}: stopping…`, "dev.stopping", { signal });
        await env.stop();
        notice("stopped.", "dev.stopped");
      } finally {
        await log.close();
      }
    });
}
