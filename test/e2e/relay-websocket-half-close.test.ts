/**
 * A WebSocket has no half-close, but the end-to-end TLS above it carries its own
 * (close_notify), so a party whose peer has finished may still be sending. Found by the
 * soak: when the peer on tcp or tls ended first, the data plane closed the WebSocket side.
 * On a raw (version-1) stream the bytes that side still had to send were lost while the peer
 * saw a clean end; on wire version 2 every such pair had to resume.
 */
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ConnectEvent } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { Transport } from "../../client/dial.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { firstEvent } from "../helpers/first-event.ts";
import { useSystemWithPair } from "../helpers/system-suite.ts";

/** Written in backpressured pieces, so most of it is still to send when the peer's end arrives. */
const LATE_BYTES = 8 * 1024 * 1024;
const PIECE_BYTES = 64 * 1024;

const fx = useSystemWithPair();

function digestOfAll(stream: Duplex): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    stream.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.once("end", () => resolve({ bytes, sha256: hash.digest("hex") }));
    stream.once("error", reject);
  });
}

describe.each([
  ["ws", "tcp", true],
  ["wss", "tls", true],
  ["ws", "wss", true],
  ["ws", "tcp", false],
  ["wss", "tls", false],
] as const)("a %s side whose %s peer ended first (wire version 2: %s)", (late: Transport, early: Transport, framing) => {
  it("still delivers everything it sends after the peer's end, on the same transport", async () => {
    // A listener left behind per drain wait fails this test through the setup file fail-on-listener-leaks.ts.
    const channel = `late-${late}-${early}-${framing}`;
    const events: ConnectEvent[] = [];
    const open = (identity: IdentityMaterials, transport: Transport) =>
      openChannel({
        identity,
        transport,
        channel,
        deadlineMs: 20_000,
        stream: { framing },
        onEvent: (event) => events.push(event),
      });
    const [lateSide, earlySide] = await Promise.all([open(fx.alice, late), open(fx.bob, early)]);
    expect([lateSide.framed, earlySide.framed]).toEqual([framing, framing]);
    fx.sockets.push(lateSide.socket, earlySide.socket);
    const received = digestOfAll(earlySide.socket);
    const peerEnded = new Promise((resolve) => lateSide.socket.once("end", resolve));
    lateSide.socket.resume();
    earlySide.socket.end("done already");
    await peerEnded;
    const lateErrors: string[] = [];
    lateSide.socket.on("error", (error) => lateErrors.push(error.message));
    const sent = createHash("sha256");
    for (let offset = 0; offset < LATE_BYTES && !lateSide.socket.destroyed; offset += PIECE_BYTES) {
      const piece = Buffer.alloc(PIECE_BYTES, offset / PIECE_BYTES);
      sent.update(piece);
      if (!lateSide.socket.write(piece)) {
        await firstEvent(lateSide.socket, ["drain", "close"]);
      }
    }
    lateSide.socket.end();
    expect(lateErrors).toEqual([]);
    expect(await received).toEqual({ bytes: LATE_BYTES, sha256: sent.digest("hex") });
    expect(events.filter((e) => e.type === "broken")).toEqual([]);
  });
});
