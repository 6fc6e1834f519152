import { createServer } from "node:net";
import { acceptConnection } from "./accept.ts";
import { handshakeContext } from "./admission/handshake-context.ts";
import { HandshakeGate } from "./admission/handshake-gate.ts";
import type { DataPlaneConfig, DataPlaneConfigInput } from "./config.ts";
import { DRAIN_DEADLINE_MS, validateConfig } from "./config.ts";
import { listen } from "./listen.ts";
import { DataPlaneMetrics } from "./metrics.ts";
import { serveMetrics } from "./metrics-server.ts";
import { chooseSplicer } from "./pairs/kernel-splice.ts";
import { Pairs } from "./pairs/pairs.ts";
import { observeV8 } from "./v8-metrics.ts";
import { WorkerLink } from "./worker-link/worker-link.ts";

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

/** Builds the data plane's parts, connects them and starts listening. The data path is in accept.ts. */
export async function startDataPlane(input: DataPlaneConfigInput | DataPlaneConfig): Promise<DataPlane> {
  const config = validateConfig(input);
  const { limits } = config;
  const logger = config.logger.child({ relay: config.name });
  const metrics = new DataPlaneMetrics();
  const gate = new HandshakeGate({ limits, metrics, logger });
  const splicing = chooseSplicer(config.kernelSplice);
  metrics.splicePath.set({ path: splicing.path }, 1);
  const pairs = new Pairs({ limits, metrics, splicer: splicing.splice, logger });
  let relayRevoked!: () => void;
  const whenRelayRevoked = new Promise<void>((resolve) => {
    relayRevoked = resolve;
  });
  const link = await WorkerLink.open({
    config,
    logger,
    load: () => ({
      activePairs: pairs.active,
      waitingSides: pairs.waiting,
      splicedBytes: pairs.splicedBytes(),
      capacity: gate.admitting ? limits.maxPairs : 0,
    }),
    onPartiesRevoked: (fingerprints) => pairs.cutOff(fingerprints),
    onRelayRevoked: () => relayRevoked(),
  });
  const handshake = handshakeContext(config, { link, metrics, logger, isAdmitting: () => gate.admitting });

  // allowHalfOpen: a side that ends its writing half still receives; splice passes the end on.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    acceptConnection(socket, { gate, handshake, pairs }).catch((error: unknown) => {
      logger.error({ err: error }, "data path bug");
      socket.destroy();
    });
  });
  const port = await listen(server, config.port, config.host);
  const metricsServer =
    config.metricsPort === null ? null : await serveMetrics(metrics, config.metricsPort, config.metricsHost);
  metrics.observe({
    activePairs: () => pairs.active,
    waitingSides: () => pairs.waiting,
    openConnections: () => gate.open,
  });
  // node's own flags, not a config field: the floor is the process's, as its collections are.
  const stopObservingV8 = observeV8(metrics.registry, process.execArgv);
  link.startReports();
  logger.info(
    {
      port,
      metricsPort: metricsServer?.port ?? null,
      host: config.host,
      splice: splicing.path,
      ...(splicing.path === "js" ? { spliceWhy: splicing.why } : {}),
    },
    "data plane listening",
  );

  const stopAdmitting = () => {
    gate.stopAdmitting();
    if (server.listening) server.close();
  };
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopAdmitting();
      pairs.failWaiting("DRAINING", "stopped");
      pairs.stopSplices("stopped");
      gate.closeAll();
      handshake.wss.close();
      stopObservingV8();
      await link.close();
      await metricsServer?.close();
      logger.info("data plane stopped");
    })();
    return stopped;
  };
  const drain = async (deadlineMs = DRAIN_DEADLINE_MS) => {
    stopAdmitting();
    pairs.failWaiting("DRAINING", "drained");
    logger.info({ activePairs: pairs.active, deadlineMs }, "draining");
    // The worker learns of the drain (capacity 0) before any pair is moved, so the tickets
    // their parties ask next name another data plane.
    await link.reportNow();
    const moved = pairs.moveResumable();
    if (moved > 0) logger.info({ moved }, "reset resumable pairs so they resume elsewhere");
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
    await Promise.race([pairs.whenSplicesEnd(), deadline]);
    pairs.stopSplices("drained");
  };
  // A revoked relay may be a compromised one: end its pairs too, as party revocation does.
  const revoked = whenRelayRevoked.then(() => {
    logger.error("the worker has revoked this data plane; stopping");
    return stop();
  });

  return {
    name: config.name,
    port,
    metricsPort: metricsServer?.port ?? null,
    metrics,
    drain,
    stop,
    revoked,
    reportNow: () => link.reportNow(),
    activePairs: () => pairs.active,
    waitingSides: () => pairs.waiting,
    openConnections: () => gate.open,
  };
}
