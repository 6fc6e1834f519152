/**
 * The soak's data planes: each runs the real `flock relay start` (the compiled CLI) in its
 * own process, behind a chaos proxy listener on the port the relay was registered with, so
 * a restart brings a new process on a new port while parties keep dialling the same address.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { get } from "node:http";
import { fileURLToPath } from "node:url";
import type { RelayInfo } from "../../protocol/api.ts";
import type { FlockSystem } from "../../test/helpers/system.ts";
import type { ChaosProxyClient } from "./chaos-proxy-client.ts";
import { type ProcessStats, processStats } from "./process-stats.ts";

const FLOCK_BIN = fileURLToPath(new URL("../../bin/flock.js", import.meta.url));
/** A graceful restart lets pairs run this long before the old process resets them. */
export const RESTART_DRAIN_DEADLINE_MS = 2_000;

export type RestartKind = "crash" | "graceful";

export interface RelayProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  metricsPort: number;
  /** Lines the data plane logged at error level or above (a bug on the data path, say). */
  errorLines: string[];
}

export interface FleetRelay {
  name: string;
  /** Registered with the worker; the proxy listens here. */
  publicPort: number;
  current: RelayProcess;
  restarts: number;
  /** The first process, measured once it has reported. */
  startStats: ProcessStats;
}

interface Listening {
  msg?: string;
  port?: number;
  metricsPort?: number;
  level?: number;
}

/** pino's numeric level for `error`. */
const PINO_ERROR_LEVEL = 50;

export interface RelaySettings {
  stateDir: string;
  helloDeadlineMs: number;
}

function startRelayProcess(
  system: FlockSystem,
  name: string,
  settings: RelaySettings,
): Promise<RelayProcess> {
  const args = [
    FLOCK_BIN,
    "relay",
    "start",
    ...["--name", name, "--certs", system.certsDir, "--url", system.url, "--state-dir", settings.stateDir],
    ...["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0"],
    ...["--hello-deadline-ms", String(settings.helloDeadlineMs)],
    ...["--drain-deadline-ms", String(RESTART_DRAIN_DEADLINE_MS), "--log-level", "info"],
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const errorLines: string[] = [];
  return new Promise((resolve, reject) => {
    let buffered = "";
    let ready = false;
    child.once("exit", (code, signal) => {
      if (!ready) reject(new Error(`relay ${name} exited (${code ?? signal}) before it listened`));
    });
    child.stdout?.setEncoding("utf8").on("data", (text: string) => {
      buffered += text;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        let entry: Listening;
        try {
          entry = JSON.parse(line) as Listening;
        } catch {
          continue;
        }
        if ((entry.level ?? 0) >= PINO_ERROR_LEVEL) errorLines.push(line);
        if (!ready && entry.msg === "data plane listening" && entry.port && entry.metricsPort) {
          ready = true;
          const pid = child.pid as number;
          resolve({ child, pid, port: entry.port, metricsPort: entry.metricsPort, errorLines });
        }
      }
    });
  });
}

async function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  await gone;
}

export class RelayFleet {
  readonly relays: FleetRelay[] = [];
  readonly #system: FlockSystem;
  readonly #proxy: ChaosProxyClient;
  readonly #settings: RelaySettings;

  private constructor(system: FlockSystem, proxy: ChaosProxyClient, settings: RelaySettings) {
    this.#system = system;
    this.#proxy = proxy;
    this.#settings = settings;
  }

  /** Registers `count` relays, starts them behind the proxy and waits until the worker sees each live. */
  static async start(
    system: FlockSystem,
    proxy: ChaosProxyClient,
    count: number,
    settings: RelaySettings,
  ): Promise<RelayFleet> {
    const fleet = new RelayFleet(system, proxy, settings);
    try {
      const registered = [];
      for (let i = 1; i <= count; i++) registered.push(await system.registerRelay(`soak-relay-${i}`));
      // Started side by side: each is a Node process start, a second or more on a loaded machine.
      const started = await Promise.allSettled(
        registered.map(async ({ name, port: publicPort }) => {
          const current = await startRelayProcess(system, name, settings);
          fleet.relays.push({ name, publicPort, current, restarts: 0, startStats: { fds: 0, rssBytes: 0 } });
          await proxy.listen(name, publicPort, current.port);
        }),
      );
      for (const s of started) if (s.status === "rejected") throw s.reason;
      fleet.relays.sort((a, b) => (a.name < b.name ? -1 : 1));
      await fleet.untilLive(fleet.relays.map((r) => r.name));
      for (const relay of fleet.relays) relay.startStats = await processStats(relay.current.pid);
    } catch (error) {
      await fleet.stop();
      throw error;
    }
    return fleet;
  }

  /**
   * A crash is SIGKILL: the kernel closes every socket (a FIN, or a RST where bytes were
   * unread). A graceful restart is SIGTERM: the data plane drains for
   * RESTART_DRAIN_DEADLINE_MS and resets what is left. The new process takes a new port.
   */
  async restart(relay: FleetRelay, kind: RestartKind): Promise<void> {
    await exited(relay.current.child, kind === "crash" ? "SIGKILL" : "SIGTERM");
    const next = await startRelayProcess(this.#system, relay.name, this.#settings);
    const errors = relay.current.errorLines;
    next.errorLines.unshift(...errors);
    relay.current = next;
    relay.restarts++;
    await this.#proxy.retarget(relay.name, next.port);
  }

  /** One sample of a gauge or counter (no labels) from the relay's /metrics. */
  async metric(relay: FleetRelay, name: string): Promise<number> {
    const text = await new Promise<string>((resolve, reject) => {
      get({ host: "127.0.0.1", port: relay.current.metricsPort, path: "/metrics" }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          body += c;
        });
        res.once("end", () => resolve(body));
      }).once("error", reject);
    });
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return Number(line?.split(" ")[1] ?? Number.NaN);
  }

  stats(relay: FleetRelay): Promise<ProcessStats> {
    return processStats(relay.current.pid);
  }

  async untilLive(names: string[]): Promise<void> {
    for (;;) {
      const rows = await this.#system.admin.listAll<RelayInfo>("/v1/relays");
      if (names.every((n) => rows.some((r) => r.name === n && r.live))) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.relays.map((r) => exited(r.current.child, "SIGTERM")));
  }
}
