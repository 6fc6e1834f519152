/** Starts chaos-proxy-process.ts and talks to it: one promise per command. */
import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import type { CutKind } from "./chaos-proxy.ts";
import type { ProxyAnswer, ProxyCommand } from "./chaos-proxy-process.ts";

type Without<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export class ChaosProxyClient {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (answer: ProxyAnswer) => void>();
  #next = 1;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (answer: ProxyAnswer) => {
      this.#waiting.get(answer.id)?.(answer);
      this.#waiting.delete(answer.id);
    });
  }

  static async start(seed: number): Promise<ChaosProxyClient> {
    const child = fork(new URL("./chaos-proxy-process.ts", import.meta.url), [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, FLOCK_SOAK_PROXY_SEED: String(seed) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) =>
        reject(new Error(`the chaos proxy exited with ${code} before it was ready`)),
      );
    });
    return new ChaosProxyClient(child);
  }

  listen(name: string, port: number, target: number): Promise<number> {
    return this.#send({ op: "listen", name, port, target }) as Promise<number>;
  }

  async retarget(name: string, target: number): Promise<void> {
    await this.#send({ op: "retarget", name, target });
  }

  /** True when a connection that had moved `minBytes` was cut within `waitMs`. */
  cut(kind: CutKind, minBytes: number, waitMs: number): Promise<boolean> {
    return this.#send({ op: "cut", kind, minBytes, waitMs }) as Promise<boolean>;
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || !this.#child.connected) return;
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    await this.#send({ op: "close" }).catch(() => {});
    // The proxy leaves once its listeners closed; a kill by pid makes sure of it.
    if (this.#child.exitCode === null) this.#child.kill("SIGTERM");
    await exited;
  }

  #send(command: Without<ProxyCommand, "id">): Promise<number | boolean | undefined> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, (answer) =>
        answer.error === undefined ? resolve(answer.value) : reject(new Error(answer.error)),
      );
      this.#child.send({ ...command, id });
    });
  }
}
