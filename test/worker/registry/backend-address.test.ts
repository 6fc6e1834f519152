import { describe, expect, it } from "vitest";
import { privateAddressKind } from "../../../worker/registry/backend-address.ts";
import { adminPost, expectError } from "../support/fixtures.ts";

/** The hostname as the worker judges it: after the URL parser has normalised it. */
const kindOf = (apihost: string) => privateAddressKind(new URL(apihost).hostname);

describe("privateAddressKind", () => {
  it.each([
    ["http://127.0.0.1:8080", "loopback"],
    ["http://127.1", "loopback"],
    ["http://2130706433", "loopback"],
    ["http://0x7f000001", "loopback"],
    ["http://localhost:3233", ".localhost name"],
    ["http://LocalHost.", ".localhost name"],
    ["http://api.localhost", ".localhost name"],
    ["http://169.254.169.254", "link-local"],
    ["http://metadata.google.internal", ".internal name"],
    ["http://printer.local", ".local name"],
    ["http://router.home.arpa", ".home.arpa name"],
    ["http://10.1.2.3", "private"],
    ["http://172.31.255.255", "private"],
    ["http://192.168.0.10", "private"],
    ["http://100.64.0.1", "carrier-grade NAT"],
    ["http://0.0.0.0", "this-network"],
    ["http://198.18.0.1", "benchmarking"],
    ["http://224.0.0.1", "multicast or reserved"],
    ["http://255.255.255.255", "multicast or reserved"],
    ["http://[::1]", "loopback"],
    ["http://[::]", "unspecified"],
    ["http://[fe80::1]", "link-local"],
    ["http://[fd12:3456::1]", "unique local"],
    ["http://[fc00::1]", "unique local"],
    ["http://[fec0::1]", "site-local"],
    ["http://[ff02::1]", "multicast"],
    ["http://[::ffff:127.0.0.1]", "loopback"],
    ["http://[::ffff:169.254.169.254]", "link-local"],
    ["http://[64:ff9b::10.0.0.1]", "private"],
  ])("%s is %s", (apihost, kind) => {
    expect(kindOf(apihost)).toBe(kind);
  });

  it.each([
    "https://openwhisk.example.com",
    "https://8.8.8.8",
    "https://172.32.0.1",
    "https://100.128.0.1",
    "https://169.255.0.1",
    "https://[2001:db8::1]",
    "https://[::ffff:8.8.8.8]",
    "https://localhost.example.com",
    "https://internal.example.com",
  ])("%s is public", (apihost) => {
    expect(kindOf(apihost)).toBeUndefined();
  });
});

describe("registering a backend on a private address", () => {
  const backend = (name: string, apihost: string, extra: Record<string, unknown> = {}) =>
    adminPost("/v1/backends", { name, apihost, auth: "u:k", shared: true, ...extra });

  it("refuses it with BACKEND_ADDRESS_PRIVATE unless allowPrivateAddress is true", async () => {
    const refused = await backend("meta", "http://169.254.169.254");
    const body = (await refused.clone().json()) as { error: string };
    expect(body.error).toContain("link-local");
    expect(body.error).toContain("--allow-private-address");
    await expectError(refused, 400, "BACKEND_ADDRESS_PRIVATE");
    await expectError(await backend("loop", "localhost:3233"), 400, "BACKEND_ADDRESS_PRIVATE");
    await expectError(
      await backend("loop", "http://127.0.0.1:3233", { allowPrivateAddress: "yes" }),
      400,
      "BAD_REQUEST",
    );
    expect((await backend("loop", "http://127.0.0.1:3233", { allowPrivateAddress: true })).status).toBe(201);
    expect((await backend("public", "https://ow.example.com")).status).toBe(201);
  });
});
