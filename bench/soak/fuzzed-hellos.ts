/**
 * Hostile first bytes for a data plane, generated from a seed with fast-check so a run can be
 * repeated case for case: noise, the magic then noise, frames of any length with any JSON,
 * hellos and direct hellos with wrong fields, WebSocket upgrade heads and TLS records of
 * noise, sent whole or a few bytes at a time. None may be paired or even wait for a peer, and
 * none may disturb the parties the data plane serves meanwhile.
 */
import { connect } from "node:net";
import fc from "fast-check";
import { FRAME_HEADER_BYTES, MAGIC, MAX_FRAME_BYTES } from "../../protocol/frames.ts";

/** A case the data plane leaves open this long is closed by the soak (the hello deadline is 10 s). */
const CASE_TIMEOUT_MS = 15_000;

export interface FuzzCase {
  bytes: Uint8Array;
  /** Written this many bytes at a time. */
  chunkBytes: number;
  /** Half-close after the bytes, as a client that gave up would; otherwise just wait. */
  endAfter: boolean;
}

export interface FuzzCounts {
  sent: number;
  /** ERROR frames by code. */
  refusals: Record<string, number>;
  /** Closed without an ERROR frame (TLS or HTTP noise, or a connection closed mid-frame). */
  closedQuietly: number;
  /** Still open after CASE_TIMEOUT_MS. */
  leftOpen: number;
  /** Answered `waiting` or `paired`: must stay 0. */
  accepted: number;
}

function frame(body: Uint8Array, declared = body.length): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, declared >>> 0, false);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value) ?? "null");
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const text = (s: string) => new TextEncoder().encode(s);

const noise = fc.uint8Array({ maxLength: 2048 });
const helloShaped = fc.record(
  {
    type: fc.constantFrom("hello", "direct", "HELLO", "paired", ""),
    ticket: fc.oneof(fc.string(), fc.base64String(), fc.integer()),
    dest: fc.oneof(fc.string({ maxLength: 70 }), fc.constant("../x")),
    tag: fc.string({ maxLength: 70 }),
    cert: fc.oneof(fc.base64String({ maxLength: 600 }), fc.constant(null)),
    sig: fc.string({ maxLength: 120 }),
  },
  { requiredKeys: ["type"] },
);

const fuzzBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  noise,
  noise.map((n) => concat(MAGIC, n)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => concat(MAGIC, frame(json(v)))),
  helloShaped.map((h) => concat(MAGIC, frame(json(h)))),
  fc
    .tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), noise)
    .map(([declared, body]) => concat(MAGIC, frame(body, declared))),
  fc
    .integer({ min: MAX_FRAME_BYTES + 1, max: 4 * MAX_FRAME_BYTES })
    .map((n) => concat(MAGIC, frame(new Uint8Array(n)))),
  fc
    .array(fc.tuple(fc.stringMatching(/^[\w-]{1,20}$/), fc.string({ maxLength: 200 })), { maxLength: 12 })
    .map((headers) =>
      text(`GET /${headers.length} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`),
    ),
  noise.map((n) => concat(Uint8Array.of(0x16, 0x03, 0x01), n)),
);

const fuzzCase: fc.Arbitrary<FuzzCase> = fc.record({
  bytes: fuzzBytes,
  chunkBytes: fc.constantFrom(1, 7, 512, 1 << 20),
  endAfter: fc.boolean(),
});

/** `count` cases from `seed`; the same seed gives the same cases. */
export function fuzzCases(seed: number, count: number): FuzzCase[] {
  return count === 0 ? [] : fc.sample(fuzzCase, { seed, numRuns: count });
}

export function emptyFuzzCounts(): FuzzCounts {
  return { sent: 0, refusals: {}, closedQuietly: 0, leftOpen: 0, accepted: 0 };
}

/** Frames in what a data plane answered on a raw TCP connection (a challenge first, then maybe an ERROR). */
function framesIn(reply: Buffer): Array<{ type?: unknown; code?: unknown }> {
  const frames: Array<{ type?: unknown; code?: unknown }> = [];
  let offset = 0;
  while (reply.length - offset >= FRAME_HEADER_BYTES) {
    const length = reply.readUInt32BE(offset);
    if (length > MAX_FRAME_BYTES || reply.length - offset - FRAME_HEADER_BYTES < length) break;
    try {
      frames.push(JSON.parse(reply.subarray(offset + 4, offset + 4 + length).toString("utf8")));
    } catch {
      break;
    }
    offset += FRAME_HEADER_BYTES + length;
  }
  return frames;
}

/** Sends one case to 127.0.0.1:`port` and files what the data plane did with it in `counts`. */
export async function sendFuzzCase(port: number, fuzz: FuzzCase, counts: FuzzCounts): Promise<void> {
  counts.sent++;
  const reply = await new Promise<{ bytes: Buffer; timedOut: boolean }>((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), timedOut: true });
    }, CASE_TIMEOUT_MS);
    socket.on("data", (c: Buffer) => chunks.push(c));
    // The data plane ended its side: end ours too, or the connection stays half open.
    socket.once("end", () => socket.end());
    socket.on("error", () => {});
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(chunks), timedOut: false });
    });
    socket.once("connect", async () => {
      for (let at = 0; at < fuzz.bytes.length && !socket.destroyed; at += fuzz.chunkBytes) {
        if (!socket.write(fuzz.bytes.subarray(at, at + fuzz.chunkBytes))) {
          await new Promise((resolve) => socket.once("drain", resolve));
        }
      }
      if (fuzz.endAfter && !socket.destroyed) socket.end();
    });
  });
  if (reply.timedOut) counts.leftOpen++;
  const frames = framesIn(reply.bytes);
  if (frames.some((f) => f.type === "waiting" || f.type === "paired")) counts.accepted++;
  const refusal = frames.find((f) => f.type === "error");
  if (typeof refusal?.code === "string")
    counts.refusals[refusal.code] = (counts.refusals[refusal.code] ?? 0) + 1;
  else if (!reply.timedOut) counts.closedQuietly++;
}
