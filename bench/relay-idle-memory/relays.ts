/**
 * The relays bench/relay-idle-memory.ts fills with idle pairs, and how a party process dials
 * a pair through each: the data plane (direct mode, no worker), and its yardstick, a bare
 * Node relay with nothing of Flock in it. Each two connections that arrive in a row are joined with pipe().
 * On tls it terminates TLS as the data plane does (one secure context for every connection,
 * the relay certificate, a client certificate requested and not checked by OpenSSL), so what
 * the data plane holds beyond it is Flock's own.
 */
import type { AddressInfo } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { createSecureContext, TLSSocket, connect as tlsConnect } from "node:tls";

export type Transport = "tcp" | "tls";

/** The data plane, or the bare Node relay beside it. */
export interface Variant {
  name: string;
  relay: "flock" | "bare";
  transport: Transport;
  kernelSplice: boolean;
}

export interface Certs {
  relayCaPem: string;
  relay: { certPem: string; keyPem: string };
  a: { certPem: string; keyPem: string; thumbprint: string };
  b: { certPem: string; keyPem: string; thumbprint: string };
}

export interface DialMessage {
  certs: Certs;
  port: number;
  variant: Variant;
}

/** What a dialed connection writes, and waits to get from its partner: the pair is up then. */
const HELLO = Buffer.from("bare relay pair\n");

export interface IdleRelay {
  port: number;
  /** Pairs joined so far. */
  pairs(): number;
}

async function startBareRelay(transport: Transport, certs: Certs): Promise<IdleRelay> {
  const secureContext = createSecureContext({
    cert: certs.relay.certPem,
    key: certs.relay.keyPem,
    ca: certs.relayCaPem,
  });
  let first: Duplex | undefined;
  let pairs = 0;
  const join = (stream: Duplex) => {
    stream.on("error", () => stream.destroy());
    if (first === undefined) {
      first = stream;
      return;
    }
    const other = first;
    first = undefined;
    pairs++;
    stream.pipe(other);
    other.pipe(stream);
  };
  const server = createServer((socket) => {
    if (transport === "tcp") return join(socket);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext,
      requestCert: true,
      rejectUnauthorized: false,
    });
    tls.on("error", () => tls.destroy());
    tls.once("secure", () => join(tls));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, pairs: () => pairs };
}

/**
 * One connection to the bare relay, with a party's relay certificate on tls; resolves with
 * it once the bytes of whichever connection it was joined with have arrived.
 */
async function dialBare(
  transport: Transport,
  port: number,
  relayCaPem: string,
  identity: { certPem: string; keyPem: string },
): Promise<Duplex> {
  const stream: Duplex =
    transport === "tcp"
      ? netConnect({ host: "127.0.0.1", port })
      : tlsConnect({
          host: "127.0.0.1",
          port,
          ca: relayCaPem,
          servername: "localhost",
          cert: identity.certPem,
          key: identity.keyPem,
        });
  // Errors after the pair is up (the bench kills the relay at the end) are nobody's concern.
  let fail: (error: Error) => void = () => {};
  stream.on("error", (error) => fail(error));
  await new Promise((resolve, reject) => {
    fail = reject;
    stream.once(transport === "tcp" ? "connect" : "secureConnect", resolve);
  });
  stream.write(HELLO);
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    fail = reject;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got < HELLO.length) return;
      stream.off("data", onData);
      stream.pause();
      resolve();
    };
    stream.on("data", onData);
  });
  fail = () => {};
  return stream;
}

export function startIdleRelay(variant: Variant, certs: Certs): Promise<IdleRelay> {
  return variant.relay === "bare"
    ? startBareRelay(variant.transport, certs)
    : startFlockRelay(certs, variant.kernelSplice);
}

/** The data plane in direct mode, which needs no worker. */
async function startFlockRelay(certs: Certs, kernelSplice: boolean): Promise<IdleRelay> {
  const { default: pino } = await import("pino");
  const { startDataPlane } = await import("../../dataplane/server.ts");
  const { saveRevocationState } = await import("../../dataplane/worker-link/revocation-state.ts");
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
    kernelSplice,
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
  return { port: dataPlane.port, pairs: () => dataPlane.activePairs() };
}

/** Both sides of one pair, through the data plane (direct mode, tag `t<index>`) or the bare relay. */
export async function dialPair(message: DialMessage, index: number): Promise<unknown> {
  const { certs, port, variant } = message;
  const { transport } = variant;
  if (variant.relay === "bare")
    return Promise.all([certs.a, certs.b].map((id) => dialBare(transport, port, certs.relayCaPem, id)));
  const { TestParty } = await import("../../test/helpers/dataplane-client.ts");
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
      await party.sendDirect(dest, `t${index}`, transport === "tls" ? undefined : identity);
      return party;
    }),
  );
  await Promise.all(parties.map((p) => p.paired()));
  return parties;
}
