import type { Server as HttpServer } from "node:http";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import { WebSocketServer } from "ws";
import { encodeFrame } from "../protocol/frames.ts";
import type { Authority } from "./authenticate.ts";
import type { DataPlaneConfig, DataPlaneConfigInput } from "./config.ts";
import { DRAIN_DEADLINE_MS, validateConfig } from "./config.ts";
import { Connection, pairUp } from "./connection.ts";
import { JwksCache } from "./jwks-cache.ts";
import { DataPlaneMetrics } from "./metrics.ts";
import { Pairing } from "./pairing.ts";
import { RelayCertificateChecker } from "./party-proof.ts";
import { loadRevocationState, saveRevocationState } from "./revocation-state.ts";
import { Revocations } from "./revocations.ts";
import type { Splice } from "./splice.ts";
import { Tally } from "./tally.ts";
import { TicketVerifier } from "./ticket-verifier.ts";
import { WorkerReporter } from "./worker-reporter.ts";

export interface DataPlane {
  readonly name: string;
  readonly port: number;
  /** null when metrics are off. */
  readonly metricsPort: number | null;
  readonly metrics: DataPlaneMetrics;
  /** Stop accepting, answer DRAINING to new hellos, let pairs run up to the deadline, then stop. */
  drain(deadlineMs?: number): Promise<void>;
  /** Closes everything now. */
  stop(): Promise<void>;
  /**
   * Settles when the worker refuses this data plane's report as revoked; by then it has
   * stopped (waiting sides got DRAINING, so their SDK fetches a ticket for another relay).
   */
  readonly revoked: Promise<void>;
  /** Sends a load report now and applies (and saves) the answer (also runs on its own every interval). */
  reportNow(): Promise<void>;
  activePairs(): number;
  waitingSides(): number;
  /** Connections held, in any state (handshaking, waiting, spliced, lingering after an ERROR). */
  openConnections(): number;
}

