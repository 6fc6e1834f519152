import { describe, expect, it } from "vitest";
import { heapRatios } from "../../bench/relay-cpu.ts";

const NAMES = ["tls-flock", "tls-haproxy", "tls-node-relay"];
const withOld64 = [
  ...NAMES.map((name) => ({ name })),
  { name: "tls-flock-old64", base: "tls-flock" },
  { name: "tls-node-relay-old64", base: "tls-node-relay" },
];

describe("bench relay-cpu's ratios of the -old<MB> variants", () => {
  it("compares each with V8's defaults, with a Node yardstick on the same flags, and with haproxy as it runs", () => {
    const ratios = heapRatios(withOld64, [64]);
    expect(ratios).toContainEqual(["tls-flock-old64", "tls-flock", "ratio_to_v8_defaults"]);
    expect(ratios).toContainEqual(["tls-node-relay-old64", "tls-node-relay", "ratio_to_v8_defaults"]);
    expect(ratios).toContainEqual(["tls-flock-old64", "tls-node-relay-old64", "ratio_to_node_relay"]);
    // haproxy takes no V8 flags: there is no tls-haproxy-old64 to compare with.
    expect(ratios).toContainEqual(["tls-flock-old64", "tls-haproxy", "ratio_to_haproxy"]);
    expect(ratios.some(([, base]) => base === "tls-haproxy-old64")).toBe(false);
  });
});
