/**
 * The endpoints of bench stream's throughput rounds, in a child process of their own: the
 * bench process also runs the test system (the worker's miniflare and more, about 50 MB of
 * heap), and once V8 starts major collections there each one marks all of it, a cost no
 * application pays for its streams and one that landed on whichever variant first pushed
 * external memory past V8's limit. Here the heap holds the SDK and the pair only.
 *
 * `startEndpoints()` forks this module; each `pump` opens a pair (direct loopback TLS, or
 * through the relay with `openChannel`), moves `bytes` with pumpBytes and closes it.
 */
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import type { StreamOptions } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { FramedStream } from "../../client/stream/framed-stream.ts";
import { streamLimits } from "../../client/stream/stream-limits.ts";
import type { Pumped } from "./byte-pump.ts";
import { pumpBytes, writePool } from "./byte-pump.ts";
import { forkServing, serveRequests } from "./child-requests.ts";
import { directPair } from "./direct-pair.ts";

export const VARIANTS = {
  raw: { framing: false },
  framed: {},
  "framed-zero-copy": { zeroCopyWrites: true },
} satisfies Record<string, StreamOptions>;
export type Variant = keyof typeof VARIANTS;
export type EndpointPath = "direct" | "tcp";

interface PumpRequest {
  path: EndpointPath;
  variant: Variant;
  bytes: number;
  alice: IdentityMaterials;
  bob: IdentityMaterials;
}

interface OpenPair {
  from: Duplex;
  to: Duplex;
  close: () => void;
}

let channels = 0;

/** Through a data plane, as deployed. */
async function throughRelay(request: PumpRequest): Promise<OpenPair> {
  const channel = `bench-endpoints-${process.pid}-${++channels}`;
  const stream = VARIANTS[request.variant];
  const [a, b] = await Promise.all(
    [request.alice, request.bob].map((identity) => openChannel({ identity, channel, stream })),
  );
  const close = () => {
    a?.socket.destroy();
    b?.socket.destroy();
  };
  return { from: (a as { socket: Duplex }).socket, to: (b as { socket: Duplex }).socket, close };
}

/** One loopback connection and no relay: the framed streams start straight after the mTLS (no OPEN). */
async function direct(request: PumpRequest): Promise<OpenPair> {
  const { a, b, close } = await directPair("acme", request.alice, request.bob);
  const { framing = true, resume: _resume, ...options } = VARIANTS[request.variant] as StreamOptions;
  if (!framing) return { from: a, to: b, close };
  const limits = streamLimits(options);
  const from = new FramedStream(a, { limits, peerWindow: limits.windowBytes });
  const to = new FramedStream(b, { limits, peerWindow: limits.windowBytes });
  return {
    from,
    to,
    close: () => {
      from.destroy();
      to.destroy();
      close();
    },
  };
}

function serve(): void {
  const pool = writePool();
  serveRequests(async (request: PumpRequest) => {
    const { from, to, close } = await (request.path === "direct" ? direct(request) : throughRelay(request));
    try {
      return await pumpBytes(from, to, request.bytes, pool);
    } finally {
      close();
    }
  });
}

export interface Endpoints {
  pump(path: EndpointPath, variant: Variant, bytes: number): Promise<Pumped>;
  stop(): void;
}

/** Forks the endpoint process for the pair of `alice` and `bob`; `stop` ends it (by its pid). */
export async function startEndpoints(alice: IdentityMaterials, bob: IdentityMaterials): Promise<Endpoints> {
  const child = await forkServing<PumpRequest, Pumped>(
    fileURLToPath(import.meta.url),
    ["--serve"],
    "endpoint",
  );
  return {
    pump: (path, variant, bytes) => child.request({ path, variant, bytes, alice, bob }),
    stop: child.stop,
  };
}

if (process.argv.includes("--serve") && process.send) serve();
