import { describe, expect, it } from "vitest";
import { relayAddress } from "../../cli/relay-address.ts";
import type { PartyConfig } from "../../client/identity.ts";
import { formatHostPort, MAX_PORT, parseHostPort } from "../../protocol/host-port.ts";

describe("parseHostPort", () => {
  it.each([
    ["relay.example.com:6000", { host: "relay.example.com", port: 6000 }],
    ["10.0.0.5:1", { host: "10.0.0.5", port: 1 }],
    [" [::1]:65535 ", { host: "::1", port: MAX_PORT }],
  ])("reads %j", (value, expected) => {
    expect(parseHostPort(value)).toEqual(expected);
    expect(parseHostPort(formatHostPort(expected))).toEqual(expected);
  });

  it.each([
    "relay:0",
    "relay:65536",
    "relay:99999",
    "relay:123456",
    "relay",
    ":6000",
    "::1:6000",
    "a b:6000",
  ])("refuses %j with CONFIG_INVALID", (value) => {
    expect(() => parseHostPort(value)).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
  });

  it("takes port 0 only where any free port is asked for", () => {
    expect(parseHostPort("127.0.0.1:0", { anyPort: true })).toEqual({ host: "127.0.0.1", port: 0 });
    expect(() => parseHostPort("127.0.0.1:65536", { anyPort: true })).toThrow(/from 0 to 65535/);
  });
});

describe("flock env --relay HOST:PORT", () => {
  // Neither form reads the identity or asks the worker anything.
  const identity = {} as PartyConfig;
  const noAdmin = () => Promise.reject(new Error("the admin API must not be called"));

  it("prints a valid address as RELAY reads it", async () => {
    expect(await relayAddress(" [::1]:6000", identity, noAdmin)).toBe("[::1]:6000");
  });

  it.each([
    "relay.example.com:99999",
    "relay.example.com:0",
    "[::1]:70000",
  ])("refuses %j with CONFIG_INVALID", async (value) => {
    await expect(relayAddress(value, identity, noAdmin)).rejects.toMatchObject({ code: "CONFIG_INVALID" });
  });
});
