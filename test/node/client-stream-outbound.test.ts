import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { DATA_HEADER_BYTES } from "../../client/stream/frames.ts";
import { Outbound } from "../../client/stream/outbound.ts";
import { HEADER_ROOMS_PER_BLOCK, OWN_WRITE_MIN_BYTES } from "../../client/stream/send-buffer.ts";

/** A transport that records each write it gets: a lone buffer, or the parts of one gathered write. */
function recordingTransport(): { transport: Duplex; writes: number[][] } {
  const writes: number[][] = [];
  const transport = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      writes.push([chunk.length]);
      callback();
    },
    writev(chunks, callback) {
      writes.push(chunks.map(({ chunk }) => (chunk as Buffer).length));
      callback();
    },
  });
  return { transport, writes };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("Outbound", () => {
  it("writes a frame with room for its header as one buffer; else a short payload gathered with its header, a long one on its own", async () => {
    const { transport, writes } = recordingTransport();
    const out = new Outbound(4 * 1024 * 1024, () => transport, { sent: () => {}, endAcknowledged: () => {} });
    // A part-filled block goes out after a turn; what later joins it starts mid-block, after
    // room for its header, until the block has HEADER_ROOMS_PER_BLOCK of them.
    for (let i = 0; i < HEADER_ROOMS_PER_BLOCK; i++) {
      out.write(Buffer.alloc(100), () => {});
      await turn();
    }
    out.write(Buffer.alloc(200), () => {});
    await turn();
    out.write(Buffer.alloc(OWN_WRITE_MIN_BYTES), () => {});
    await turn();
    expect(writes).toEqual([
      ...Array.from({ length: HEADER_ROOMS_PER_BLOCK }, () => [DATA_HEADER_BYTES + 100]),
      [DATA_HEADER_BYTES, 200],
      [DATA_HEADER_BYTES],
      [OWN_WRITE_MIN_BYTES],
    ]);
    out.stop();
  });
});
