import { beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { createIdentity, encodeIdentityBundle, loadIdentity } from "../../client/identity.ts";
import type { TestCa } from "../helpers/system.ts";
import { identityEnv, issuePartyCertificate, makeCa, offlineIdentity } from "../helpers/system.ts";

const configInvalid = (variable: string) =>
  expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringContaining(variable) });

describe("loadIdentity", () => {
  let relayCa: TestCa;
  let userCa: TestCa;
  let alice: IdentityMaterials;

  beforeAll(async () => {
    relayCa = await makeCa("relay-test");
    userCa = await makeCa("acme");
    alice = await offlineIdentity("acme", "alice", { relayCa, userCa }, { dest: "bob" });
  });

  it("reads user and party from the party certificate's SAN URI", () => {
    const identity = loadIdentity(identityEnv(alice));
    expect(identity).toMatchObject({ user: "acme", party: "alice", dest: "bob", url: alice.url });
  });

  it("reads the single FLOCK_PARTY bundle, with DEST overriding its default peer", () => {
    const bundle = encodeIdentityBundle(alice);
    expect(loadIdentity({ FLOCK_PARTY: bundle })).toMatchObject({
      user: "acme",
      party: "alice",
      dest: "bob",
    });
    expect(loadIdentity({ FLOCK_PARTY: bundle, DEST: "carol" }).dest).toBe("carol");
  });

  it.each([
    "FLOCK_URL",
    "RELAY_CA",
    "RELAY_CERT",
    "RELAY_KEY",
    "USER_CA",
    "PARTY_CERT",
    "PARTY_KEY",
  ])("names %s when it is missing", (variable) => {
    const env = identityEnv(alice);
    delete env[variable];
    expect(() => loadIdentity(env)).toThrowError(configInvalid(variable));
  });

  it.each([
    "RELAY_CA",
    "RELAY_CERT",
    "USER_CA",
    "PARTY_CERT",
  ])("names %s when it is not a certificate", (variable) => {
    expect(() =>
      loadIdentity({ ...identityEnv(alice), [variable]: "-----BEGIN CERTIFICATE-----\nxx\n" }),
    ).toThrowError(configInvalid(variable));
  });

  it("names FLOCK_URL when it is not an http(s) URL", () => {
    expect(() => loadIdentity({ ...identityEnv(alice), FLOCK_URL: "ftp://x" })).toThrowError(
      configInvalid("FLOCK_URL"),
    );
    expect(() => loadIdentity({ ...identityEnv(alice), FLOCK_URL: "not a url" })).toThrowError(
      configInvalid("FLOCK_URL"),
    );
  });

  it("names DEST when it is not a party name", () => {
    expect(() => loadIdentity({ ...identityEnv(alice), DEST: "../etc" })).toThrowError(configInvalid("DEST"));
  });

  it("refuses a key that does not belong to its certificate", () => {
    expect(() => loadIdentity({ ...identityEnv(alice), PARTY_KEY: alice.relayKey })).toThrowError(
      configInvalid("PARTY_KEY"),
    );
    expect(() => loadIdentity({ ...identityEnv(alice), RELAY_KEY: "garbage" })).toThrowError(
      configInvalid("RELAY_KEY"),
    );
  });

  it("refuses a party certificate from another user's CA", async () => {
    const other = await issuePartyCertificate(await makeCa("mallory"), "acme", "alice");
    const env = { ...identityEnv(alice), PARTY_CERT: other.cert, PARTY_KEY: other.key };
    expect(() => loadIdentity(env)).toThrowError(configInvalid("PARTY_CERT"));
  });

  it("refuses relay and party certificates that name different parties", async () => {
    const relay = await issuePartyCertificate(relayCa, "acme", "bob");
    const env = { ...identityEnv(alice), RELAY_CERT: relay.cert, RELAY_KEY: relay.key };
    expect(() => loadIdentity(env)).toThrowError(configInvalid("RELAY_CERT"));
  });

  it.each([
    ["not base64url JSON", "%%%"],
    ["not an object", Buffer.from("[1]").toString("base64url")],
    ["missing a field", Buffer.from(JSON.stringify({ url: "http://x" })).toString("base64url")],
  ])("names FLOCK_PARTY when the bundle is %s", (_what, bundle) => {
    expect(() => loadIdentity({ FLOCK_PARTY: bundle })).toThrowError(configInvalid("FLOCK_PARTY"));
  });

  it("names the bundle field that is wrong", () => {
    const bundle = encodeIdentityBundle({ ...alice, userCa: "nope" });
    expect(() => loadIdentity({ FLOCK_PARTY: bundle })).toThrowError(configInvalid("FLOCK_PARTY.userCa"));
  });

  it("accepts an explicit identity object and names its bad field", () => {
    expect(createIdentity(alice)).toMatchObject({ user: "acme", party: "alice" });
    expect(() => createIdentity({ ...alice, partyKey: "" })).toThrowError(configInvalid("identity.partyKey"));
  });
});

describe("connect options", () => {
  let alice: IdentityMaterials;
  beforeAll(async () => {
    alice = await offlineIdentity("acme", "alice", {
      relayCa: await makeCa("r"),
      userCa: await makeCa("acme"),
    });
  });

  it.each([
    ["no destination", {}],
    ["a destination that is not a name", { dest: "bob/../carol" }],
    ["a bad channel", { dest: "bob", channel: "a b" }],
    ["an unknown transport", { dest: "bob", transport: "udp" }],
    ["a deadline that is not positive", { dest: "bob", deadlineMs: 0 }],
    ["a setup silence bound that is not positive", { dest: "bob", setupSilenceMs: -1 }],
    ["a setup silence bound that is not a number", { dest: "bob", setupSilenceMs: Number.NaN }],
  ])("refuses %s with CONFIG_INVALID before any network call", async (_what, options) => {
    await expect(openChannel({ identity: alice, ...(options as object) })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });
});
