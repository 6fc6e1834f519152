/**
 * Starting, measuring and stopping the relays that bench/relay-cpu.ts compares: the data
 * plane as deployed (`flock relay start`, compiled), bare Node relays (children.ts) and
 * haproxy. A relay's cost is the CPU time of its process, all threads, read from /proc.
 */
import type { ChildProcess } from "node:child_process";
import { execFileSync, fork, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRelayProcess } from "../../test/helpers/relay-process.ts";
import type { ChildReady, ChildStart } from "./children.ts";

export interface Relay {
  readonly pid: number;
  readonly port: number;
  /** How a Flock data plane splices tcp pairs. */
  readonly splice?: "kernel" | "js";
  /** V8 mark-compacts in its process so far (Node relays; undefined for haproxy). */
  markCompacts?(): number;
  stop(): Promise<void>;
}

/** CPU seconds of every thread of a process (schedstat: nanoseconds on a CPU). */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const schedstat = readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8");
    ns += Number(schedstat.split(" ")[0]);
  }
  return ns / 1e9;
}

const MARK_COMPACT_LINE = "mark-compact";
const COUNT_MARK_COMPACTS = fileURLToPath(new URL("./count-mark-compacts.mjs", import.meta.url));

/** Node's flags for a Node relay: the mark-compact counter, a CPU profile, the variant's own. */
function nodeFlags(own: string[], profileDir?: string): string[] {
  const profile = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  return ["--import", COUNT_MARK_COMPACTS, ...profile, ...own];
}

/** Counts the counter's lines on a relay's stderr; everything else goes on to ours. */
function countMarkCompacts(stderr: NodeJS.ReadableStream | null): () => number {
  let count = 0;
  let partial = "";
  stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line === MARK_COMPACT_LINE) count++;
      else process.stderr.write(`${line}\n`);
    }
  });
  return () => count;
}

function whenExited(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve) => child.once("exit", resolve));
}

/**
 * `flock relay start`, as a data plane is run; `kernelSplice` false sets FLOCK_NATIVE_SPLICE=0,
 * `nodeArgs` are Node flags of the variant's own.
 */
export async function startFlockRelay(
  kernelSplice: boolean,
  certs: { relayCaPem: string; certPem: string; keyPem: string },
  nodeArgs: string[],
  profileDir?: string,
): Promise<Relay> {
  const relay = await startRelayProcess({
    certs,
    nodeArgs: nodeFlags(nodeArgs, profileDir),
    env: { FLOCK_NATIVE_SPLICE: kernelSplice ? "1" : "0" },
    stderr: "pipe",
  });
  return {
    pid: relay.child.pid as number,
    port: relay.port,
    splice: relay.splice,
    markCompacts: countMarkCompacts(relay.child.stderr),
    stop: relay.stop,
  };
}

const CHILD = fileURLToPath(new URL("./children.ts", import.meta.url));

/** `profileDir` runs the child with --cpu-prof, the profile written there when it stops. */
export async function startChild(start: ChildStart, nodeArgs: string[], profileDir?: string): Promise<Relay> {
  const execArgv = ["--import", "tsx", ...nodeFlags(nodeArgs, profileDir)];
  const child = fork(CHILD, [], { execArgv, stdio: ["ignore", "inherit", "pipe", "ipc"] });
  const markCompacts = countMarkCompacts(child.stderr);
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    child.once("message", (message: ChildReady) => resolve(message));
    child.once("exit", (code) => reject(new Error(`${start.kind} relay exited (${code}) before listening`)));
    child.send(start);
  });
  const exited = whenExited(child);
  return {
    pid: child.pid as number,
    ...ready,
    markCompacts,
    stop: async () => {
      child.send("exit");
      await exited;
    },
  };
}

/** haproxy's version line, or undefined when it is not installed. */
export function haproxyVersion(): string | undefined {
  try {
    return execFileSync("haproxy", ["-v"], { encoding: "utf8" }).split("\n")[0];
  } catch {
    return undefined;
  }
}

export type HaproxyMode = "tcp" | "tcp-splice" | "tls";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Waits for a listener on 127.0.0.1:port, read from /proc/net/tcp: a probe connection
 * would make haproxy dial the receiver, and that stray connection would be taken for a pair's.
 */
async function untilListening(port: number): Promise<void> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const LISTEN = "0A";
  for (;;) {
    const lines = readFileSync("/proc/net/tcp", "utf8").split("\n");
    if (
      lines.some((line) => line.trim().split(/\s+/)[1] === local && line.trim().split(/\s+/)[3] === LISTEN)
    ) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * haproxy with one thread, tcp mode. "tcp" is its default (recv/send through its
 * buffers), "tcp-splice" turns its own kernel splicing on, "tls" terminates TLS on both
 * legs as the Flock tls transport does.
 */
export async function startHaproxy(
  mode: HaproxyMode,
  upstreamPort: number,
  tls: { certPem: string; keyPem: string },
): Promise<Relay> {
  const dir = mkdtempSync(join(tmpdir(), "flock-bench-haproxy-"));
  const pem = join(dir, "relay.pem");
  writeFileSync(pem, `${tls.certPem}\n${tls.keyPem}`, { mode: 0o600 });
  const port = await freePort();
  const config = [
    "global",
    "  nbthread 1",
    "  maxconn 1000",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 300s",
    "  timeout server 300s",
    ...(mode === "tcp-splice" ? ["  option splice-auto"] : []),
    "frontend in",
    `  bind 127.0.0.1:${port}${mode === "tls" ? ` ssl crt ${pem}` : ""}`,
    "  default_backend out",
    "backend out",
    `  server receiver 127.0.0.1:${upstreamPort}${mode === "tls" ? " ssl verify none" : ""}`,
    "",
  ].join("\n");
  writeFileSync(join(dir, "haproxy.cfg"), config);
  const child = spawn("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  await untilListening(port);
  return {
    pid: child.pid as number,
    port,
    stop: async () => {
      const exited = whenExited(child);
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
