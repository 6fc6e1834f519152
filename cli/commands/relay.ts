/**
 * `flock relay start`: the data plane's entry, and the only place that reads its flags,
 * environment and files. It builds a DataPlaneConfigInput and starts the library, which
 * never reads process.env. Containers run it too (docker/dataplane.Dockerfile).
 */
import { join, resolve } from "node:path";
import { type Command, Option } from "commander";
import pino from "pino";
import type { DataPlaneConfigInput, DataPlaneLimits } from "../../dataplane/config.ts";
import { DEFAULT_LIMITS, DEFAULT_METRICS_HOST, DRAIN_DEADLINE_MS } from "../../dataplane/config.ts";
import { oldSpaceFloorMb } from "../../dataplane/old-space-floor.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { startDataPlane } from "../../dataplane/server.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName } from "../../protocol/names.ts";
import { DEFAULT_RELAY_PORT } from "../../protocol/wire.ts";
import { readPemFile, relayCaPath, relayPaths } from "../certs/layout.ts";
import { commandGroup, integerIn } from "../command-group.ts";
import { resolveWorkerUrl } from "../config.ts";

const DEFAULT_METRICS_PORT = 9464;

export const NO_OLD_SPACE_FLOOR_WARNING =
  "V8's old generation has no floor: start the relay as `node --initial-old-space-size=64 bin/flock.js relay start ...` (docs/deploying.md, \"V8's old generation\")";

export interface RelayStartOptions {
  name: string;
  port: number;
  host: string;
  /** false turns the metrics endpoint off. */
  metrics: boolean;
  metricsPort: number;
  metricsHost: string;
  pairingTimeoutMs: number;
  idleTimeoutMs: number;
  helloDeadlineMs: number;
  magicDeadlineMs: number;
  maxHandshakingPerPrefix: number;
  handshakePrefixV4: number;
  handshakePrefixV6: number;
  maxPairs: number;
  maxWaitingPerParty: number;
  maxPairsPerUser?: number;
  drainDeadlineMs: number;
  certs: string;
  stateDir: string;
  url?: string;
  allowPlainHttpWorker?: boolean;
  logLevel: string;
}

const port = integerIn(0, 65535);
const positiveMs = integerIn(1, 24 * 3600 * 1000);
const count = integerIn(1, 10_000_000);

function addRelayStartOptions(command: Command): Command {
  return command
    .requiredOption("--name <name>", "relay name (its certificate is certs/_relays/<name>/)")
    .option(
      "--port <port>",
      "port for every transport (tcp, tls, ws, wss); 0 picks one",
      port,
      DEFAULT_RELAY_PORT,
    )
    .option("--host <host>", "address to listen on", "0.0.0.0")
    .option("--metrics-port <port>", "Prometheus /metrics port; 0 picks one", port, DEFAULT_METRICS_PORT)
    .option(
      "--metrics-host <host>",
      "address metrics listen on (loopback unless you open them on a network you trust)",
      DEFAULT_METRICS_HOST,
    )
    .option("--no-metrics", "serve no metrics endpoint")
    .option(
      "--pairing-timeout-ms <ms>",
      "how long a side waits for its peer",
      positiveMs,
      DEFAULT_LIMITS.pairingTimeoutMs,
    )
    .option("--idle-timeout-ms <ms>", "close a pair idle this long", positiveMs, DEFAULT_LIMITS.idleTimeoutMs)
    .option(
      "--hello-deadline-ms <ms>",
      "accept to verified hello",
      positiveMs,
      DEFAULT_LIMITS.helloDeadlineMs,
    )
    .option(
      "--magic-deadline-ms <ms>",
      "accept to the Flock MAGIC (TLS and WebSocket upgrade included)",
      positiveMs,
      DEFAULT_LIMITS.magicDeadlineMs,
    )
    .option(
      "--max-handshaking-per-prefix <n>",
      "connections still in their handshake from one source network",
      count,
      DEFAULT_LIMITS.maxHandshakingPerPrefix,
    )
    .option(
      "--handshake-prefix-v4 <bits>",
      "IPv4 prefix length of a source network",
      integerIn(1, 32),
      DEFAULT_LIMITS.handshakePrefixBitsV4,
    )
    .option(
      "--handshake-prefix-v6 <bits>",
      "IPv6 prefix length of a source network",
      integerIn(1, 128),
      DEFAULT_LIMITS.handshakePrefixBitsV6,
    )
    .option("--max-pairs <n>", "pairs held at once (capacity)", count, DEFAULT_LIMITS.maxPairs)
    .option(
      "--max-waiting-per-party <n>",
      "sides one party may have waiting for a peer",
      count,
      DEFAULT_LIMITS.maxWaitingPerParty,
    )
    .option(
      "--max-pairs-per-user <n>",
      "pairs one user's parties may hold (default: a quarter of --max-pairs)",
      count,
    )
    .option(
      "--drain-deadline-ms <ms>",
      "on SIGTERM, how long pairs may finish",
      positiveMs,
      DRAIN_DEADLINE_MS,
    )
    .option("--certs <dir>", "certificate directory", "certs")
    .option("--state-dir <dir>", "where the last revocation list is kept (relay-<name>.json)", ".flock")
    .option("--url <url>", "worker URL (default: $FLOCK_URL or .flock/config.json); https unless on loopback")
    .option("--allow-plain-http-worker", "accept an http worker URL off loopback (a trusted private network)")
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["debug", "info", "warn", "error"])
        .default("info"),
    );
}

