import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ControlFrame } from "../../client/stream/control-frames.ts";
import {
  encodeControl,
  MAX_ABORT_MESSAGE_CHARS,
  MAX_CONTROL_FRAME_BYTES,
  MIN_WINDOW_BYTES,
} from "../../client/stream/control-frames.ts";
import {
  encodeAck,
  encodeClose,
  encodeDataHeader,
  encodeEnd,
  MAX_DATA_FRAME_BYTES,
  StreamFrameParser,
} from "../../client/stream/frames.ts";
import { FlockError } from "../../protocol/errors.ts";

type Parsed =
  | { type: "data"; offset: number; bytes: string }
  | { type: "end"; total: number }
  | { type: "ack"; received: number; endReceived: boolean }
  | { type: "close" }
  | ControlFrame;

/** Parses `bytes` fed in the given chunk sizes; DATA pieces of one frame are joined back. */
function parse(bytes: Buffer, chunkSizes: number[] = [bytes.length]): Parsed[] {
  const out: Parsed[] = [];
  const parser = new StreamFrameParser({
    data: (offset, piece) => {
      const last = out.at(-1);
      if (last?.type === "data" && last.offset + last.bytes.length / 2 === offset) {
        last.bytes += piece.toString("hex");
      } else out.push({ type: "data", offset, bytes: piece.toString("hex") });
    },
    end: (total) => out.push({ type: "end", total }),
    ack: (received, endReceived) => out.push({ type: "ack", received, endReceived }),
    control: (frame) => out.push(frame),
    close: () => out.push({ type: "close" }),
  });
  let at = 0;
  for (const size of chunkSizes) {
    parser.push(bytes.subarray(at, at + size));
    at += size;
  }
  if (at < bytes.length) parser.push(bytes.subarray(at));
  return out;
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof FlockError ? error.code : "not a FlockError";
  }
  return undefined;
}

const data = (offset: number, payload: Buffer) =>
  Buffer.concat([encodeDataHeader(offset, payload.length), payload]);
const open: ControlFrame = {
  type: "open",
  pair: "p1",
  channel: "payments",
  from: "acme/alice",
  to: "acme/bob",
  window: MIN_WINDOW_BYTES,
  resume: true,
};

