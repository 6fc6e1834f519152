import { afterEach, describe, expect, it, vi } from "vitest";
import { sourcePrefix } from "../../dataplane/admission/source-prefix.ts";
import { requestHeadReader } from "../../dataplane/admission/websocket-upgrade.ts";
import { ByteQueue } from "../../protocol/byte-queue.ts";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from "../../protocol/frames.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

/** Bytes copied while `work` runs, through the two ways JS code copies bytes. */
function bytesCopiedBy(work: () => void): number {
  let copied = 0;
  const set = Uint8Array.prototype.set;
  vi.spyOn(Uint8Array.prototype, "set").mockImplementation(function (this: Uint8Array, source, offset) {
    copied += (source as ArrayLike<number>).length;
    set.call(this, source as ArrayLike<number>, offset);
  });
  const concat = Buffer.concat;
  vi.spyOn(Buffer, "concat").mockImplementation((list, total) => {
    for (const piece of list) copied += piece.length;
    return concat(list, total);
  });
  work();
  vi.restoreAllMocks();
  return copied;
}

const oneByteAtATime = (bytes: Uint8Array) => [...bytes].map((b) => Buffer.from([b]));

describe("parsers fed one byte at a time do linear work", () => {
  it("FrameDecoder copies a largest hello about once, not once per byte", () => {
    const frame = encodeFrame({ type: "hello", ticket: "t".repeat(MAX_FRAME_BYTES - 40) });
    const chunks = oneByteAtATime(frame);
    let decoded: unknown;
    const copied = bytesCopiedBy(() => {
      const decoder = new FrameDecoder();
      for (const chunk of chunks) decoder.push(chunk);
      decoded = decoder.next();
    });
    expect(decoded).toMatchObject({ type: "hello" });
    expect(copied).toBeLessThanOrEqual(2 * frame.length);
  });

  it("the WebSocket upgrade reader copies a largest head about once", () => {
    const maxBytes = 8 * 1024;
    const head = `GET / HTTP/1.1\r\nX-Padding: ${"p".repeat(maxBytes - 40)}\r\n\r\n`;
    const chunks = oneByteAtATime(Buffer.from(`${head}after`, "latin1"));
    let read: { head: string; rest: Buffer } | undefined;
    const copied = bytesCopiedBy(() => {
      const take = requestHeadReader(maxBytes);
      for (const chunk of chunks) {
        read = take(chunk);
        if (read) break;
      }
    });
    expect(read?.head).toBe(head.slice(0, -4));
    expect(copied).toBeLessThanOrEqual(2 * head.length);
  });

  it("the upgrade reader finds the head's end across chunks and after false starts", () => {
    const take = requestHeadReader(1024);
    expect(take(Buffer.from("GET / HTTP/1.1\r\nA: 1\r\r\n\r"))).toBeUndefined();
    expect(take(Buffer.from("\nrest"))).toEqual({
      head: "GET / HTTP/1.1\r\nA: 1\r",
      rest: Buffer.from("rest"),
    });
  });
});

describe("ByteQueue", () => {
  it("takes views when it can, copies across chunks, and keeps order", () => {
    const queue = new ByteQueue();
    queue.push(Buffer.from("abc"));
    queue.push(Buffer.from("defg"));
    expect(queue.byteAt(4)).toBe("e".charCodeAt(0));
    expect(Buffer.from(queue.take(2)).toString()).toBe("ab");
    expect(Buffer.from(queue.take(3)).toString()).toBe("cde");
    expect(queue.length).toBe(2);
    expect(Buffer.from(queue.take(2)).toString()).toBe("fg");
    expect(() => queue.take(1)).toThrow(RangeError);
  });
});

describe("source networks for the handshake caps", () => {
  it("are an IPv4 /24 and an IPv6 /64 by default, and any prefix length when configured", () => {
    expect(sourcePrefix("203.0.113.77", 24, 64)).toBe("203.0.113.0/24");
    expect(sourcePrefix("::ffff:203.0.113.77", 24, 64)).toBe("203.0.113.0/24");
    expect(sourcePrefix("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 24, 64)).toBe("2001:db8:1:2:0:0:0:0/64");
    expect(sourcePrefix("2001:db8::1", 24, 64)).toBe("2001:db8:0:0:0:0:0:0/64");
    expect(sourcePrefix("::1", 24, 128)).toBe("0:0:0:0:0:0:0:1/128");
    expect(sourcePrefix("203.0.113.77", 32, 64)).toBe("203.0.113.77/32");
    expect(sourcePrefix("203.0.113.77", 20, 64)).toBe("203.0.112.0/20");
    expect(sourcePrefix("2001:db8:abcd:ef01::1", 24, 56)).toBe("2001:db8:abcd:ef00:0:0:0:0/56");
  });
});
