import type { Duplex } from "node:stream";
import { badFrame } from "./control-frames.ts";
import { encodeEnd } from "./frames.ts";
import type { PeerPosition } from "./resume-within.ts";
import type { OutgoingFrame } from "./send-buffer.ts";
import { OWN_WRITE_MIN_BYTES, SendBuffer } from "./send-buffer.ts";

type Callback = (error?: Error | null) => void;

/** Writes one DATA frame; answers what the transport's write said (false: wait for 'drain'). */
function writeFrame(transport: Duplex, { buffers, length }: OutgoingFrame): boolean {
  const [first, payload] = buffers as [Buffer, Buffer | undefined];
  if (!payload) return transport.write(first);
  if (length >= OWN_WRITE_MIN_BYTES) {
    transport.write(first);
    return transport.write(payload);
  }
  transport.cork();
  transport.write(first);
  const more = transport.write(payload);
  transport.uncork();
  return more;
}

/**
 * This side's direction of a framed stream: the application's writes go into the send buffer
 * (at most a window), out as DATA frames on whatever transport is current, and stay until
 * the peer acknowledges them; then the END. A resumed transport starts again from what the
 * peer says it has.
 */
export class Outbound {
  readonly buffer: SendBuffer;
  readonly #transport: () => Duplex | undefined;
  readonly #onSent: () => void;
  readonly #onEndAcknowledged: () => void;
  /** Next offset to transmit on the current transport. */
  #sent = 0;
  #ending = false;
  #endSent = false;
  #endAcknowledged = false;
  #waitingDrain = false;
  #flushTimer: NodeJS.Immediate | undefined;
  #pending: { chunk: Buffer; taken: number; callback: Callback } | undefined;
  #finalCallback: Callback | undefined;

  constructor(
    window: number,
    transport: () => Duplex | undefined,
    on: { sent: () => void; endAcknowledged: () => void },
    options: { keepWrites?: boolean } = {},
  ) {
    this.buffer = new SendBuffer(window, options);
    this.#transport = transport;
    this.#onSent = on.sent;
    this.#onEndAcknowledged = on.endAcknowledged;
  }

  /** The application ended its side (END goes out once every byte has). */
  get ending(): boolean {
    return this.#ending;
  }

  get endAcknowledged(): boolean {
    return this.#endAcknowledged;
  }

  /** `_write`: the callback runs once all of `chunk` is in the send buffer. */
  write(chunk: Buffer, callback: Callback): void {
    this.#pending = { chunk, taken: 0, callback };
    this.#fill();
  }

  /** `_final`: the callback runs once the peer acknowledged the END. */
  end(callback: Callback): void {
    this.#ending = true;
    this.#finalCallback = callback;
    this.pump();
  }

  /** An ACK: the peer has every byte before `received` (and the END, if it says so). */
  acknowledge(received: number, endReceived: boolean): void {
    if (received < this.buffer.acked || received > this.#sent) {
      throw badFrame(`ACK of offset ${received}, outside ${this.buffer.acked}..${this.#sent}`);
    }
    this.buffer.acknowledge(received);
    if (endReceived) {
      if (!this.#endSent || received !== this.buffer.end) throw badFrame("ACK of an END that was not sent");
      this.#endAcked();
    }
    this.#fill();
  }

  /** The peer's CLOSE: it has everything, END included. */
  closedByPeer(): void {
    if (!this.#endSent || this.#sent !== this.buffer.end) throw badFrame("CLOSE before this side's END");
    this.buffer.acknowledge(this.buffer.end);
    this.#endAcked();
  }

  /** A resumed transport: forget what the peer has, send again from there. */
  restart(peer: PeerPosition): void {
    if (peer.received < this.buffer.acked || peer.received > this.buffer.end) {
      throw badFrame(`RESUME from offset ${peer.received}, outside ${this.buffer.acked}..${this.buffer.end}`);
    }
    if (peer.endReceived ? !this.#endSent || peer.received !== this.buffer.end : this.#endAcknowledged) {
      throw badFrame("RESUME disagrees on whether this side's END arrived");
    }
    this.buffer.acknowledge(peer.received);
    this.#sent = peer.received;
    this.#endSent = peer.endReceived;
    this.#waitingDrain = false;
    if (peer.endReceived) this.#endAcked();
    this.#fill();
  }

  /** The transport went away: nothing is in flight on it any more. */
  detached(): void {
    this.#waitingDrain = false;
  }

  /**
   * Sends what the peer lacks. A block that later writes may still fill waits for the next
   * turn of the event loop, so a run of writes leaves as whole 64 KiB frames, not a frame per write.
   */
  pump(flushPartial = false): void {
    const transport = this.#transport();
    if (!transport || this.#waitingDrain) return;
    while (this.#sent < this.buffer.end) {
      if (this.buffer.growing(this.#sent) && !flushPartial && !this.#ending) {
        // After the writer's 'drain' handler (a tick), so its next write can still join the block.
        this.#flushTimer ??= setImmediate(() => {
          this.#flushTimer = undefined;
          this.pump(true);
        });
        return;
      }
      const frame = this.buffer.frame(this.#sent);
      const more = writeFrame(transport, frame);
      this.#sent += frame.length;
      this.#onSent();
      if (!more) {
        this.#waitingDrain = true;
        transport.once("drain", () => {
          this.#waitingDrain = false;
          // Not a flush: a part-filled block still waits a turn for the writes that fill it.
          if (this.#transport() === transport) this.pump();
        });
        return;
      }
    }
    if (this.#ending && !this.#endSent && !this.#endAcknowledged) {
      this.#endSent = true;
      transport.write(encodeEnd(this.buffer.end));
      this.#onSent();
    }
  }

  /** Writes every byte not yet sent, whatever the backpressure: the stream is being given up. */
  flushAll(transport: Duplex): void {
    while (this.#sent < this.buffer.end) {
      const frame = this.buffer.frame(this.#sent);
      writeFrame(transport, frame);
      this.#sent += frame.length;
    }
  }

  stop(): void {
    if (this.#flushTimer) clearImmediate(this.#flushTimer);
  }

  /** Takes what fits of the pending write; its callback runs once all of it is held. */
  #fill(): void {
    const pending = this.#pending;
    if (pending) {
      const { chunk, taken } = pending;
      pending.taken += this.buffer.append(taken === 0 ? chunk : chunk.subarray(taken));
      if (pending.taken === pending.chunk.length) {
        this.#pending = undefined;
        pending.callback();
      }
    }
    this.pump();
  }

  #endAcked(): void {
    if (this.#endAcknowledged) return;
    this.#endAcknowledged = true;
    const callback = this.#finalCallback;
    this.#finalCallback = undefined;
    callback?.();
    this.#onEndAcknowledged();
  }
}