function revocationStatePath(stateDir: string, relayName: string): string {
  return join(stateDir, `relay-${relayName}.json`);
}

/** Reads the relay's certificate, key and the relay CA, and finds the worker URL. */
export async function relayConfig(
  options: RelayStartOptions,
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
): Promise<DataPlaneConfigInput> {
  const name = assertName(options.name, "relay");
  const certsDir = resolve(cwd, options.certs);
  const paths = relayPaths(certsDir, name);
  const howToCreate = `register the relay first: flock create relay --name ${name} --host <host>`;
  const limits: Partial<DataPlaneLimits> = {
    pairingTimeoutMs: options.pairingTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    helloDeadlineMs: options.helloDeadlineMs,
    magicDeadlineMs: options.magicDeadlineMs,
    maxHandshakingPerPrefix: options.maxHandshakingPerPrefix,
    handshakePrefixBitsV4: options.handshakePrefixV4,
    handshakePrefixBitsV6: options.handshakePrefixV6,
    maxPairs: options.maxPairs,
    maxWaitingPerParty: options.maxWaitingPerParty,
    ...(options.maxPairsPerUser === undefined ? {} : { maxPairsPerUser: options.maxPairsPerUser }),
  };
  return {
    name,
    host: options.host,
    port: options.port,
    workerUrl: await resolveWorkerUrl({ url: options.url, env, cwd }),
    certPem: await readPemFile(paths.cert, howToCreate),
    keyPem: await readPemFile(paths.key, howToCreate),
    relayCaPem: await readPemFile(relayCaPath(certsDir), howToCreate),
    metricsPort: options.metrics ? options.metricsPort : null,
    metricsHost: options.metricsHost,
    stateFile: revocationStatePath(resolve(cwd, options.stateDir), name),
    allowPlainHttpWorker: options.allowPlainHttpWorker === true,
    kernelSplice: env.FLOCK_NATIVE_SPLICE !== "0",
    logger: pino({ level: options.logLevel }),
    limits,
  };
}

/**
 * Starts the data plane and runs it until SIGTERM or SIGINT: then it drains (no new
 * pairs, existing ones get up to the drain deadline) and stops. A second signal stops at once.
 */
export async function runRelay(options: RelayStartOptions, env: NodeJS.ProcessEnv): Promise<void> {
  const config = await relayConfig(options, env);
  if (oldSpaceFloorMb(process.execArgv) === undefined) config.logger.warn(NO_OLD_SPACE_FLOOR_WARNING);
  const dataPlane: DataPlane = await startDataPlane(config);
  const stoppedBySignal = new Promise<"signal">((done) => {
    let signalled = false;
    const onSignal = () => {
      if (signalled) {
        void dataPlane.stop().then(() => done("signal"));
        return;
      }
      signalled = true;
      void dataPlane
        .drain(options.drainDeadlineMs)
        .then(() => dataPlane.stop())
        .then(() => done("signal"));
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  const revoked = dataPlane.revoked.then(() => "revoked" as const);
  if ((await Promise.race([stoppedBySignal, revoked])) === "revoked") {
    throw new FlockError(
      "RELAY_REVOKED",
      `The worker has revoked relay ${options.name}, so it stopped; register a new one with \`flock create relay\` to serve again.`,
    );
  }
}

/** `flock relay start`: runs a data plane in the foreground until SIGTERM/SIGINT (then drains). */
export function registerRelayCommands(program: Command): void {
  const relay = commandGroup(program, "relay", "run a data plane");
  addRelayStartOptions(
    relay.command("start").description("run a data plane: pair parties and splice their bytes"),
  ).action((options: RelayStartOptions) => runRelay(options, process.env));
}
