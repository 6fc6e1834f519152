import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);

/**
 * `ws` masks every client frame and unmasks every frame it receives; without bufferutil it
 * does so in a JavaScript byte loop, which cut the ws transport's throughput by about 2.5×
 * (docs/benchmarks.md, "WebSocket masking"). bufferutil is optional (no prebuilt binary on
 * some platforms), so this checks that a fresh `npm ci` here leaves its native build loadable
 * and correct.
 */
describe("ws native masking (bufferutil)", () => {
  it("loads and masks exactly as the WebSocket spec's XOR does", () => {
    const { mask } = require("bufferutil") as {
      mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
    };
    const source = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
    const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const output = Buffer.alloc(1010);
    mask(source, key, output, 10, source.length);
    const expected = Buffer.from(source.map((byte, i) => byte ^ (key[i & 3] ?? 0)));
    expect(output.subarray(10)).toEqual(expected);
    expect(output.subarray(0, 10)).toEqual(Buffer.alloc(10));
  });
});
