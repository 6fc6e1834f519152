import "reflect-metadata";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { Pkcs10CertificateRequest, SubjectAlternativeNameExtension } from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { partyCsr, relayCsr } from "../../cli/certs/csr.ts";
import { generateKey, type KeyMaterial, type KeyType, RSA_MODULUS_BITS } from "../../cli/certs/keys.ts";
import {
  assertNoOverwrite,
  partyPaths,
  relayPaths,
  userPaths,
  writePemFiles,
} from "../../cli/certs/layout.ts";
import {
  createUserCa,
  NOT_BEFORE_BACKDATE_SECONDS,
  PARTY_CERT_VALIDITY_DAYS,
  signPartyCertificate,
  USER_CA_VALIDITY_DAYS,
} from "../../cli/certs/user-ca.ts";
import { UserError } from "../../cli/output.ts";
import { FlockError } from "../../protocol/errors.ts";

const DAY_MS = 86_400_000;
const SAN_OID = "2.5.29.17";

function sanOf(csr: Pkcs10CertificateRequest) {
  const raw = csr.extensions.find((e) => e.type === SAN_OID)?.rawData;
  return raw && new SubjectAlternativeNameExtension(raw).names.toJSON();
}

describe.each<KeyType>(["ec", "rsa"])("certificates with %s party keys", (keyType) => {
  let caKey: KeyMaterial;
  let caPem: string;
  const parties: Record<string, { key: KeyMaterial; cert: string }> = {};

  beforeAll(async () => {
    caKey = await generateKey("ec");
    caPem = await createUserCa(caKey, "alice");
    for (const name of ["p0", "p1"]) {
      const key = await generateKey(keyType);
      parties[name] = { key, cert: await signPartyCertificate(caPem, caKey, key, "alice", name) };
    }
  });

  it("makes a user CA that may sign leaves only, valid at most USER_CA_VALIDITY_DAYS", () => {
    const ca = new X509Certificate(caPem);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe("CN=alice Flock User CA\nO=alice");
    expect(ca.verify(ca.publicKey)).toBe(true);
    const span = Date.parse(ca.validTo) - Date.parse(ca.validFrom);
    expect(span).toBeLessThanOrEqual(USER_CA_VALIDITY_DAYS * DAY_MS + 600_000);
    expect(ca.toLegacyObject().ext_key_usage).toBeUndefined();
  });

  it("signs a party certificate naming user and party, for both TLS roles, within its validity bound", () => {
    const { key, cert } = parties.p0 as { key: KeyMaterial; cert: string };
    const leaf = new X509Certificate(cert);
    expect(leaf.subject).toBe("CN=p0\nO=alice");
    expect(leaf.subjectAltName).toBe("URI:urn:flock:party:alice:p0, DNS:p0");
    // The original relay's Go client checks ServerName = DEST against the DNS SAN.
    expect(leaf.checkHost("p0", { subject: "never" })).toBe("p0");
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage?.sort()).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(leaf.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(leaf.checkPrivateKey(createPrivateKey(key.privateKeyPem))).toBe(true);
    expect(leaf.checkIssued(new X509Certificate(caPem))).toBe(true);
    const span = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(span).toBeLessThanOrEqual(PARTY_CERT_VALIDITY_DAYS * DAY_MS + 600_000);
    expect(createPrivateKey(key.privateKeyPem).asymmetricKeyType).toBe(keyType);
    const backdated = Date.now() - Date.parse(leaf.validFrom);
    expect(backdated).toBeGreaterThanOrEqual((NOT_BEFORE_BACKDATE_SECONDS - 2) * 1000);
    expect(backdated).toBeLessThanOrEqual((NOT_BEFORE_BACKDATE_SECONDS + 60) * 1000);
    const details = createPrivateKey(key.privateKeyPem).asymmetricKeyDetails;
    if (keyType === "rsa") expect(details?.modulusLength).toBe(RSA_MODULUS_BITS);
    else expect(details?.namedCurve).toBe("prime256v1");
  });

  it("lets two parties of the user run mutual TLS trusting only the user CA", async () => {
    const p0 = parties.p0 as { key: KeyMaterial; cert: string };
    const p1 = parties.p1 as { key: KeyMaterial; cert: string };
    const server = createServer(
      { key: p1.key.privateKeyPem, cert: p1.cert, ca: caPem, requestCert: true, rejectUnauthorized: true },
      (socket) => socket.end(socket.getPeerCertificate().subjectaltname ?? ""),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const socket: TLSSocket = connect({
        host: "127.0.0.1",
        port: (server.address() as AddressInfo).port,
        key: p0.key.privateKeyPem,
        cert: p0.cert,
        ca: caPem,
        checkServerIdentity: () => undefined,
      });
      let received = "";
      socket.on("data", (d) => {
        received += d;
      });
      await new Promise((resolve, reject) => {
        socket.on("end", resolve);
        socket.on("error", reject);
      });
      expect(socket.authorized).toBe(true);
      expect(socket.getPeerCertificate().subjectaltname).toBe("URI:urn:flock:party:alice:p1, DNS:p1");
      expect(received).toBe("URI:urn:flock:party:alice:p0, DNS:p0");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("builds a party CSR and a relay CSR with the subject and SANs the worker expects", async () => {
    const key = parties.p0?.key as KeyMaterial;
    const csr = new Pkcs10CertificateRequest(await partyCsr(key, "alice", "p0"));
    expect(await csr.verify()).toBe(true);
    expect(csr.subject).toBe("CN=p0, O=alice, OU=flock-party");
    expect(sanOf(csr)).toEqual([{ type: "url", value: "urn:flock:party:alice:p0" }]);
    const spki = Buffer.from(csr.publicKey.rawData);
    expect(spki.equals(createPublicKey(key.privateKeyPem).export({ format: "der", type: "spki" }))).toBe(
      true,
    );

    const relay = new Pkcs10CertificateRequest(await relayCsr(key, "r1", ["127.0.0.1", "relay.example"]));
    expect(relay.subject).toBe("CN=r1, OU=flock-relay");
    expect(sanOf(relay)).toEqual([
      { type: "url", value: "urn:flock:relay:r1" },
      { type: "ip", value: "127.0.0.1" },
      { type: "dns", value: "relay.example" },
    ]);
  });
});

describe("party certificates never outlive their user CA", () => {
  it("caps notAfter at the CA's notAfter", async () => {
    const caKey = await generateKey("ec");
    const caPem = await createUserCa(caKey, "bob");
    const leaf = new X509Certificate(
      await signPartyCertificate(caPem, caKey, await generateKey("ec"), "bob", "p"),
    );
    expect(Date.parse(leaf.validTo)).toBeLessThanOrEqual(Date.parse(new X509Certificate(caPem).validTo));
  });
});

describe("certs/ layout", () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "flock-certs-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("lays files out as the contract says", () => {
    expect(userPaths(root, "alice")).toEqual({
      dir: join(root, "alice"),
      caCert: join(root, "alice", "user-ca.pem"),
      caKey: join(root, "alice", "user-ca-key.pem"),
    });
    expect(partyPaths(root, "alice", "p0").relayKey).toBe(join(root, "alice", "p0", "relay-key.pem"));
    expect(relayPaths(root, "local").cert).toBe(join(root, "_relays", "local", "cert.pem"));
  });

  it("refuses names that could escape certs/ or collide with _relays", () => {
    for (const bad of ["..", "a/b", "_relays", ""]) {
      expect(() => userPaths(root, bad)).toThrow(FlockError);
    }
  });

  it("writes keys 0600 and certificates 0644, and refuses to overwrite without force", async () => {
    const key = join(root, "x", "key.pem");
    const cert = join(root, "x", "cert.pem");
    await writePemFiles([
      { path: key, pem: "KEY", secret: true },
      { path: cert, pem: "CERT", secret: false },
    ]);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    expect((await stat(cert)).mode & 0o777).toBe(0o644);
    expect((await stat(join(root, "x"))).mode & 0o777).toBe(0o700);
    await expect(assertNoOverwrite([cert, key], false)).rejects.toThrow(UserError);
    await expect(assertNoOverwrite([cert, key], false)).rejects.toThrow("already exists; pass --force");
    await expect(assertNoOverwrite([cert, key], true)).resolves.toBeUndefined();

    await writeFile(key, "OLD", { mode: 0o644 });
    await writePemFiles([{ path: key, pem: "NEW", secret: true }]);
    expect((await stat(key)).mode & 0o777).toBe(0o600);
    expect(await readFile(key, "utf8")).toBe("NEW\n");
  });
});
