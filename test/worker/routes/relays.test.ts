import "reflect-metadata";
import { env } from "cloudflare:test";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import type { IssuedCertificate, Page, RelayInfo, RelayReportResponse } from "../../../protocol/api.ts";
import { RELAY_REPORT_INTERVAL_SECONDS } from "../../../protocol/api.ts";
import { MAX_RELAY_HOSTS } from "../../../worker/registry/register-relay.ts";
import {
  admin,
  adminPost,
  createParty,
  createRelay,
  createUser,
  expectError,
  IDLE_LOAD,
  makeCsr,
  postSigned,
  reportLoad,
  type Signer,
  signAs,
  thumbprintOfPem,
} from "../support/fixtures.ts";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const REPORT = "/v1/relays/report";

describe("POST /v1/relays", () => {
  it("signs a data plane server certificate: 201 IssuedCertificate<RelayInfo>", async () => {
    const { pem } = await makeCsr({ subject: "CN=edge-1, OU=flock-relay", uris: ["urn:flock:relay:edge-1"] });
    const res = await adminPost("/v1/relays", {
      name: "edge-1",
      hosts: ["127.0.0.1", "relay.example.com", "::ffff:10.0.0.1", "127.0.0.1"],
      port: 6000,
      csr: pem,
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as IssuedCertificate<RelayInfo>;
    expect(body.item).toEqual({
      name: "edge-1",
      hosts: ["127.0.0.1", "relay.example.com", "::ffff:a00:1"],
      port: 6000,
      fingerprint: await thumbprintOfPem(body.certificate),
      createdAt: expect.any(String),
      status: "active",
      live: false,
    });
    const cert = new x509.X509Certificate(body.certificate);
    expect(cert.subject).toBe("CN=edge-1, OU=flock-relay");
    const sans = cert
      .getExtension(x509.SubjectAlternativeNameExtension)
      ?.names.items.map((n) => [n.type, n.value]);
    expect(sans).toEqual([
      ["url", "urn:flock:relay:edge-1"],
      ["dns", "flockrelay"],
      ["ip", "127.0.0.1"],
      ["dns", "relay.example.com"],
      ["ip", "::ffff:a00:1"],
    ]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([SERVER_AUTH, CLIENT_AUTH]);
    const ca = new x509.X509Certificate(env.RELAY_CA_CERT);
    expect(await cert.verify({ publicKey: ca.publicKey, date: new Date() })).toBe(true);
  });

  it("refuses a duplicate relay name: 409 RELAY_EXISTS", async () => {
    await createRelay("dup-relay");
    const { pem } = await makeCsr();
    await expectError(
      await adminPost("/v1/relays", { name: "dup-relay", hosts: ["127.0.0.1"], port: 6000, csr: pem }),
      409,
      "RELAY_EXISTS",
    );
  });

  it.each([
    ["no hosts", { hosts: [] }],
    ["hosts not a list", { hosts: "127.0.0.1" }],
    ["a host with a space", { hosts: ["a b"] }],
    ["a host with a slash", { hosts: ["a/b"] }],
    ["a bad IPv4", { hosts: ["300.1.1.1"] }],
    ["a bad IPv6", { hosts: ["1:2:3:4:5:6:7:8:9"] }],
    ["too many hosts", { hosts: Array.from({ length: MAX_RELAY_HOSTS + 1 }, (_, i) => `h${i}.example`) }],
    ["port 0", { port: 0 }],
    ["port 65536", { port: 65536 }],
    ["a string port", { port: "6000" }],
  ])("refuses %s: 400 BAD_REQUEST", async (_what, override) => {
    const { pem } = await makeCsr();
    const res = await adminPost("/v1/relays", {
      name: "bad-relay",
      hosts: ["127.0.0.1"],
      port: 6000,
      csr: pem,
      ...override,
    });
    await expectError(res, 400, "BAD_REQUEST");
  });

  it.each([
    ["another relay's CN", { subject: "CN=other" }],
    ["a party OU", { subject: "CN=claim, OU=flock-party" }],
    ["a user O", { subject: "CN=claim, O=alice" }],
    ["a party SAN URI", { uris: ["urn:flock:party:alice:a"] }],
    ["another relay's SAN URI", { uris: ["urn:flock:relay:other"] }],
  ])("refuses a CSR naming %s: 403 CSR_SUBJECT_MISMATCH", async (_what, options) => {
    const { pem } = await makeCsr(options);
    const res = await adminPost("/v1/relays", { name: "claim", hosts: ["127.0.0.1"], port: 6000, csr: pem });
    await expectError(res, 403, "CSR_SUBJECT_MISMATCH");
  });

  it("refuses a malformed CSR: 400 BAD_CSR, and a bad name: 400 INVALID_NAME", async () => {
    await expectError(
      await adminPost("/v1/relays", { name: "r", hosts: ["h"], port: 1, csr: "x" }),
      400,
      "BAD_CSR",
    );
    const { pem } = await makeCsr();
    await expectError(
      await adminPost("/v1/relays", { name: "r;--", hosts: ["h"], port: 1, csr: pem }),
      400,
      "INVALID_NAME",
    );
  });
});

describe("GET /v1/relays and POST /v1/relays/report", () => {
  let relay: Signer;

  beforeAll(async () => {
    relay = await createRelay("reporter");
  });

  it("takes a signed report and answers what the data plane must enforce", async () => {
    await createUser("alice");
    await createParty("alice", "ok");
    const revoked = await createParty("alice", "revoked");
    await admin("/v1/users/alice/parties/revoked/revoke", { method: "POST" });

    const load = { activePairs: 4, waitingSides: 2, bytesPerSecond: 12345, capacity: 500 };
    const res = await reportLoad(relay, load);
    expect(res.status).toBe(200);
    const jwks = (await (await admin("/.well-known/jwks.json")).json()) as { keys: { kid: string }[] };
    expect(await res.json()).toEqual({
      revokedFingerprints: [revoked.fingerprint],
      ticketKids: jwks.keys.map((k) => k.kid),
      reportIntervalSeconds: RELAY_REPORT_INTERVAL_SECONDS,
    } satisfies RelayReportResponse);

    const list = (await (await admin("/v1/relays")).json()) as Page<RelayInfo>;
    expect(list.items.find((r) => r.name === "reporter")).toMatchObject({
      live: true,
      load,
      lastReportAt: expect.any(String),
    });
  });

  it("keeps reporting the certificates of parties deleted with their user", async () => {
    await createUser("leaving");
    const gone = await createParty("leaving", "p");
    expect((await admin("/v1/users/leaving", { method: "DELETE" })).status).toBe(200);
    const res = await reportLoad(relay);
    expect(res.status).toBe(200);
    expect(((await res.json()) as RelayReportResponse).revokedFingerprints).toContain(gone.fingerprint);
  });

  it("refuses a replayed report: 401 REQUEST_REPLAYED", async () => {
    const jws = await signAs(relay, REPORT, IDLE_LOAD);
    expect((await postSigned(REPORT, jws)).status).toBe(200);
    await expectError(await postSigned(REPORT, jws), 401, "REQUEST_REPLAYED");
  });

  it("refuses a report signed by a party's key: 401 BAD_SIGNATURE", async () => {
    const party = await createParty("alice", "not-a-relay");
    await expectError(await postSigned(REPORT, await signAs(party, REPORT, IDLE_LOAD)), 401, "BAD_SIGNATURE");
  });

  it("refuses a report signed for another endpoint: 401 BAD_SIGNATURE", async () => {
    const jws = await signAs(relay, REPORT, IDLE_LOAD, { htu: "/v1/tickets" });
    await expectError(await postSigned(REPORT, jws), 401, "BAD_SIGNATURE");
  });

  it("refuses a report signed with an expired relay certificate: 401 CERT_INVALID", async () => {
    const old = await createRelay("expired-relay");
    await env.DB.prepare("UPDATE relays SET not_after = 1 WHERE name = 'expired-relay'").run();
    await expectError(await reportLoad(old), 401, "CERT_INVALID");
  });

  it("refuses an unsigned report: 401 BAD_SIGNATURE", async () => {
    await expectError(await postSigned(REPORT, JSON.stringify(IDLE_LOAD)), 401, "BAD_SIGNATURE");
  });

  it.each([
    ["a negative count", { ...IDLE_LOAD, activePairs: -1 }],
    ["a missing field", { activePairs: 0, waitingSides: 0, bytesPerSecond: 0 }],
    ["a string", { ...IDLE_LOAD, capacity: "lots" }],
    ["not an object", [1, 2, 3]],
  ])("refuses a load with %s: 400 BAD_REQUEST", async (_what, load) => {
    await expectError(await postSigned(REPORT, await signAs(relay, REPORT, load)), 400, "BAD_REQUEST");
  });

  it("lists relays paged, with liveness", async () => {
    await createRelay("silent");
    const seen: [string, boolean][] = [];
    let cursor: string | undefined;
    do {
      const page = (await (
        await admin(`/v1/relays?limit=2${cursor ? `&cursor=${cursor}` : ""}`)
      ).json()) as Page<RelayInfo>;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((r): [string, boolean] => [r.name, r.live]));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([
      ["dup-relay", false],
      ["edge-1", false],
      ["expired-relay", false],
      ["reporter", true],
      ["silent", false],
    ]);
  });
});
