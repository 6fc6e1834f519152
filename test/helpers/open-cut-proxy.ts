import { FRAME_HEADER_BYTES, MAGIC } from "../../protocol/frames.ts";
import { startProxyInFront } from "./proxy-in-front.ts";

/**
 * A relay-side proxy (direct mode, tcp) that breaks one party's first connection at an exact
 * point of the wire-version-2 opening, in both directions at once. It cannot read the
 * end-to-end TLS, but it can count its records: after the handshake each side's first
 * record is its one-byte verdict (18 bytes of record body, which no handshake or ticket
 * record has), and its OPEN frame is known by its length (the server's session tickets may
 * come in between).
 *
 * Per direction, `pass` says how far the opening gets through (0: not even the verdict, 1: the
 * verdict, 2: verdict and OPEN); the rest is held back, never delivered. Once each direction
 * has reached its `await` milestone (3: a DATA frame, which a side sends only once it has the
 * peer's OPEN), the proxy cuts: a FIN to the party after what passed, and the data plane's
 * leg closed.
 */
export interface OpenCut {
  /** The party's records, towards its peer. */
  up: { pass: number; await: number };
  /** The peer's records, towards the party. */
  down: { pass: number; await: number };
  /** Instead of a FIN, nothing more gets through either way and both legs stay open: a dead path. */
  silent?: boolean;
}

export interface OpenCutProxy {
  port: number;
  /** The cut happened (each direction produced what it had to). */
  readonly cut: boolean;
  /** Milestones each direction reached (see RecordGate). */
  readonly reached: { up: number; down: number };
  close(): Promise<void>;
}

/** TLS 1.3 record bodies: the plaintext, its inner content type and a 16-byte tag. */
const RECORD_OVERHEAD_BYTES = 17;
const VERDICT_RECORD_BODY_BYTES = 1 + RECORD_OVERHEAD_BYTES;
const FULL_RECORD_BODY_BYTES = 16_384 + RECORD_OVERHEAD_BYTES;
const RECORD_HEADER_BYTES = 5;

export async function startOpenCutProxy(
  target: { port: number },
  /** `openBytes`: the length of an OPEN frame of this pair and channel (both sides' are as long). */
  plan: { dest: string; cut: OpenCut; openBytes: number },
): Promise<OpenCutProxy> {
  let marked = false;
  let cut = false;
  const gates: { up?: RecordGate; down?: RecordGate } = {};
  const proxy = await startProxyInFront(target, (party, relay) => {
    let attacked: boolean | undefined;
    let hello = Buffer.alloc(0);
    let pairedSeen = false;
    let down = Buffer.alloc(0);
    const up = new RecordGate(plan.cut.up, plan.openBytes + RECORD_OVERHEAD_BYTES);
    const toParty = new RecordGate(plan.cut.down, plan.openBytes + RECORD_OVERHEAD_BYTES);
    const maybeCut = () => {
      if (cut || !up.done || !toParty.done) return;
      cut = true;
      if (plan.cut.silent) return;
      party.end();
      relay.destroy();
    };
    party.on("data", (chunk: Buffer) => {
      if (cut && attacked) return;
      if (attacked === undefined) {
        // MAGIC goes on at once (the data plane answers it with its challenge); the hello too.
        const before = hello.length;
        hello = Buffer.concat([hello, chunk]);
        const text = firstFrame(hello);
        if (text === undefined) return void relay.write(chunk);
        attacked = !marked && text.includes(`"dest":"${plan.dest}"`);
        if (attacked) {
          marked = true;
          gates.up = up;
          gates.down = toParty;
        }
        const helloEnd = MAGIC.length + FRAME_HEADER_BYTES + hello.readUInt32BE(MAGIC.length);
        relay.write(chunk.subarray(0, helloEnd - before));
        chunk = chunk.subarray(helloEnd - before);
        if (chunk.length === 0) return;
      }
      if (!attacked) return void relay.write(chunk);
      // The party sends TLS only once PAIRED has reached it: everything after the hello is TLS.
      relay.write(up.push(chunk));
      maybeCut();
    });
    relay.on("data", (chunk: Buffer) => {
      if (cut && attacked) return;
      if (!attacked) return void party.write(chunk);
      if (!pairedSeen) {
        down = Buffer.concat([down, chunk]);
        const tlsAt = afterPaired(down);
        if (tlsAt === undefined) return;
        pairedSeen = true;
        party.write(down.subarray(0, tlsAt));
        chunk = down.subarray(tlsAt);
      }
      party.write(toParty.push(chunk));
      maybeCut();
    });
    party.on("end", () => relay.end());
    relay.on("end", () => {
      if (!(cut && attacked)) party.end();
    });
    party.on("close", () => relay.destroy());
    relay.on("close", () => {
      if (!(cut && attacked)) party.destroy();
    });
  });
  return {
    port: proxy.port,
    get cut() {
      return cut;
    },
    get reached() {
      return { up: gates.up?.milestone ?? 0, down: gates.down?.milestone ?? 0 };
    },
    close: () => proxy.close(),
  };
}

