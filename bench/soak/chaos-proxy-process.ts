/**
 * The chaos proxy in a process of its own, so forwarding every byte once more costs the soak
 * a core's share, not a slice of the event loop that runs the parties. Driven over IPC by
 * chaos-proxy-client.ts.
 */
import { ChaosProxy, type CutKind } from "./chaos-proxy.ts";
import { seededRandom } from "./seeded-random.ts";

export type ProxyCommand =
  | { id: number; op: "listen"; name: string; port: number; target: number }
  | { id: number; op: "retarget"; name: string; target: number }
  | { id: number; op: "cut"; kind: CutKind; minBytes: number; waitMs: number }
  | { id: number; op: "close" };

export interface ProxyAnswer {
  id: number;
  value?: number | boolean;
  error?: string;
}

const proxy = new ChaosProxy();
const random = seededRandom(Number(process.env.FLOCK_SOAK_PROXY_SEED ?? 1));

async function run(command: ProxyCommand): Promise<number | boolean | undefined> {
  switch (command.op) {
    case "listen":
      return proxy.listen(command.name, command.port, command.target);
    case "retarget":
      proxy.retarget(command.name, command.target);
      return undefined;
    case "cut":
      return proxy.cut({ kind: command.kind, minBytes: command.minBytes, waitMs: command.waitMs, random });
    case "close":
      await proxy.close();
      return undefined;
  }
}

process.on("message", (command: ProxyCommand) => {
  run(command).then(
    (value) => {
      process.send?.({ id: command.id, ...(value === undefined ? {} : { value }) } satisfies ProxyAnswer);
      if (command.op === "close") process.disconnect();
    },
    (error: unknown) =>
      process.send?.({ id: command.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
process.send?.({ id: 0 } satisfies ProxyAnswer);
