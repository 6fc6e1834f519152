import { Duplex } from "node:stream";
import { FlockError } from "../../protocol/errors.ts";
import type { ControlFrame } from "./frames.ts";
import {
  badFrame,
  encodeAck,
  encodeClose,
  encodeControl,
  encodeEnd,
  MAX_DATA_FRAME_BYTES,
  StreamFrameParser,
} from "./frames.ts";
import { SendBuffer } from "./send-buffer.ts";
import type { StreamLimits } from "./stream-limits.ts";

/** What a resumed transport starts from: the peer's RESUME frame, checked by the resumer. */
export interface PeerPosition {
  received: number;
  endReceived: boolean;
  window: number;
}

export interface Resumed {
  /** Positioned after the peer's RESUME frame, nothing of ours written on it yet. */
  transport: Duplex;
  peer: PeerPosition;
}

/** This side's position, sent in its RESUME frame. */
export interface OwnPosition {
  received: number;
  endReceived: boolean;
}

/**
 * Reconnects after a broken transport: a fresh ticket, the end-to-end mTLS again, RESUME
 * both ways. Must give up when `signal` aborts (the resume deadline).
 */
export type Resumer = (own: OwnPosition, signal: AbortSignal) => Promise<Resumed>;

export type StreamEvent =
  | { type: "broken"; reason: string }
  | { type: "resumed"; afterMs: number; resent: number };

export interface FramedStreamOptions {
  limits: StreamLimits;
  /** The peer's window from its OPEN frame: acknowledgements go out well before it fills. */
  peerWindow: number;
  /** Undefined: a broken transport is STREAM_TRUNCATED at once. */
  resume?: Resumer;
  onEvent?: (event: StreamEvent) => void;
}

/** After a clean end or an ABORT, the transport is destroyed at the latest this long after `end()`. */
export const CLOSE_LINGER_MS = 2_000;
/** What the application may queue beyond the window before write() returns false. */
export const WRITABLE_HIGH_WATER_MARK_BYTES = 256 * 1024;
/** A lone acknowledgement waits at most this long for more bytes to cover. */
export const ACK_DELAY_MS = 5;

/**
 * The application's Duplex over SDK wire version 2 (docs/stream.md). Each direction ends with
 * an END frame carrying its byte count, so a transport that ends any other way is a break,
 * never a clean end: it resumes on a new transport, or the stream fails with STREAM_TRUNCATED.
 * 'finish' means the peer acknowledged every byte and the end; 'end' means the peer's END
 * arrived after all its bytes. Writes are held back while the peer has a window's worth of
 * bytes unacknowledged, so a stalled reader bounds the writer's memory.
 *
 * 'close' comes once both sides said CLOSE (each has everything and the peer has all of its
 * bytes): the side that completes first cannot know its last acknowledgement arrived, so it
 * stays, resumes if the transport breaks, and gives up quietly only at the resume deadline.
 */
export class FramedStream extends Duplex {
  readonly #limits: StreamLimits;
  readonly #resume: Resumer | undefined;
  readonly #onEvent: (event: StreamEvent) => void;
  readonly #send: SendBuffer;
  #peerWindow: number;
  #transport: Duplex | undefined;
  #parser: StreamFrameParser | undefined;
  #detach: (() => void) | undefined;
  /** Next offset to transmit on the current transport. */
  #sent = 0;
  #waitingDrain = false;
  #flushTimer: NodeJS.Immediate | undefined;
  #pending: { chunk: Buffer; taken: number; callback: (error?: Error | null) => void } | undefined;
  #finalCallback: ((error?: Error | null) => void) | undefined;
  #ending = false;
  #endSent = false;
  #endAcked = false;
  #received = 0;
  #acknowledged = 0;
  #endReceived = false;
  /** CLOSE sent on the current transport; the peer's CLOSE received (on any). */
  #closeSent = false;
  #peerComplete = false;
  #paused = false;
  #ackTimer: NodeJS.Timeout | undefined;
  #lastRx = Date.now();
  #lastTx = Date.now();
  #lastTick = Date.now();
  readonly #ticker: NodeJS.Timeout;
  #resuming: AbortController | undefined;

