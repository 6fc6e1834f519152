/**
 * `flock relay start` in a process of its own, as a data plane is run (bin/flock.js, compiled),
 * in direct mode: its certificates and a saved (empty) revocation list go to a temporary
 * folder laid out as its working directory (certs/, .flock/), so it needs no worker. The port
 * and the splice path come from its "data plane listening" log line. For tests and benches
 * that need the deployed process itself.
 */
import type { ChildProcess, StdioOptions } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { relayCaPath, relayPaths } from "../../cli/certs/layout.ts";
import { saveRevocationState } from "../../dataplane/worker-link/revocation-state.ts";

const FLOCK_BIN = fileURLToPath(new URL("../../bin/flock.js", import.meta.url));
/** The relay's name in its folder (relayFolder). */
export const RELAY_NAME = "bench";
/** A worker URL nothing listens on: the relay runs from its saved revocation list, in direct mode. */
export const NO_WORKER = "http://127.0.0.1:9";
/**
 * Node flags that let a test collect all of the relay's garbage on demand (collectGarbage);
 * its stderr must be piped.
 */
export const GC_ON_DEMAND_NODE_ARGS = [
  "--expose-gc",
  "--import",
  new URL("./heap-report.mjs", import.meta.url).href,
];

export interface RelayProcessOptions {
  certs: { relayCaPem: string; certPem: string; keyPem: string };
  /** Node's own flags, before bin/flock.js. */
  nodeArgs?: string[];
  env?: Record<string, string>;
  /** What becomes of its stderr (its stdout is read for the log line, then drained). */
  stderr?: "inherit" | "pipe";
  /** Serve /metrics on a port it picks (metricsPort); off unless true. */
  metrics?: boolean;
}

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly splice: "kernel" | "js";
  /** null when metrics are off. */
  readonly metricsPort: number | null;
  /** Its stdout (JSON log lines) up to and including the "data plane listening" line. */
  readonly startLog: string;
  /** SIGTERM, then waits for it to exit and removes its folder. */
  stop(): Promise<void>;
}

/** A folder laid out as a data plane's working directory: certs/ and .flock/ with an empty revocation list. */
export async function relayFolder(certs: RelayProcessOptions["certs"]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "flock-relay-process-"));
  const certsDir = join(dir, "certs");
  const paths = relayPaths(certsDir, RELAY_NAME);
  mkdirSync(paths.dir, { recursive: true });
  writeFileSync(relayCaPath(certsDir), certs.relayCaPem);
  writeFileSync(paths.cert, certs.certPem);
  writeFileSync(paths.key, certs.keyPem, { mode: 0o600 });
  await saveRevocationState(join(dir, ".flock", `relay-${RELAY_NAME}.json`), []);
  return dir;
}

export async function startRelayProcess(options: RelayProcessOptions): Promise<RelayProcess> {
  const dir = await relayFolder(options.certs);
  const metrics = options.metrics ? ["--metrics-port", "0"] : ["--no-metrics"];
  const args = ["relay", "start", "--name", RELAY_NAME, "--host", "127.0.0.1", "--port", "0", ...metrics];
  const stdio: StdioOptions = ["ignore", "pipe", options.stderr ?? "inherit"];
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), FLOCK_BIN, ...args, "--url", NO_WORKER],
    {
      cwd: dir,
      env: { ...process.env, ...options.env },
      stdio,
    },
  );
  return relayListening(child, dir);
}

/**
 * Waits for a data plane started in `dir` (relayFolder) to log that it listens; its stdout
 * is drained after that line. Stopping it removes `dir`.
 */
export async function relayListening(child: ChildProcess, dir: string): Promise<RelayProcess> {
  const exited = new Promise<unknown>((resolve) => child.once("exit", resolve));
  let seen = "";
  const listening = await new Promise<{ port: number; splice: "kernel" | "js"; metricsPort: number | null }>(
    (resolve, reject) => {
      // Only whole lines are parsed: a chunk may end inside the listening line.
      let scanned = 0;
      const onData = (chunk: Buffer) => {
        seen += chunk.toString();
        for (let end = seen.indexOf("\n", scanned); end !== -1; end = seen.indexOf("\n", scanned)) {
          const line = seen.slice(scanned, end);
          scanned = end + 1;
          if (!line.includes('"data plane listening"')) continue;
          child.stdout?.off("data", onData);
          resolve(JSON.parse(line));
          return;
        }
      };
      child.stdout?.on("data", onData);
      void exited.then(() => reject(new Error(`flock relay start exited before listening: ${seen}`)));
    },
  );
  child.stdout?.resume();
  return {
    child,
    port: listening.port,
    splice: listening.splice,
    metricsPort: listening.metricsPort,
    startLog: seen,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Makes a relay started with GC_ON_DEMAND_NODE_ARGS collect all its garbage (a full
 * mark-compact) and resolves with the V8 heap it still uses.
 */
export function collectGarbage(relay: RelayProcess): Promise<number> {
  const heapUsed = new Promise<number>((resolve) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /heap-used-bytes (\d+)\n/.exec(seen);
      if (!match) return;
      relay.child.stderr?.off("data", onData);
      resolve(Number(match[1]));
    };
    relay.child.stderr?.on("data", onData);
  });
  relay.child.kill("SIGUSR2");
  return heapUsed;
}
