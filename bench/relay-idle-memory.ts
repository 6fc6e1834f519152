/**
 * RSS per idle pair in the data plane, on plain TCP and on TLS. The data plane runs alone
 * in a child process (measured there after a forced GC, before and after the pairs are up),
 * and the parties run in other child processes, so nothing but the relay's own memory is
 * counted. BENCH_IDLE_PAIRS sets the pair count (default 10000); it is lowered to what the
 * relay process's file descriptor limit allows (two sockets per pair) and the row says so.
 */
import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Bench, BenchResult } from "./types.ts";

const DEFAULT_PAIRS = 10_000;
/** File descriptors kept free in the relay process for everything that is not a pair socket. */
const SPARE_FDS = 256;
/** Pairs one party process opens (two sockets each), well under the per-process fd limit. */
const PAIRS_PER_CLIENT_PROCESS = 3_000;
/** Handshakes in flight at once per party process, so the listen backlog never overflows. */
const DIAL_CONCURRENCY = 32;
const TRANSPORTS = ["tcp", "tls"] as const;
type Transport = (typeof TRANSPORTS)[number];

interface Certs {
  relayCaPem: string;
  relay: { certPem: string; keyPem: string };
  a: { certPem: string; keyPem: string; thumbprint: string };
  b: { certPem: string; keyPem: string; thumbprint: string };
}

type Message =
  | { kind: "start-relay"; certs: Certs }
  | { kind: "relay-up"; port: number; rss: number }
  | { kind: "measure" }
  | { kind: "rss"; rss: number; pairs: number }
  | { kind: "dial"; certs: Certs; port: number; transport: Transport; from: number; count: number }
  | { kind: "dialed"; count: number };

const self = fileURLToPath(import.meta.url);

function openFileLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = Number(line?.split(/\s+/)[3]);
  return Number.isFinite(soft) ? soft : 1024;
}

function settledRss(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return process.memoryUsage().rss;
}

function next<T extends Message["kind"]>(
  child: ChildProcess,
  kind: T,
): Promise<Extract<Message, { kind: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Message) => {
      if (message.kind !== kind) return;
      child.off("message", onMessage);
      resolve(message as Extract<Message, { kind: T }>);
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`bench child exited (${code}) before ${kind}`)));
  });
}

const spawnChild = () =>
  fork(self, [], { execArgv: ["--import", "tsx", "--expose-gc"], env: { ...process.env, BENCH_CHILD: "1" } });

