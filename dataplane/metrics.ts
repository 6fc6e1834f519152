import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { PairEndReason } from "./pairs/pairing.ts";

/** Label for refusals that happen below the Flock protocol (no ERROR frame is possible). */
export const TLS_HANDSHAKE_FAILED = "TLS_HANDSHAKE_FAILED";
/** Label for handshakes let go to make room in a full pool (HandshakeGate); no frame is sent. */
export const HANDSHAKE_EVICTED = "HANDSHAKE_EVICTED";

/**
 * Prometheus metrics of one data plane, in its own registry so several data planes in one
 * process (tests, benches) never share counters.
 */
export class DataPlaneMetrics {
  readonly registry = new Registry();
  readonly connections = new Counter({
    name: "flock_dataplane_connections_total",
    help: "Connections that reached the Flock handshake, by transport (tcp, tls, ws, wss).",
    labelNames: ["transport"],
    registers: [this.registry],
  });
  readonly pairsTotal = new Counter({
    name: "flock_dataplane_pairs_total",
    help: "Pairs formed.",
    registers: [this.registry],
  });
  readonly pairingSeconds = new Histogram({
    name: "flock_dataplane_pairing_seconds",
    help: "How long the first side of a pair waited for the second.",
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 15, 30, 60],
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: "flock_dataplane_bytes_total",
    help: "Bytes spliced between paired sides (both directions), counted when a pair ends.",
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: "flock_dataplane_errors_total",
    help: "Connections refused, by error code sent in the ERROR frame.",
    labelNames: ["code"],
    registers: [this.registry],
  });
  readonly pairEnds = new Counter({
    name: "flock_dataplane_pair_ends_total",
    help: "Pairs and waiting sides that ended, by reason.",
    labelNames: ["reason"],
    registers: [this.registry],
  });

  readonly splicePath = new Gauge({
    name: "flock_dataplane_splice_path",
    help: "1 for how plain-TCP pairs are spliced, chosen at start: kernel (splice(2)) or js.",
    labelNames: ["path"],
    registers: [this.registry],
  });

  /** Registers the gauges, read from the data plane's parts at each scrape. */
  observe(state: { activePairs(): number; waitingSides(): number; openConnections(): number }): void {
    new Gauge({
      name: "flock_dataplane_connections_open",
      help: "Connections held in any state: handshaking, waiting, spliced, or lingering after an ERROR. A kernel-spliced pair's sockets belong to the splice thread and count in pairs_active only.",
      registers: [this.registry],
      collect() {
        this.set(state.openConnections());
      },
    });
    new Gauge({
      name: "flock_dataplane_pairs_active",
      help: "Pairs currently spliced.",
      registers: [this.registry],
      collect() {
        this.set(state.activePairs());
      },
    });
    new Gauge({
      name: "flock_dataplane_sides_waiting",
      help: "Authenticated sides waiting for their peer.",
      registers: [this.registry],
      collect() {
        this.set(state.waitingSides());
      },
    });
  }

  pairEnded(reason: PairEndReason): void {
    this.pairEnds.inc({ reason });
  }
}