  constructor(transport: Duplex, options: FramedStreamOptions) {
    // Closed by #checkDone once both sides said CLOSE, not as soon as both directions ended.
    super({
      allowHalfOpen: true,
      autoDestroy: false,
      readableHighWaterMark: MAX_DATA_FRAME_BYTES,
      // Writes are copied into the send buffer at once; this only decides when write() says
      // "wait", and 64 KiB writes against the default 16 KiB would each wait for a 'drain'.
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK_BYTES,
    });
    this.#limits = options.limits;
    this.#resume = options.resume;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#send = new SendBuffer(options.limits.windowBytes);
    this.#peerWindow = options.peerWindow;
    const tickMs = Math.max(1, Math.min(options.limits.heartbeatMs, options.limits.silenceMs / 3));
    this.#ticker = setInterval(() => this.#tick(tickMs), tickMs).unref();
    this.#attach(transport);
    this.on("end", () => this.#checkDone()).on("finish", () => this.#checkDone());
  }

  /** Bytes of the peer's that arrived, in order. */
  get bytesReceived(): number {
    return this.#received;
  }

  /** Bytes the application wrote that the buffer took. */
  get bytesWritten(): number {
    return this.#send.end;
  }

  get bytesAcknowledged(): number {
    return this.#send.acked;
  }

  /** Bytes kept for resending, and the memory allocated for them. */
  get sendBuffered(): { held: number; allocated: number } {
    return { held: this.#send.held, allocated: this.#send.allocated };
  }

  get resuming(): boolean {
    return this.#resuming !== undefined;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending = { chunk, taken: 0, callback };
    this.#fill();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#ending = true;
    this.#finalCallback = callback;
    this.#pump();
  }

  override _read(): void {
    if (!this.#paused) return;
    this.#paused = false;
    // Time spent paused by our own reader is not the peer's silence.
    this.#lastRx = Date.now();
    this.#transport?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearInterval(this.#ticker);
    clearTimeout(this.#ackTimer);
    if (this.#flushTimer) clearImmediate(this.#flushTimer);
    this.#resuming?.abort();
    const transport = this.#transport;
    this.#detachTransport();
    if (transport) {
      if (error === null && this.#complete) closeGracefully(transport);
      else if (error instanceof PeerAborted) transport.destroy();
      else closeGracefully(transport, encodeControl(abortFrame(error)));
    }
    callback(error instanceof PeerAborted ? error.error : error);
  }

  /** Takes what fits of the pending write; its callback runs once all of it is held. */
  #fill(): void {
    const pending = this.#pending;
    if (!pending) return;
    pending.taken += this.#send.append(pending.chunk.subarray(pending.taken));
    if (pending.taken === pending.chunk.length) {
      this.#pending = undefined;
      pending.callback();
    }
    this.#pump();
  }

  /**
   * Sends what the peer lacks. A block that later writes may still fill waits for the next
   * turn of the event loop, so a run of writes leaves as whole 64 KiB frames, not a frame per write.
   */
  #pump(flushPartial = false): void {
    const transport = this.#transport;
    if (!transport || this.#waitingDrain) return;
    while (this.#sent < this.#send.end) {
      const { buffers, length, blockFull } = this.#send.frame(this.#sent);
      if (!blockFull && !flushPartial && !this.#ending) {
        // After the writer's 'drain' handler (a tick), so its next write can still join the block.
        this.#flushTimer ??= setImmediate(() => {
          this.#flushTimer = undefined;
          this.#pump(true);
        });
        return;
      }
      if (buffers.length > 1) transport.cork();
      let more = true;
      for (const buffer of buffers) more = transport.write(buffer);
      if (buffers.length > 1) transport.uncork();
      this.#sent += length;
      this.#lastTx = Date.now();
      if (!more) {
        this.#waitingDrain = true;
        transport.once("drain", () => {
          this.#waitingDrain = false;
          if (this.#transport === transport) this.#pump(true);
        });
        return;
      }
    }
    if (this.#ending && !this.#endSent && !this.#endAcked) {
      this.#endSent = true;
      this.#write(encodeEnd(this.#send.end));
    }
  }

  #write(frame: Buffer): void {
    this.#transport?.write(frame);
    this.#lastTx = Date.now();
  }

  #sendAck(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#acknowledged = this.#received;
    this.#write(encodeAck(this.#received, this.#endReceived));
  }

  #attach(transport: Duplex, peer?: PeerPosition): void {
    if (peer) this.#restart(peer);
    this.#transport = transport;
    this.#lastRx = Date.now();
    const parser = new StreamFrameParser({
      data: (offset, bytes) => this.#onData(offset, bytes),
      end: (total) => this.#onEnd(total),
      ack: (received, endReceived) => this.#onAck(received, endReceived),
      control: (frame) => this.#onControl(frame),
      close: () => this.#onClose(),
    });
    this.#parser = parser;
    const onData = (chunk: Buffer) => {
      this.#lastRx = Date.now();
      try {
        parser.push(chunk);
      } catch (error) {
        this.destroy(error instanceof FlockError ? error : badFrame(String(error)));
      }
    };
    const onEnd = () =>
      this.#lost(
        transport,
        parser.midFrame ? "the transport ended in the middle of a frame" : "the transport ended",
      );
    const onClose = () => this.#lost(transport, "the transport closed");
    const onError = (error: Error) => this.#lost(transport, `the transport failed: ${error.message}`);
    transport.on("data", onData).on("end", onEnd).on("close", onClose).on("error", onError);
    this.#detach = () => {
      transport.off("data", onData).off("end", onEnd).off("close", onClose).off("error", onError);
      // A late error from an abandoned transport must not crash the process.
      transport.on("error", () => {});
    };
    if (this.#paused) transport.pause();
    else transport.resume();
    this.#closeSent = false;
    this.#pump();
    this.#checkDone();
  }

