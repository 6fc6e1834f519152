import { describe, expect, it } from "vitest";
import { parseHost } from "../../../worker/pki/hosts.ts";

describe("parseHost", () => {
  it.each([
    ["127.0.0.1", "ip"],
    ["10.255.0.9", "ip"],
    ["::1", "ip"],
    ["fe80::1:2", "ip"],
    ["2001:db8::8a2e:370:7334", "ip"],
    ["localhost", "dns"],
    ["relay-1.example.com", "dns"],
    ["1relay.example", "dns"],
  ])("%s is %s", (host, kind) => {
    expect(parseHost(host)).toEqual({ kind, value: host });
  });

  it.each([
    "256.0.0.1",
    "1.2.3",
    "123",
    "1:2:3:4:5:6:7:8:9",
    ":::",
    "a b",
    "a/b",
    "-a.com",
    "a..b",
    "",
    "x".repeat(254),
    "[::1]",
  ])("refuses %j", (host) => {
    expect(parseHost(host)).toBeUndefined();
  });

  it.each([
    ["::FFFF:127.0.0.1", "::ffff:7f00:1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
  ])("writes IPv6 %s in canonical form %s", (host, value) => {
    expect(parseHost(host)).toEqual({ kind: "ip", value });
  });
});
