import { FlockError } from "../protocol/errors.ts";

/**
 * How long the peer side may send nothing while a connection is set up, from PAIRED to the end
 * of the OPEN or RESUME exchange (docs/sdk.md "Setup silence"). The longest quiet spell of a
 * live peer there is its own revocation-list request after PAIRED (REVOCATION_REQUEST_TIMEOUT_MS,
 * 5 s) before its first TLS flight; twice that leaves room for a loaded machine. A relay that
 * pairs and then forwards nothing costs this much of the connect deadline, not all of it.
 */
export const PEER_SETUP_SILENCE_MS = 10_000;

/**
 * Watches one connection's setup for silence: `heard` counts the bytes that came from the relay
 * stream (its `bytesRead`), so a slow handshake that keeps sending passes however long it takes;
 * only `silenceMs` with nothing at all ends it. Each step that waits for the peer (the
 * end-to-end TLS and its verdicts, the OPEN or RESUME exchange) registers with `whileWaiting`,
 * and fails through its own path, destroying its socket, with PEER_SILENT; `onExpired` runs
 * first. Stopped once the setup is over, either way.
 */
export class SetupSilence {
  readonly #heard: () => number;
  readonly #onExpired: () => void;
  readonly #silenceMs: number;
  readonly #tickMs: number;
  readonly #ticker: NodeJS.Timeout;
  #count: number;
  #lastHeard = Date.now();
  #lastTick = Date.now();
  #expired: FlockError | undefined;
  #waiting: ((error: FlockError) => void) | undefined;

  constructor(heard: () => number, silenceMs: number, onExpired: () => void = () => {}) {
    this.#heard = heard;
    this.#onExpired = onExpired;
    this.#silenceMs = silenceMs;
    this.#count = heard();
    this.#tickMs = Math.max(1, silenceMs / 4);
    this.#ticker = setInterval(() => this.#tick(), this.#tickMs).unref();
  }

  /**
   * `onSilent` runs once the silence is over the bound (on the next tick if it is already);
   * the function returned withdraws it, and must be called when the step ends either way.
   */
  whileWaiting(onSilent: (error: FlockError) => void): () => void {
    this.#waiting = onSilent;
    const expired = this.#expired;
    if (expired) process.nextTick(() => this.#waiting === onSilent && this.#fire(expired));
    return () => {
      if (this.#waiting === onSilent) this.#waiting = undefined;
    };
  }

  stop(): void {
    clearInterval(this.#ticker);
    this.#waiting = undefined;
  }

  #tick(): void {
    const now = Date.now();
    const count = this.#heard();
    // A late tick means this process was busy, not that the peer was silent: the bytes may
    // be waiting in the kernel for this process to read them.
    const late = now - this.#lastTick > 2 * this.#tickMs;
    this.#lastTick = now;
    if (count !== this.#count || late) {
      this.#count = count;
      this.#lastHeard = now;
      return;
    }
    if (now - this.#lastHeard < this.#silenceMs) return;
    clearInterval(this.#ticker);
    this.#expired = new FlockError(
      "PEER_SILENT",
      `Nothing came from the peer for ${this.#silenceMs} ms while the end-to-end channel was set up: the relay or the path stalled.`,
    );
    this.#onExpired();
    this.#fire(this.#expired);
  }

  #fire(error: FlockError): void {
    const onSilent = this.#waiting;
    this.#waiting = undefined;
    onSilent?.(error);
  }
}