/**
 * One direction's TLS records, by milestone: 1 once its verdict passed the proxy, 2 once its
 * OPEN did (alone, or at the head of a full record), 3 once a full record after the OPEN did (a DATA frame: session tickets and
 * acknowledgements are smaller). Records of a milestone not below `pass` are held, and so is
 * everything after them.
 */
class RecordGate {
  readonly #rule: { pass: number; await: number };
  readonly #openBytes: number;
  #pending = Buffer.alloc(0);
  #milestone = 0;
  #holding = false;

  constructor(rule: { pass: number; await: number }, openBytes: number) {
    this.#rule = rule;
    this.#openBytes = openBytes;
  }

  get milestone(): number {
    return this.#milestone;
  }

  get done(): boolean {
    return this.#milestone >= this.#rule.await;
  }

  /** What of `chunk` may go on; records are judged once whole. */
  push(chunk: Buffer): Buffer {
    this.#pending = Buffer.concat([this.#pending, chunk]);
    const out: Buffer[] = [];
    while (this.#pending.length >= RECORD_HEADER_BYTES) {
      const body = this.#pending.readUInt16BE(3);
      const whole = RECORD_HEADER_BYTES + body;
      if (this.#pending.length < whole) break;
      const record = this.#pending.subarray(0, whole);
      this.#pending = this.#pending.subarray(whole);
      const next = this.#milestone + 1;
      const reaches =
        (next === 1 && body === VERDICT_RECORD_BODY_BYTES) ||
        // A side that has the peer's OPEN when it sends its own may send its first DATA in the
        // same write, and so in the same record.
        (next === 2 && (body === this.#openBytes || body === FULL_RECORD_BODY_BYTES)) ||
        (next === 3 && body === FULL_RECORD_BODY_BYTES);
      if (reaches) {
        this.#milestone = next;
        if (next > this.#rule.pass) this.#holding = true;
      }
      if (!this.#holding) out.push(record);
    }
    return Buffer.concat(out);
  }
}

/** The text of the party's hello (after MAGIC), once it is whole. */
function firstFrame(buffer: Buffer): string | undefined {
  const body = buffer.subarray(MAGIC.length);
  if (body.length < FRAME_HEADER_BYTES) return undefined;
  const length = body.readUInt32BE(0);
  if (body.length < FRAME_HEADER_BYTES + length) return undefined;
  return body.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length).toString();
}

/** Where TLS starts in the data plane's bytes: after the PAIRED frame, or undefined if not yet. */
function afterPaired(buffer: Buffer): number | undefined {
  let at = 0;
  while (buffer.length - at >= FRAME_HEADER_BYTES) {
    const end = at + FRAME_HEADER_BYTES + buffer.readUInt32BE(at);
    if (buffer.length < end) return undefined;
    const frame = buffer.subarray(at + FRAME_HEADER_BYTES, end).toString();
    at = end;
    if (frame.includes('"type":"paired"')) return at;
  }
  return undefined;
}
