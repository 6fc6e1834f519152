import { Duplex } from "node:stream";
import { FlockError } from "../../protocol/errors.ts";
import type { ControlFrame } from "./control-frames.ts";
import { badFrame, encodeControl } from "./control-frames.ts";
import { encodeAck, encodeClose, MAX_DATA_FRAME_BYTES, StreamFrameParser } from "./frames.ts";
import { Inbound } from "./inbound.ts";
import { Liveness } from "./liveness.ts";
import { Outbound } from "./outbound.ts";
import type { PeerPosition, PendingResume, ResumeFailed, Resumer } from "./resume-within.ts";
import { resumeWithin } from "./resume-within.ts";
import { abortFrame, closeGracefully, PeerAborted, truncatedError } from "./stream-end.ts";
import type { StreamLimits } from "./stream-limits.ts";

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

/** What the application may queue beyond the window before write() returns false. */
export const WRITABLE_HIGH_WATER_MARK_BYTES = 256 * 1024;

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
  readonly #out: Outbound;
  readonly #in: Inbound;
  readonly #liveness: Liveness;
  #transport: Duplex | undefined;
  #parser: StreamFrameParser | undefined;
  #detach: (() => void) | undefined;
  /** CLOSE sent on the current transport; the peer's CLOSE received (on any). */
  #closeSent = false;
  #peerComplete = false;
  /** Our reader is behind: the transport is paused until it reads again. */
  #paused = false;
  #resuming: PendingResume | undefined;

  constructor(transport: Duplex, options: FramedStreamOptions) {
    // Closed by #checkDone once both sides said CLOSE, not as soon as both directions ended.
    super({
      allowHalfOpen: true,
      autoDestroy: false,
      readableHighWaterMark: MAX_DATA_FRAME_BYTES,
      // Writes go into the send buffer at once; this only decides when write() says
      // "wait", and 64 KiB writes against the default 16 KiB would each wait for a 'drain'.
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK_BYTES,
    });
    this.#limits = options.limits;
    this.#resume = options.resume;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#out = new Outbound(
      options.limits.windowBytes,
      () => this.#transport,
      { sent: () => this.#liveness.sent(), endAcknowledged: () => this.#checkDone() },
      { keepWrites: options.limits.zeroCopyWrites },
    );
    this.#in = new Inbound(options.peerWindow, () => this.#sendAck());
    this.#liveness = new Liveness(
      options.limits,
      () => this.#transport && { reading: !this.#paused, idle: this.#transport.writableLength === 0 },
      {
        // An acknowledgement doubles as the heartbeat.
        heartbeat: () => this.#sendAck(),
        silent: () => {
          const current = this.#transport;
          if (current) this.#lost(current, `no frame from the peer for ${options.limits.silenceMs} ms`);
        },
      },
    );
    this.#attach(transport);
    this.on("end", () => this.#checkDone()).on("finish", () => this.#checkDone());
  }

  /** Bytes of the peer's that arrived, in order. */
  get bytesReceived(): number {
    return this.#in.received;
  }

  /** Bytes the application wrote that the buffer took. */
  get bytesWritten(): number {
    return this.#out.buffer.end;
  }

  get bytesAcknowledged(): number {
    return this.#out.buffer.acked;
  }

  /** Bytes kept for resending, and the memory allocated for them. */
  get sendBuffered(): { held: number; allocated: number } {
    return { held: this.#out.buffer.held, allocated: this.#out.buffer.allocated };
  }

  get resuming(): boolean {
    return this.#resuming !== undefined;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#out.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#out.end(callback);
  }

  override _read(): void {
    if (!this.#paused) return;
    this.#paused = false;
    // Time spent paused by our own reader is not the peer's silence.
    this.#liveness.restart();
    this.#transport?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#liveness.stop();
    this.#in.stop();
    this.#out.stop();
    this.#resuming?.cancel();
    const transport = this.#transport;
    this.#detachTransport();
    if (transport) {
      // A peer that aborted needs no ABORT back; every other early end tells the peer why,
      // after what was written before destroy(), as a socket's bytes go before its close.
      const quiet = (error === null && this.#complete) || error instanceof PeerAborted;
      if (!(error instanceof PeerAborted)) this.#out.flushAll(transport);
      closeGracefully(transport, quiet ? undefined : encodeControl(abortFrame(error)));
    }
    callback(error instanceof PeerAborted ? error.error : error);
  }

  #sendAck(): void {
    this.#in.acknowledged();
    this.#transport?.write(encodeAck(this.#in.received, this.#in.endReceived));
    this.#liveness.sent();
  }

  #attach(transport: Duplex, peer?: PeerPosition): void {
    if (peer) {
      this.#in.restart(peer.window);
      this.#out.restart(peer);
    }
    this.#transport = transport;
    this.#liveness.restart();
    const parser = new StreamFrameParser({
      data: (offset, bytes) => this.#onData(offset, bytes),
      end: (total) => this.#onEnd(total),
      ack: (received, endReceived) => this.#out.acknowledge(received, endReceived),
      control: (frame) => this.#onControl(frame),
      close: () => this.#onClose(),
    });
    this.#parser = parser;
    const onData = (chunk: Buffer) => {
      this.#liveness.heard();
      try {
        parser.push(chunk);
      } catch (error) {
        // Only the peer's frames are the peer's fault; an application's 'data' listener that
        // throws propagates as it would from any stream.
        if (!(error instanceof FlockError && error.code === "BAD_STREAM_FRAME")) throw error;
        this.destroy(error);
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
    this.#out.pump();
    this.#checkDone();
  }

  #detachTransport(): void {
    this.#detach?.();
    this.#detach = undefined;
    this.#parser?.stop();
    this.#parser = undefined;
    this.#transport = undefined;
    this.#out.detached();
  }

  #onData(offset: number, bytes: Buffer): void {
    this.#in.data(offset, bytes.length);
    if (!this.push(bytes) && !this.#paused) {
      this.#paused = true;
      this.#transport?.pause();
    }
  }

  #onEnd(total: number): void {
    this.#in.end(total);
    this.push(null);
    this.#sendAck();
    this.#checkDone();
  }

  /** The peer has everything, END included: as good as an ACK of all, and the last frame. */
  #onClose(): void {
    if (!this.#in.endReceived) throw badFrame("CLOSE before the peer's END");
    this.#peerComplete = true;
    this.#out.closedByPeer();
    this.#checkDone();
  }

  #onControl(frame: ControlFrame): void {
    if (frame.type !== "abort") throw badFrame(`${frame.type.toUpperCase()} in the middle of a session`);
    this.#parser?.stop();
    this.destroy(new PeerAborted(frame));
  }

  /** Both ENDs arrived and were acknowledged, as this side sees it. */
  get #complete(): boolean {
    return this.#in.endReceived && this.#out.endAcknowledged;
  }

  /** Says CLOSE once complete, and closes once the peer said it too and the application has read all. */
  #checkDone(): void {
    if (this.destroyed || !this.#complete) return;
    if (this.#transport && !this.#closeSent) {
      this.#closeSent = true;
      this.#transport.write(encodeClose());
      this.#liveness.sent();
    }
    if (this.#peerComplete && this.readableEnded && this.writableFinished) this.destroy();
  }

  #lost(transport: Duplex, reason: string): void {
    if (transport !== this.#transport) return;
    this.#detachTransport();
    transport.destroy();
    if (this.destroyed || (this.#complete && this.#peerComplete)) return;
    this.#onEvent({ type: "broken", reason });
    if (!this.#resume) {
      this.#giveUp(reason);
      return;
    }
    const started = Date.now();
    const pending = resumeWithin(
      this.#resume,
      { received: this.#in.received, endReceived: this.#in.endReceived },
      this.#limits.resumeDeadlineMs,
    );
    this.#resuming = pending;
    pending.done.then(
      ({ transport: next, peer }) => {
        this.#resuming = undefined;
        const resent = this.#out.buffer.end - peer.received;
        try {
          this.#attach(next, peer);
        } catch (error) {
          next.destroy();
          this.destroy(error as Error);
          return;
        }
        this.#onEvent({ type: "resumed", afterMs: Date.now() - started, resent });
      },
      (failure: ResumeFailed) => {
        this.#resuming = undefined;
        this.#giveUp(reason, failure);
      },
    );
  }

  /** No new transport: a loss, unless this side already had everything (the peer may lack our CLOSE). */
  #giveUp(reason: string, failure?: ResumeFailed): void {
    if (this.#complete) {
      this.#peerComplete = true;
      this.#checkDone();
      return;
    }
    const counts = {
      received: this.#in.received,
      endReceived: this.#in.endReceived,
      sent: this.#out.buffer.end,
      acknowledged: this.#out.buffer.acked,
      ending: this.#out.ending,
    };
    this.destroy(
      truncatedError(reason, counts, failure && { deadlineMs: failure.deadlineMs, cause: failure.cause }),
    );
  }
}