  /** A resumed transport: forget what the peer has, send again what it lacks. */
  #restart(peer: PeerPosition): void {
    if (peer.received < this.#send.acked || peer.received > this.#send.end) {
      throw badFrame(`RESUME from offset ${peer.received}, outside ${this.#send.acked}..${this.#send.end}`);
    }
    if (peer.endReceived ? !this.#endSent || peer.received !== this.#send.end : this.#endAcked) {
      throw badFrame("RESUME disagrees on whether this side's END arrived");
    }
    this.#send.acknowledge(peer.received);
    this.#sent = peer.received;
    this.#endSent = peer.endReceived;
    this.#peerWindow = peer.window;
    this.#acknowledged = this.#received;
    if (peer.endReceived) this.#onEndAcked();
    this.#fill();
  }

  #detachTransport(): void {
    this.#detach?.();
    this.#detach = undefined;
    this.#parser?.stop();
    this.#parser = undefined;
    this.#transport = undefined;
    this.#waitingDrain = false;
  }

  #onData(offset: number, bytes: Buffer): void {
    if (this.#endReceived) throw badFrame("DATA after END");
    if (offset !== this.#received) throw badFrame(`DATA at offset ${offset}, expected ${this.#received}`);
    this.#received += bytes.length;
    if (!this.push(bytes) && !this.#paused) {
      this.#paused = true;
      this.#transport?.pause();
    }
    const unacknowledged = this.#received - this.#acknowledged;
    if (unacknowledged >= this.#peerWindow / 4) this.#sendAck();
    else this.#ackTimer ??= setTimeout(() => this.#sendAck(), ACK_DELAY_MS);
  }

  #onEnd(total: number): void {
    if (this.#endReceived) throw badFrame("a second END");
    if (total !== this.#received) throw badFrame(`END says ${total} bytes, ${this.#received} arrived`);
    this.#endReceived = true;
    this.push(null);
    this.#sendAck();
    this.#checkDone();
  }

  #onAck(received: number, endReceived: boolean): void {
    if (received < this.#send.acked || received > this.#sent) {
      throw badFrame(`ACK of offset ${received}, outside ${this.#send.acked}..${this.#sent}`);
    }
    this.#send.acknowledge(received);
    if (endReceived) {
      if (!this.#endSent || received !== this.#send.end) throw badFrame("ACK of an END that was not sent");
      this.#onEndAcked();
    }
    this.#fill();
  }

  #onEndAcked(): void {
    if (this.#endAcked) return;
    this.#endAcked = true;
    const callback = this.#finalCallback;
    this.#finalCallback = undefined;
    callback?.();
    this.#checkDone();
  }

  /** Both ENDs arrived and were acknowledged, as this side sees it. */
  get #complete(): boolean {
    return this.#endReceived && this.#endAcked;
  }

  /** Says CLOSE once complete, and closes once the peer said it too and the application has read all. */
  #checkDone(): void {
    if (this.destroyed || !this.#complete) return;
    if (this.#transport && !this.#closeSent) {
      this.#closeSent = true;
      this.#write(encodeClose());
    }
    if (this.#peerComplete && this.readableEnded && this.writableFinished) this.destroy();
  }

  /** The peer has everything, END included: as good as an ACK of all, and the last frame. */
  #onClose(): void {
    if (!this.#endReceived || !this.#endSent || this.#sent !== this.#send.end) {
      throw badFrame("CLOSE before both ends");
    }
    this.#send.acknowledge(this.#send.end);
    this.#peerComplete = true;
    this.#onEndAcked();
    this.#checkDone();
  }

  #onControl(frame: ControlFrame): void {
    if (frame.type !== "abort") throw badFrame(`${frame.type.toUpperCase()} in the middle of a session`);
    this.#parser?.stop();
    this.destroy(
      new PeerAborted(
        new FlockError("STREAM_ABORTED", `The peer gave the stream up: ${frame.message} (${frame.code}).`),
      ),
    );
  }

  #tick(tickMs: number): void {
    const now = Date.now();
    // A late tick means this process was busy, not that the peer was silent.
    const late = now - this.#lastTick > 2 * tickMs;
    this.#lastTick = now;
    const transport = this.#transport;
    if (!transport || this.destroyed) return;
    if (late) {
      this.#lastRx = now;
      return;
    }
    if (!this.#paused && now - this.#lastRx >= this.#limits.silenceMs) {
      this.#lost(transport, `no frame from the peer for ${this.#limits.silenceMs} ms`);
      return;
    }
    // An acknowledgement doubles as the heartbeat; none is needed while frames are queued.
    if (now - this.#lastTx >= this.#limits.heartbeatMs && transport.writableLength === 0) this.#sendAck();
  }

  #lost(transport: Duplex, reason: string): void {
    if (transport !== this.#transport) return;
    this.#detachTransport();
    transport.destroy();
    if (this.destroyed || (this.#complete && this.#peerComplete)) return;
    this.#onEvent({ type: "broken", reason });
    if (this.#resume) this.#startResume(this.#resume, reason);
    else this.#giveUp(reason);
  }

  /** No new transport: a loss, unless this side already had everything (the peer may lack our CLOSE). */
  #giveUp(reason: string, cause?: unknown, deadlineMs?: number): void {
    if (this.#complete) {
      this.#peerComplete = true;
      this.#checkDone();
    } else this.destroy(this.#truncated(reason, cause, deadlineMs));
  }

  #startResume(resume: Resumer, reason: string): void {
    const abort = new AbortController();
    this.#resuming = abort;
    const started = Date.now();
    const deadlineMs = this.#limits.resumeDeadlineMs;
    const fail = (cause: unknown) => {
      if (this.#resuming !== abort) return;
      this.#resuming = undefined;
      clearTimeout(timer);
      abort.abort();
      this.#giveUp(reason, cause, deadlineMs);
    };
    const timer = setTimeout(() => fail(undefined), deadlineMs);
    resume({ received: this.#received, endReceived: this.#endReceived }, abort.signal).then(
      ({ transport, peer }) => {
        if (this.#resuming !== abort) {
          transport.destroy();
          return;
        }
        this.#resuming = undefined;
        clearTimeout(timer);
        const resent = this.#send.end - peer.received;
        try {
          this.#attach(transport, peer);
        } catch (error) {
          transport.destroy();
          this.destroy(error as Error);
          return;
        }
        this.#onEvent({ type: "resumed", afterMs: Date.now() - started, resent });
      },
      fail,
    );
  }

  #truncated(reason: string, cause?: unknown, deadlineMs?: number): FlockError {
    if (cause instanceof FlockError && cause.code === "SESSION_MISMATCH") return cause;
    const inbound = `${this.#received} bytes from the peer arrived ${this.#endReceived ? "with" : "without"} its end-of-stream frame`;
    const outbound = `the peer acknowledged ${this.#send.acked} of the ${this.#send.end} bytes sent${this.#ending ? " and the end" : ""}`;
    const healing =
      deadlineMs === undefined
        ? ""
        : cause === undefined
          ? ` It was not resumed within the resume deadline (${deadlineMs} ms).`
          : ` Resuming failed: ${cause instanceof Error ? cause.message : String(cause)}`;
    return new FlockError(
      "STREAM_TRUNCATED",
      `The stream broke (${reason}): ${inbound}; ${outbound}.${healing}`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** An ABORT from the peer: the stream fails with its error, and no ABORT goes back. */
class PeerAborted extends Error {
  readonly error: FlockError;
  constructor(error: FlockError) {
    super(error.message);
    this.error = error;
  }
}

function abortFrame(error: Error | null): ControlFrame {
  if (error === null) {
    return {
      type: "abort",
      code: "STREAM_ABORTED",
      message: "The application closed the stream before its end.",
    };
  }
  const code = error instanceof FlockError ? error.code : "STREAM_ABORTED";
  return { type: "abort", code, message: error.message };
}

/** `end()` with a last frame (TLS close_notify on top), then destroy when the peer answers or after a linger. */
function closeGracefully(transport: Duplex, last?: Buffer): void {
  transport.on("error", () => {});
  const linger = setTimeout(() => transport.destroy(), CLOSE_LINGER_MS).unref();
  transport.once("close", () => clearTimeout(linger));
  transport.once("end", () => transport.destroy());
  transport.resume();
  if (last) transport.end(last);
  else transport.end();
}
