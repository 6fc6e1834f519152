import type { StreamLimits } from "./stream-limits.ts";

/**
 * Heartbeats and the dead-path check of one stream (docs/stream.md). With nothing else sent
 * for heartbeatMs, `heartbeat` runs (the stream sends an ACK); with nothing heard for silenceMs
 * while the stream reads, `silent` runs (the stream drops the transport and resumes).
 */
export class Liveness {
  readonly #limits: StreamLimits;
  readonly #tickMs: number;
  readonly #ticker: NodeJS.Timeout;
  #lastHeard = Date.now();
  #lastSent = Date.now();
  #lastTick = Date.now();

  constructor(
    limits: StreamLimits,
    check: () => { reading: boolean; idle: boolean } | undefined,
    on: { heartbeat: () => void; silent: () => void },
  ) {
    this.#limits = limits;
    this.#tickMs = Math.max(1, Math.min(limits.heartbeatMs, limits.silenceMs / 3));
    this.#ticker = setInterval(() => {
      const state = check();
      if (state) this.#tick(state, on);
    }, this.#tickMs).unref();
  }

  heard(): void {
    this.#lastHeard = Date.now();
  }

  sent(): void {
    this.#lastSent = Date.now();
  }

  /** A new transport, or reading again after our own reader paused us: silence counts from now. */
  restart(): void {
    this.#lastHeard = Date.now();
  }

  stop(): void {
    clearInterval(this.#ticker);
  }

  #tick(state: { reading: boolean; idle: boolean }, on: { heartbeat: () => void; silent: () => void }): void {
    const now = Date.now();
    // A late tick means this process was busy, not that the peer was silent.
    const late = now - this.#lastTick > 2 * this.#tickMs;
    this.#lastTick = now;
    if (late) {
      this.#lastHeard = now;
      return;
    }
    if (state.reading && now - this.#lastHeard >= this.#limits.silenceMs) {
      on.silent();
      return;
    }
    // The heartbeat is not needed while frames are still queued to go out.
    if (state.idle && now - this.#lastSent >= this.#limits.heartbeatMs) on.heartbeat();
  }
}