describe("stream frames (wire version 2)", () => {
  it("round-trips every frame type, whatever the chunking", () => {
    const frames = Buffer.concat([
      encodeControl(open),
      data(0, Buffer.from("hello")),
      encodeAck(5, false),
      data(5, Buffer.alloc(300, 7)),
      encodeEnd(305),
      encodeAck(2 ** 53 - 1, true),
      encodeControl({
        type: "resume",
        proof: "x".repeat(43),
        received: 12,
        endReceived: false,
        window: 1 << 20,
      }),
      encodeControl({ type: "abort", code: "STREAM_ABORTED", message: "bye" }),
      encodeClose(),
    ]);
    const whole = parse(frames);
    expect(whole.map((f) => f.type)).toEqual([
      "open",
      "data",
      "ack",
      "data",
      "end",
      "ack",
      "resume",
      "abort",
      "close",
    ]);
    expect(whole[0]).toEqual(open);
    expect(whole[4]).toEqual({ type: "end", total: 305 });
    expect(whole[5]).toEqual({ type: "ack", received: 2 ** 53 - 1, endReceived: true });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 60 }), (sizes) => {
        expect(parse(frames, sizes)).toEqual(whole);
      }),
    );
  });

  it("hands DATA payloads on as they arrive, without waiting for the whole frame", () => {
    const pieces: number[] = [];
    const parser = new StreamFrameParser({
      data: (_offset, piece) => pieces.push(piece.length),
      end: () => {},
      ack: () => {},
      control: () => {},
      close: () => {},
    });
    const frame = data(0, Buffer.alloc(MAX_DATA_FRAME_BYTES));
    parser.push(frame.subarray(0, 1000));
    expect(pieces).toEqual([1000 - 13]);
    expect(parser.midFrame).toBe(true);
    parser.push(frame.subarray(1000));
    expect(parser.midFrame).toBe(false);
  });

  it("enforces MAX_DATA_FRAME_BYTES and refuses empty DATA frames", () => {
    expect(codeOf(() => parse(encodeDataHeader(0, MAX_DATA_FRAME_BYTES + 1)))).toBe("BAD_STREAM_FRAME");
    expect(codeOf(() => parse(encodeDataHeader(0, 0)))).toBe("BAD_STREAM_FRAME");
    expect(codeOf(() => parse(encodeDataHeader(0, MAX_DATA_FRAME_BYTES)))).toBeUndefined();
  });

  it("enforces MAX_CONTROL_FRAME_BYTES before buffering the body", () => {
    const header = Buffer.from([0x04, 0, 0]);
    header.writeUInt16BE(MAX_CONTROL_FRAME_BYTES + 1, 1);
    expect(codeOf(() => parse(header))).toBe("BAD_STREAM_FRAME");
    expect(() => encodeControl({ ...open, pair: "p".repeat(MAX_CONTROL_FRAME_BYTES) })).toThrow(/exceeds/);
  });

  it("cuts ABORT messages to MAX_ABORT_MESSAGE_CHARS so the frame always fits", () => {
    const [frame] = parse(encodeControl({ type: "abort", code: "INTERNAL", message: "m".repeat(10_000) }));
    expect(frame).toEqual({ type: "abort", code: "INTERNAL", message: "m".repeat(MAX_ABORT_MESSAGE_CHARS) });
  });

  it("refuses unknown types, unsafe integers, unknown ACK flags and control frames of the wrong shape", () => {
    const bad = (bytes: Buffer) => codeOf(() => parse(bytes));
    expect(bad(Buffer.from([0x00]))).toBe("BAD_STREAM_FRAME");
    expect(bad(Buffer.from([0x7f]))).toBe("BAD_STREAM_FRAME");
    const tooBig = encodeEnd(0);
    tooBig.writeUInt32BE(2 ** 21, 1);
    expect(bad(tooBig)).toBe("BAD_STREAM_FRAME");
    const flags = encodeAck(0, true);
    flags[9] = 0x02;
    expect(bad(flags)).toBe("BAD_STREAM_FRAME");
    const control = (type: number, body: string) => {
      const json = Buffer.from(body);
      const header = Buffer.from([type, 0, 0]);
      header.writeUInt16BE(json.length, 1);
      return Buffer.concat([header, json]);
    };
    const openBody = {
      pair: "p",
      channel: "c",
      from: "a/b",
      to: "a/c",
      window: MIN_WINDOW_BYTES,
      resume: false,
    };
    expect(bad(control(0x04, JSON.stringify(openBody)))).toBeUndefined();
    expect(bad(control(0x04, JSON.stringify({ ...openBody, extra: 1 })))).toBe("BAD_STREAM_FRAME");
    expect(bad(control(0x04, JSON.stringify({ ...openBody, window: 1 })))).toBe("BAD_STREAM_FRAME");
    expect(bad(control(0x04, JSON.stringify({ ...openBody, channel: "" })))).toBe("BAD_STREAM_FRAME");
    expect(
      bad(
        control(
          0x05,
          JSON.stringify({ proof: "p", received: -1, endReceived: false, window: MIN_WINDOW_BYTES }),
        ),
      ),
    ).toBe("BAD_STREAM_FRAME");
    expect(bad(control(0x06, JSON.stringify({ code: "X" })))).toBe("BAD_STREAM_FRAME");
    expect(bad(control(0x06, "[1]"))).toBe("BAD_STREAM_FRAME");
    expect(bad(control(0x06, "{"))).toBe("BAD_STREAM_FRAME");
    expect(bad(Buffer.concat([Buffer.from([0x06, 0, 2]), Buffer.from([0xc3, 0x28])]))).toBe(
      "BAD_STREAM_FRAME",
    );
  });

  it("never throws anything but BAD_STREAM_FRAME on random input", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const code = codeOf(() => parse(Buffer.from(bytes)));
        expect(code === undefined || code === "BAD_STREAM_FRAME").toBe(true);
      }),
    );
  });

  it("stops before the next frame when asked, and says how much it consumed", () => {
    const bytes = Buffer.concat([encodeControl(open), encodeAck(0, false)]);
    const parser: StreamFrameParser = new StreamFrameParser({
      data: () => {},
      end: () => {},
      ack: () => {
        throw new Error("read past the stop");
      },
      control: () => parser.stop(),
      close: () => {},
    });
    expect(parser.push(bytes)).toBe(bytes.length - 10);
  });
});
