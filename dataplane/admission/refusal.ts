import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { FlockError } from "../../protocol/errors.ts";
import { encodeFrame } from "../../protocol/frames.ts";
import type { Connection } from "../connection.ts";
import type { DataPlaneMetrics } from "../metrics.ts";
import { ConnectionGone } from "./read-until.ts";
import { writeHttpRefusal } from "./websocket-upgrade.ts";

/**
 * Where a refusal can still be said, given how far the handshake got: an ERROR frame on a
 * byte stream, an HTTP answer before a WebSocket exists, or nothing at all mid-TLS-handshake.
 */
export type RefusalLayer =
  | { speaks: "frames"; stream: Duplex }
  | { speaks: "http"; socket: Duplex }
  | { speaks: "nothing" };

/** A handshake step failed: what to tell the party, and the layer it can be told on. */
export class Refusal extends Error {
  readonly error: FlockError;
  readonly layer: RefusalLayer;
  constructor(cause: unknown, layer: RefusalLayer) {
    const error = cause instanceof FlockError ? cause : new FlockError("INTERNAL", undefined, { cause });
    super(error.message, { cause });
    this.name = "Refusal";
    this.error = error;
    this.layer = layer;
  }

  /** True when the cause was no FlockError: a bug, logged as one. */
  get isBug(): boolean {
    return !(this.cause instanceof FlockError);
  }
}

export interface RefusalContext {
  connection: Connection;
  metrics: DataPlaneMetrics;
  log: Logger;
  /** How long input is still drained after the answer; see `tell`. */
  errorLingerMs: number;
  transport: string;
}

/** Counts, logs (once, with the connection id) and answers a refusal, then lets the connection go. */
export function refuse(refusal: Refusal, context: RefusalContext): void {
  const { metrics, log } = context;
  const { code } = refusal.error;
  if (refusal.isBug) log.error({ err: refusal.cause }, "handshake bug");
  metrics.errors.inc({ code });
  log.info({ code, transport: context.transport }, "refused");
  tell(refusal, context);
}

/**
 * The answer, then an end. The relay keeps draining input for errorLingerMs: closing a
 * socket with unread bytes makes the kernel send a RST, which can destroy the answer
 * before the client reads it.
 */
function tell({ error, layer }: Refusal, { connection, errorLingerMs }: RefusalContext): void {
  if (layer.speaks === "nothing") {
    connection.destroy();
    return;
  }
  const stream = layer.speaks === "frames" ? layer.stream : layer.socket;
  stream.removeAllListeners("readable");
  stream.resume();
  const linger = setTimeout(() => connection.destroy(), errorLingerMs);
  connection.onClose(() => clearTimeout(linger));
  if (layer.speaks === "frames") {
    stream.end(encodeFrame({ type: "error", code: error.code, message: error.message }));
  } else {
    writeHttpRefusal(stream, error);
  }
}

/** Runs one handshake step; whatever it throws becomes a Refusal told on `layer`. */
export async function at<T>(layer: RefusalLayer, step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (error) {
    if (error instanceof Refusal || error instanceof ConnectionGone) throw error;
    throw new Refusal(error, layer);
  }
}
