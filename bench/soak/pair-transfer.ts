/**
 * One soak pair: two parties open an end-to-end channel through the real worker and data
 * planes, each sends `bytes` of its own keystream and reads the other's, and every byte is
 * checked: length and sha256 of what arrived against what was sent. A direction that ends
 * cleanly short of its length is a silent loss; one that ends in an error is a break the
 * application was told about.
 */
import { createCipheriv, createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import type { ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { Transport } from "../../client/dial.ts";
import type { IdentityMaterials } from "../../client/identity.ts";

const WRITE_CHUNK_BYTES = 64 * 1024;
/** A direction with no byte for this long counts as broken (a hung stream is a failure too). */
export const STALL_TIMEOUT_MS = 60_000;

export interface PartySpec {
  identity: IdentityMaterials;
  /** The other party's name. */
  dest: string;
  transport: Transport;
}

export type DirectionResult =
  | { kind: "complete"; bytes: number }
  /** Ended as a clean end with the wrong bytes: what an application would take for the whole stream. */
  | { kind: "lost"; received: number; missing: number; digestMatches: false }
  /** Ended in an error (or a stall): the application knows it did not get everything. */
  | { kind: "broken"; received: number; why: string };

export type PairResult =
  | {
      kind: "opened";
      directions: [DirectionResult, DirectionResult];
      relay: string;
      /** Both ends speak wire version 2: ends are checked and broken transports resume. */
      framed: boolean;
    }
  /** `why`: the error code, and for CONNECT_TIMEOUT the last attempt's (`CONNECT_TIMEOUT after DIAL_FAILED`). */
  | { kind: "open-failed"; why: string };

/** A keystream no two pairs share, so bytes crossed between pairs cannot pass the check. */
function keystream(seed: string): (length: number) => Buffer {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(WRITE_CHUNK_BYTES);
  return (length) => cipher.update(length === zeros.length ? zeros : zeros.subarray(0, length));
}

/** Writes `bytes` of the keystream with backpressure, then ends; resolves with the sha256 of what was written. */
async function send(stream: Duplex, seed: string, bytes: number): Promise<string> {
  const next = keystream(seed);
  const hash = createHash("sha256");
  for (let sent = 0; sent < bytes && !stream.destroyed; ) {
    const chunk = next(Math.min(WRITE_CHUNK_BYTES, bytes - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off("drain", done);
          stream.off("close", done);
          resolve();
        };
        stream.once("drain", done);
        stream.once("close", done);
      });
    }
  }
  if (!stream.destroyed) stream.end();
  return hash.digest("hex");
}

/** Reads until the end (or an error, or a stall); the digest and count of what came. */
function receive(stream: Duplex): Promise<{ digest: string; received: number; error?: string }> {
  return new Promise((resolve) => {
    const hash = createHash("sha256");
    let received = 0;
    let settled = false;
    const settle = (error?: string) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      resolve({ digest: hash.digest("hex"), received, ...(error ? { error } : {}) });
    };
    let lastByteAt = Date.now();
    const watch = setInterval(() => {
      if (Date.now() - lastByteAt > STALL_TIMEOUT_MS) {
        stream.destroy();
        settle(`stalled: no byte for ${STALL_TIMEOUT_MS} ms`);
      }
    }, 1_000);
    stream.on("data", (chunk: Buffer) => {
      received += chunk.length;
      lastByteAt = Date.now();
      hash.update(chunk);
    });
    stream.once("end", () => settle());
    stream.once("error", (error: Error & { code?: string }) => settle(error.code ?? error.message));
    stream.once("close", () => settle("closed without an end"));
  });
}

function judge(
  sent: string,
  got: { digest: string; received: number; error?: string },
  bytes: number,
): DirectionResult {
  if (got.error !== undefined) return { kind: "broken", received: got.received, why: got.error };
  if (got.received === bytes && got.digest === sent) return { kind: "complete", bytes };
  return { kind: "lost", received: got.received, missing: bytes - got.received, digestMatches: false };
}

/** Opens the channel for both parties (channel names the attempt), moves the bytes, checks them. */
export async function transferPair(
  a: PartySpec,
  b: PartySpec,
  channel: string,
  bytes: number,
  options: { deadlineMs: number; resumeDeadlineMs: number; onEvent: (event: ConnectEvent) => void },
): Promise<PairResult> {
  const open = (side: PartySpec) =>
    openChannel({
      identity: side.identity,
      dest: side.dest,
      channel,
      transport: side.transport,
      deadlineMs: options.deadlineMs,
      stream: { resumeDeadlineMs: options.resumeDeadlineMs },
      onEvent: options.onEvent,
    });
  const opened = await Promise.allSettled([open(a), open(b)]);
  const [first, second] = opened;
  if (first.status === "rejected" || second.status === "rejected") {
    for (const o of opened) if (o.status === "fulfilled") o.value.socket.destroy();
    const failed = opened.find((o) => o.status === "rejected") as PromiseRejectedResult;
    const reason = failed.reason as { code?: string; message?: string; cause?: { code?: string } };
    const why = reason.code ?? String(reason.message);
    // A timeout says what the last attempt ran into: that tells one failure from another.
    const last = reason.code === "CONNECT_TIMEOUT" ? reason.cause?.code : undefined;
    return { kind: "open-failed", why: last ? `${why} after ${last}` : why };
  }
  const [toB, toA] = [first.value.socket, second.value.socket];
  for (const s of [toB, toA]) s.on("error", () => {});
  const [sentAB, sentBA, gotAtB, gotAtA] = await Promise.all([
    send(toB, `${channel}/a`, bytes),
    send(toA, `${channel}/b`, bytes),
    receive(toA),
    receive(toB),
  ]);
  toB.destroy();
  toA.destroy();
  return {
    kind: "opened",
    relay: first.value.relay,
    framed: first.value.framed && second.value.framed,
    directions: [judge(sentAB, gotAtB, bytes), judge(sentBA, gotAtA, bytes)],
  };
}
