import type { Socket } from "node:net";
import { Duplex } from "node:stream";

/** A TLS record header: content type (1), legacy version (2), length (2, big-endian). */
const TLS_RECORD_HEADER_BYTES = 5;
/** RFC 8446 §5.2: a ciphertext record is at most 2^14 + 256 bytes (TLS 1.2 allows 2^14 + 2048). */
export const MAX_TLS_RECORD_BYTES = 2 ** 14 + 2048;

/**
 * How many bytes the TLS record at the head of `bytes` spans, once its header is in;
 * undefined while fewer than a header's worth have arrived. A declared length no TLS stack
 * sends counts as all that has arrived, so nobody waits for it: the engine refuses it.
 */
export function tlsRecordLength(bytes: Buffer): number | undefined {
  if (bytes.length < TLS_RECORD_HEADER_BYTES) return undefined;
  const length = bytes.readUInt16BE(3);
  return length > MAX_TLS_RECORD_BYTES ? bytes.length : TLS_RECORD_HEADER_BYTES + length;
}

type GateState = "records" | "one" | "holding" | "open" | "detached";

/**
 * The byte stream a relay-side TLS engine reads and writes, over a raw TCP socket that may
 * outlive that TLS session. The original Flock relay's clients (docs/coming-from-frelay.md)
 * speak TLS to the relay only up to their first application record, then raw bytes on the
 * same TCP connection; Node cannot detach its native TLS engine from a socket, so the
 * engine runs over this Duplex instead.
 *
 * Until the engine yields its first cleartext, the gate hands it one whole TLS record at a
 * time, the next only once the engine has consumed the previous one: so when the first
 * application record has been decrypted, no byte after it has reached the engine. The gate
 * then holds. The owner looks at the cleartext and either opens the gate (Flock's own
 * protocol: bytes flow freely, ending and destroying reach the socket) or detaches it
 * (frelay: the socket and every byte held back are the owner's; ending the TLS write side,
 * its close_notify, leaves the TCP connection open).
 */
export class TlsRecordGate extends Duplex {
  readonly #raw: Socket;
  #state: GateState = "records";
  #held: Buffer = Buffer.alloc(0);
  /** A record was pushed and the engine has not taken it yet. */
  #pushed = false;
  #rawEnded = false;
  /** Once detached: what the engine writes, sent in one piece when it ends (see detach). */
  #outbox: Buffer[] | undefined;
  #hasCleartext: () => boolean = () => false;
  readonly #onRawData = (chunk: Buffer) => this.#received(chunk);
  readonly #onRawEnd = () => {
    this.#rawEnded = true;
    this.#pump();
  };
  readonly #onRawClose = () => {
    if (this.#state !== "detached") this.destroy();
  };

  constructor(raw: Socket) {
    super({ allowHalfOpen: true });
    this.#raw = raw;
    raw.on("data", this.#onRawData);
    raw.on("end", this.#onRawEnd);
    raw.on("close", this.#onRawClose);
    // A socket that was read in paused mode does not start flowing for a 'data' listener.
    raw.resume();
  }

  /**
   * Call right after the TLS socket is built over this gate: its readable buffer says whether
   * the engine has decrypted application bytes. Listening after the engine's own 'data'
   * listener, which feeds it synchronously, means this runs once a record was processed.
   */
  watch(engine: { readonly readableLength: number }): void {
    this.#hasCleartext = () => engine.readableLength > 0;
    this.on("data", () => {
      this.#pushed = false;
      if (this.#state === "one" || (this.#state === "records" && this.#hasCleartext()))
        this.#state = "holding";
      this.#pump();
    });
  }

  /** While holding: hand the engine exactly one more record, then hold again (a client reading close_notify). */
  feedOne(): void {
    if (this.#state !== "holding") return;
    this.#state = "one";
    this.#pump();
  }

  /** Flock's own protocol: every byte from now on goes to the engine as it arrives. */
  open(): void {
    if (this.#state === "open" || this.#state === "detached") return;
    this.#state = "open";
    this.#pump();
  }

  /**
   * frelay: the engine gets nothing more. Returns the bytes the client sent after its first
   * application record (a well-behaved client sends none before the relay answers). What the
   * engine writes from now on (Ready, then close_notify) is held and sent in one write when
   * it ends: it writes them a turn of the event loop apart, a busy data plane can stretch
   * that, and the client allows 500 ms between the two.
   */
  detach(): Buffer {
    this.#state = "detached";
    this.#outbox = [];
    // Paused first: a flowing socket with no 'data' listener would drop what arrives next.
    this.#raw.pause();
    this.#raw.off("data", this.#onRawData);
    this.#raw.off("end", this.#onRawEnd);
    this.#raw.off("close", this.#onRawClose);
    const rest = this.#held;
    this.#held = Buffer.alloc(0);
    return rest;
  }

  #received(chunk: Buffer): void {
    this.#held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    this.#pump();
  }

  #pump(): void {
    if (this.destroyed) return;
    if (this.#state === "open") {
      if (this.#held.length > 0) {
        const all = this.#held;
        this.#held = Buffer.alloc(0);
        if (!this.push(all)) this.#raw.pause();
      }
      if (this.#rawEnded) this.push(null);
      return;
    }
    if ((this.#state !== "records" && this.#state !== "one") || this.#pushed) return;
    const record = this.#nextRecord();
    if (record === undefined) {
      // The client left mid-handshake: the engine sees the end and fails its handshake.
      if (this.#rawEnded) this.push(null);
      return;
    }
    this.#pushed = true;
    this.push(record);
  }

  #nextRecord(): Buffer | undefined {
    const total = tlsRecordLength(this.#held);
    if (total === undefined || this.#held.length < total) return undefined;
    const record = this.#held.subarray(0, total);
    this.#held = this.#held.subarray(total);
    return record;
  }

  override _read(): void {
    if (this.#state === "open") this.#raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#raw.destroyed) {
      callback(new Error("the TCP connection is gone"));
      return;
    }
    if (this.#outbox) {
      this.#outbox.push(chunk);
      callback();
    } else {
      this.#raw.write(chunk, callback);
    }
  }

  /** The engine's close_notify is out. Only Flock's own protocol ends TCP with it. */
  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#outbox) this.#raw.end(callback);
    else if (this.#outbox.length === 0) callback();
    else this.#raw.write(Buffer.concat(this.#outbox.splice(0)), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#state !== "detached") this.#raw.destroy();
    callback(error);
  }
}
