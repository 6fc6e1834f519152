/**
 * One party of a bench stream pair in a process of its own, as deployed parties are: each
 * opens its side of the channel through the data plane with `openChannel`, then the sender
 * writes `bytes` from a pool of distinct 1 MiB buffers and the receiver counts them. Each side
 * reports its own CPU per GB and the mark-compacts its V8 ran meanwhile; the receiver also the
 * throughput, from its first byte to the stream's end.
 *
 * `startParty()` forks this module; `execArgv` reaches the child's V8 (bench stream runs one
 * pair of processes with V8's defaults and one with the old generation's limit held up, see
 * docs/benchmarks.md, "Stream (wire version 2)").
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { receiveAll, writeFromPool, writePool } from "./byte-pump.ts";
import { forkServing, serveRequests } from "./child-requests.ts";
import type { Variant } from "./stream-endpoints.ts";
import { VARIANTS } from "./stream-endpoints.ts";

export type PartyRole = "send" | "receive";

interface HalfRequest {
  identity: IdentityMaterials;
  variant: Variant;
  channel: string;
  bytes: number;
}

export interface HalfPumped {
  /** 10^6 bytes per second, the receiver's first byte to its end (receiver only). */
  mbPerSecond?: number;
  cpuPerGb: number;
  userPerGb: number;
  sysPerGb: number;
  /** V8 mark-compacts in this process over the transfer, per 10^9 bytes. */
  markCompactsPerGb: number;
}

let markCompacts = 0;

function countMarkCompacts(): void {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) markCompacts++;
    }
  }).observe({ entryTypes: ["gc"] });
}

async function send(stream: Duplex, bytes: number, pool: Buffer[]): Promise<void> {
  stream.resume();
  await writeFromPool(stream, bytes, pool);
  await new Promise<void>((resolve, reject) => {
    stream.once("error", reject);
    stream.end(resolve);
  });
}

async function receive(stream: Duplex, bytes: number): Promise<number> {
  const first = await receiveAll(stream, bytes);
  return bytes / 1e6 / ((performance.now() - first) / 1000);
}

function serve(role: PartyRole): void {
  countMarkCompacts();
  const pool = role === "send" ? writePool() : [];
  serveRequests(async (request: HalfRequest): Promise<HalfPumped> => {
    const { socket } = await openChannel({
      identity: request.identity,
      channel: request.channel,
      stream: VARIANTS[request.variant],
    });
    const cpu = process.cpuUsage();
    const compactsBefore = markCompacts;
    try {
      let mbPerSecond: number | undefined;
      if (role === "receive") mbPerSecond = await receive(socket, request.bytes);
      else await send(socket, request.bytes, pool);
      const used = process.cpuUsage(cpu);
      const gb = request.bytes / 1e9;
      return {
        ...(mbPerSecond === undefined ? {} : { mbPerSecond }),
        cpuPerGb: (used.user + used.system) / 1e6 / gb,
        userPerGb: used.user / 1e6 / gb,
        sysPerGb: used.system / 1e6 / gb,
        markCompactsPerGb: (markCompacts - compactsBefore) / gb,
      };
    } finally {
      // The sender's end resolves once the peer acknowledged everything; the receiver lets
      // the last acknowledgement and CLOSE leave before it lets go.
      setTimeout(() => socket.destroy(), role === "receive" ? 200 : 0);
    }
  });
}

export interface Party {
  pump(variant: Variant, channel: string, bytes: number): Promise<HalfPumped>;
  stop(): void;
}

/** Forks a party process for `identity`; `stop` ends it (by its pid). */
export async function startParty(
  role: PartyRole,
  identity: IdentityMaterials,
  execArgv: string[] = [],
): Promise<Party> {
  const child = await forkServing<HalfRequest, HalfPumped>(
    fileURLToPath(import.meta.url),
    ["--party", role],
    `${role} party`,
    execArgv,
  );
  return {
    pump: (variant, channel, bytes) => child.request({ identity, variant, channel, bytes }),
    stop: child.stop,
  };
}

const roleAt = process.argv.indexOf("--party");
if (roleAt >= 0 && process.send) serve(process.argv[roleAt + 1] as PartyRole);