function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startDataPlane(input: DataPlaneConfigInput | DataPlaneConfig): Promise<DataPlane> {
  const config = validateConfig(input);
  const { limits } = config;
  const logger: Logger = config.logger.child({ relay: config.name });

  const jwks = new JwksCache({
    jwksUrl: `${config.workerUrl}/.well-known/jwks.json`,
    refetchMinIntervalMs: limits.jwksRefetchMinIntervalMs,
    requestTimeoutMs: limits.workerRequestTimeoutMs,
    logger,
  });
  void jwks.refresh();
  const revocations = new Revocations();
  if (config.stateFile !== null) {
    try {
      const saved = await loadRevocationState(config.stateFile);
      if (saved) revocations.replace(saved);
    } catch (error) {
      // Unknown rather than empty: direct mode waits for the first report.
      logger.warn(
        { err: (error as Error).message, stateFile: config.stateFile },
        "revocation state unreadable",
      );
    }
  }
  let saving = Promise.resolve();
  const saveRevocations = (stateFile: string) => {
    const list = revocations.list();
    saving = saving
      .then(() => saveRevocationState(stateFile, list))
      .catch((error: unknown) =>
        logger.warn({ err: (error as Error).message, stateFile }, "could not save the revocation state"),
      );
  };
  const authority: Authority = {
    checker: new RelayCertificateChecker(config.relayCaPem),
    tickets: new TicketVerifier(config.name, jwks),
    revocations,
  };

  const connections = new Set<Connection>();
  const splices = new Set<Splice>();
  const sidesOf = new Map<Splice, readonly [Connection, Connection]>();
  /** Pairs stopped because a side's party was revoked, so their end is counted as "revoked". */
  const revokedSplices = new Set<Splice>();
  /** Closes what newly revoked parties hold: refusing new hellos alone would leave them connected. */
  const cutOffRevoked = (fingerprints: string[]) => {
    if (fingerprints.length === 0) return;
    const revoked = new Set(fingerprints);
    const isRevoked = (side: Connection) => revoked.has(side.thumbprint);
    pairing.failWaiting(isRevoked, "PARTY_REVOKED", "revoked");
    for (const [splice, sides] of sidesOf) {
      if (!sides.some(isRevoked)) continue;
      revokedSplices.add(splice);
      splice.stop("stopped");
    }
  };
  let endedBytes = 0;
  let draining = false;
  const pairing: Pairing<Connection> = new Pairing<Connection>({
    pairingTimeoutMs: limits.pairingTimeoutMs,
    maxPairs: limits.maxPairs,
    maxWaitingPerParty: limits.maxWaitingPerParty,
    maxPairsPerUser: limits.maxPairsPerUser,
    onPaired: (waiting, arriving, waitedMs) => {
      metrics.pairsTotal.inc();
      metrics.pairingSeconds.observe(waitedMs / 1000);
      pairUp(waiting, arriving, host);
    },
    onSideEnded: (side, reason) => {
      metrics.pairEnded(reason);
      side.log.info({ reason }, "side ended unpaired");
    },
  });
  const metrics = new DataPlaneMetrics({
    activePairs: () => pairing.active,
    waitingSides: () => pairing.waiting,
    openConnections: () => connections.size,
  });

  const host = {
    relayName: config.name,
    limits,
    secureContext: createSecureContext({ cert: config.certPem, key: config.keyPem, ca: config.relayCaPem }),
    wss: new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: limits.maxWsMessageBytes,
    }),
    authority,
    pairing,
    metrics,
    logger,
    isDraining: () => draining,
    adoptSplice(splice: Splice, waiting: Connection, arriving: Connection) {
      const log = waiting.log;
      splices.add(splice);
      sidesOf.set(splice, [waiting, arriving]);
      void splice.done.then((result) => {
        splices.delete(splice);
        sidesOf.delete(splice);
        pairing.pairEnded(waiting);
        endedBytes += result.aToB + result.bToA;
        metrics.bytes.inc(result.aToB + result.bToA);
        const reason = revokedSplices.delete(splice) ? "revoked" : result.reason;
        metrics.pairEnded(reason);
        log.info({ ...result, reason }, "pair ended");
      });
    },
    forget(connection: Connection) {
      connections.delete(connection);
    },
    handshakeEnded(connection: Connection) {
      handshakingByIp.add(connection.remoteAddress, -1);
      handshakingTotal--;
    },
  };

  // Before authentication a connection costs memory (TLS, buffers) for nothing proven; capped.
  const handshakingByIp = new Tally();
  let handshakingTotal = 0;
  const refusedEarly = new Set<Socket>();
  const refuseEarly = (socket: Socket, message: string) => {
    metrics.errors.inc({ code: "OVER_CAPACITY" });
    refusedEarly.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(linger);
      refusedEarly.delete(socket);
    });
    // Read and drop what the client sends, so closing does not RST the frame away.
    socket.resume();
    socket.end(encodeFrame({ type: "error", code: "OVER_CAPACITY", message }));
    const linger = setTimeout(() => socket.destroy(), limits.errorLingerMs);
  };

  // allowHalfOpen: a side that ends its writing half still receives; splice passes the end on.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    const address = socket.remoteAddress ?? "unknown";
    if (handshakingTotal >= limits.maxHandshakingConnections) {
      refuseEarly(socket, "The data plane has too many connections still in their handshake; retry shortly.");
      return;
    }
    if (handshakingByIp.get(address) >= limits.maxHandshakingPerIp) {
      refuseEarly(socket, "This address has too many connections still in their handshake; retry shortly.");
      return;
    }
    handshakingTotal++;
    handshakingByIp.add(address, 1);
    const connection = new Connection(socket, host);
    connections.add(connection);
    connection.start();
  });
  const port = await listen(server, config.port, config.host);

  let metricsServer: HttpServer | undefined;
  let metricsPort: number | null = null;
  if (config.metricsPort !== null) {
    metricsServer = createHttpServer((req, res) => {
      if (req.method === "GET" && req.url === "/metrics") {
        metrics.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
      } else {
        res.writeHead(404, { "content-type": "text/plain" }).end("Metrics are at /metrics.\n");
      }
    });
    metricsPort = await listen(metricsServer, config.metricsPort, config.metricsHost);
  }

  let markRevoked!: () => void;
  const revoked = new Promise<void>((resolve) => {
    markRevoked = resolve;
  });
  const splicedBytes = () => endedBytes + [...splices].reduce((sum, s) => sum + s.bytes(), 0);
  const reporter = new WorkerReporter({
    workerUrl: config.workerUrl,
    certPem: config.certPem,
    keyPem: config.keyPem,
    requestTimeoutMs: limits.workerRequestTimeoutMs,
    logger,
    load: () => ({
      activePairs: pairing.active,
      waitingSides: pairing.waiting,
      splicedBytes: splicedBytes(),
      capacity: draining ? 0 : limits.maxPairs,
    }),
    apply: (answer) => {
      const wasKnown = revocations.known;
      const before = revocations.size;
      const added = revocations.replace(answer.revokedFingerprints);
      cutOffRevoked(added);
      const changed = !wasKnown || added.length > 0 || revocations.size !== before;
      if (changed && config.stateFile !== null) saveRevocations(config.stateFile);
      jwks.setPublishedKids(answer.ticketKids);
    },
    revoked: () => {
      // A revoked relay may be a compromised one: end its pairs too, as party revocation does.
      logger.error("the worker has revoked this data plane; stopping");
      void stop().then(markRevoked);
    },
  });
  if (config.reportIntervalMs !== null) reporter.start(config.reportIntervalMs);

  logger.info({ port, metricsPort, host: config.host }, "data plane listening");

  const closeListeners = () => {
    if (server.listening) server.close();
  };

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      draining = true;
      reporter.stop();
      closeListeners();
      pairing.failAllWaiting("DRAINING", "stopped");
      for (const splice of splices) splice.stop("stopped");
      for (const connection of connections) connection.destroy();
      for (const socket of refusedEarly) socket.destroy();
      host.wss.close();
      await saving;
      if (metricsServer) {
        const closed = new Promise<void>((resolve) => metricsServer?.close(() => resolve()));
        // Scrapers keep connections alive; close() alone would wait for them to time out.
        metricsServer.closeAllConnections();
        await closed;
      }
      logger.info("data plane stopped");
    })();
    return stopped;
  };

  const drain = async (deadlineMs = DRAIN_DEADLINE_MS) => {
    draining = true;
    closeListeners();
    pairing.failAllWaiting("DRAINING", "drained");
    logger.info({ activePairs: splices.size, deadlineMs }, "draining");
    void reporter.reportNow();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
    await Promise.race([Promise.all([...splices].map((s) => s.done)), deadline]);
    for (const splice of splices) splice.stop("drained");
  };

  return {
    name: config.name,
    port,
    metricsPort,
    metrics,
    drain,
    stop,
    revoked,
    reportNow: async () => {
      await reporter.reportNow();
      await saving;
    },
    activePairs: () => pairing.active,
    waitingSides: () => pairing.waiting,
    openConnections: () => connections.size,
  };
}
