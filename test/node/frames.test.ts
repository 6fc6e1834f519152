import { describe, expect, it } from "vitest";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, parseClientFrame } from "../../protocol/frames.ts";

describe("frame codec", () => {
  it("decodes a frame fed one byte at a time and keeps the bytes after it", () => {
    const bytes = encodeFrame({ type: "waiting" });
    const decoder = new FrameDecoder();
    const all = new Uint8Array([...bytes, 1, 2, 3]);
    const frames: unknown[] = [];
    for (const b of all) {
      decoder.push(new Uint8Array([b]));
      const f = decoder.next();
      if (f !== undefined) frames.push(f);
    }
    expect(frames).toEqual([{ type: "waiting" }]);
    expect([...decoder.rest()]).toEqual([1, 2, 3]);
  });

  it("refuses a declared length over the cap before the body arrives", () => {
    const decoder = new FrameDecoder();
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
    expect(() => decoder.push(header)).toThrowError(expect.objectContaining({ code: "HELLO_TOO_LARGE" }));
  });

  it("takes a hello's resumable flag only as a boolean, and hellos without it as before", () => {
    const hello = { type: "hello", ticket: "t", cert: "c", sig: "s" };
    expect(parseClientFrame(hello)).toEqual(hello);
    expect(parseClientFrame({ ...hello, resumable: true })).toMatchObject({ resumable: true });
    const direct = { type: "direct", dest: "bob", tag: "x", resumable: false };
    expect(parseClientFrame(direct)).toEqual(direct);
    for (const bad of [
      { ...hello, resumable: "yes" },
      { ...direct, resumable: 1 },
    ]) {
      expect(() => parseClientFrame(bad)).toThrowError(expect.objectContaining({ code: "BAD_FRAME" }));
    }
  });
});