async function measure(transport: Transport, certs: Certs, pairs: number): Promise<number> {
  const relay = spawnChild();
  const children: ChildProcess[] = [relay];
  try {
    relay.send({ kind: "start-relay", certs } satisfies Message);
    const up = await next(relay, "relay-up");
    const dialers: Array<Promise<unknown>> = [];
    for (let from = 0; from < pairs; from += PAIRS_PER_CLIENT_PROCESS) {
      const client = spawnChild();
      children.push(client);
      const count = Math.min(PAIRS_PER_CLIENT_PROCESS, pairs - from);
      client.send({ kind: "dial", certs, port: up.port, transport, from, count } satisfies Message);
      dialers.push(next(client, "dialed"));
    }
    await Promise.all(dialers);
    relay.send({ kind: "measure" } satisfies Message);
    const after = await next(relay, "rss");
    if (after.pairs !== pairs) throw new Error(`relay holds ${after.pairs} pairs, expected ${pairs}`);
    return (after.rss - up.rss) / pairs / 1024;
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
}

export const run: Bench = async () => {
  const { makeCa, issueParty, issueRelay } = await import("../test/helpers/dataplane-fixtures.ts");
  const ca = await makeCa("Bench Relay CA");
  const certs: Certs = {
    relayCaPem: ca.certPem,
    relay: await issueRelay(ca, "bench"),
    a: await issueParty(ca, "bench", "a"),
    b: await issueParty(ca, "bench", "b"),
  };
  const requested = Number(process.env.BENCH_IDLE_PAIRS ?? DEFAULT_PAIRS);
  const allowed = Math.floor((openFileLimit() - SPARE_FDS) / 2);
  const pairs = Math.min(requested, allowed);
  if (pairs < requested) {
    process.stderr.write(
      `relay-idle-memory: ${requested} pairs need ${requested * 2} fds; measuring ${pairs}\n`,
    );
  }
  const rows: BenchResult[] = [];
  for (const transport of TRANSPORTS) {
    const kb = await measure(transport, certs, pairs);
    rows.push({
      bench: "relay-idle-memory",
      variant: `${transport}-${pairs}-pairs`,
      metric: "kb_per_pair",
      value: kb,
      unit: "KB",
    });
  }
  return rows;
};

async function startRelay(certs: Certs): Promise<void> {
  const { default: pino } = await import("pino");
  const { startDataPlane } = await import("../dataplane/server.ts");
  const { saveRevocationState } = await import("../dataplane/worker-link/revocation-state.ts");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  // With no worker, a saved (empty) revocation list is what lets direct mode in.
  const stateFile = join(tmpdir(), `flock-bench-relay-${process.pid}.json`);
  await saveRevocationState(stateFile, []);
  const dataPlane = await startDataPlane({
    stateFile,
    name: "bench",
    host: "127.0.0.1",
    port: 0,
    // No worker: direct mode needs none, and a failed JWKS fetch is harmless.
    workerUrl: "http://127.0.0.1:9",
    certPem: certs.relay.certPem,
    keyPem: certs.relay.keyPem,
    relayCaPem: certs.relayCaPem,
    metricsPort: null,
    reportIntervalMs: null,
    logger: pino({ level: "silent" }),
    // Memory is measured, not handshake latency: a loaded machine must not time pairs out.
    limits: {
      maxPairs: 1_000_000,
      // One party and one host dial every pair here; their shares would otherwise stop it.
      maxPairsPerUser: 1_000_000,
      maxWaitingPerParty: 1_000_000,
      maxHandshakingPerPrefix: 1_000_000,
      maxHandshakingConnections: 1_000_000,
      idleTimeoutMs: 3_600_000,
      pairingTimeoutMs: 3_600_000,
      helloDeadlineMs: 600_000,
    },
  });
  // Read once at start; nothing reports, so nothing writes it again.
  const { rm } = await import("node:fs/promises");
  await rm(stateFile, { force: true });
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.send?.({ kind: "relay-up", port: dataPlane.port, rss: settledRss() } satisfies Message);
  process.on("message", (message: Message) => {
    if (message.kind !== "measure") return;
    setTimeout(() => {
      process.send?.({ kind: "rss", rss: settledRss(), pairs: dataPlane.activePairs() } satisfies Message);
    }, 500);
  });
}

async function dialPairs(message: Extract<Message, { kind: "dial" }>): Promise<void> {
  const { TestParty } = await import("../test/helpers/dataplane-client.ts");
  const { certs, port, transport } = message;
  const held: unknown[] = [];
  const one = async (index: number) => {
    const tag = `t${index}`;
    const sides = [
      [certs.a, "b"],
      [certs.b, "a"],
    ] as const;
    const parties = await Promise.all(
      sides.map(async ([identity, dest]) => {
        const party = await TestParty.dial({
          transport,
          port,
          relayCaPem: certs.relayCaPem,
          tlsIdentity: transport === "tls" ? identity : undefined,
        });
        await party.sendDirect(dest, tag, transport === "tls" ? undefined : identity);
        return party;
      }),
    );
    await Promise.all(parties.map((p) => p.paired()));
    held.push(parties);
  };
  let nextIndex = message.from;
  const end = message.from + message.count;
  await Promise.all(
    Array.from({ length: DIAL_CONCURRENCY }, async () => {
      while (nextIndex < end) await one(nextIndex++);
    }),
  );
  process.send?.({ kind: "dialed", count: held.length } satisfies Message);
}

if (process.env.BENCH_CHILD === "1" && process.send) {
  process.on("message", (message: Message) => {
    if (message.kind === "start-relay") void startRelay(message.certs);
    if (message.kind === "dial") void dialPairs(message);
  });
}
