import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import { WebSocketServer } from "ws";
import type { DataPlaneConfig } from "../config.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import type { WorkerLink } from "../worker-link/worker-link.ts";
import type { HandshakeContext } from "./handshake.ts";
import { RelayCertificateChecker } from "./party-proof.ts";
import { TicketVerifier } from "./ticket-verifier.ts";

/**
 * What every handshake of this data plane shares: its TLS context (relay server
 * certificate), one WebSocket server for upgrades, and the authority that checks tickets,
 * proofs and revocations against what the worker link learned.
 */
export function handshakeContext(
  config: DataPlaneConfig,
  parts: { link: WorkerLink; metrics: DataPlaneMetrics; logger: Logger; isAdmitting(): boolean },
): HandshakeContext {
  const { limits } = config;
  return {
    ...limits,
    relayName: config.name,
    secureContext: createSecureContext({ cert: config.certPem, key: config.keyPem, ca: config.relayCaPem }),
    wss: new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: limits.maxWsMessageBytes,
    }),
    authority: {
      checker: new RelayCertificateChecker(config.relayCaPem),
      tickets: new TicketVerifier(config.name, parts.link.jwks),
      revocations: parts.link.revocations,
    },
    metrics: parts.metrics,
    logger: parts.logger,
    isAdmitting: parts.isAdmitting,
  };
}
