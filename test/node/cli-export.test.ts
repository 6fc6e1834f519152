import "reflect-metadata";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import {
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from "@peculiar/x509";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateKey } from "../../cli/certs/keys.ts";
import type { PemFile } from "../../cli/certs/layout.ts";
import { partyPaths, relayCaPath, userPaths, writePemFiles } from "../../cli/certs/layout.ts";
import { createUserCa, signPartyCertificate } from "../../cli/certs/user-ca.ts";
import { exportFrelayLayout } from "../../cli/commands/export.ts";
import { EXIT_FAILURE } from "../../cli/output.ts";
import { partyUri } from "../../protocol/names.ts";
import { runFlock } from "../helpers/run-flock.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "flock-export-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** certs/ as `flock create` leaves it for user u; party "old" has a certificate from before the DNS SAN. */
async function makeCerts(): Promise<string> {
  const root = join(dir, "certs");
  const caKey = await generateKey("ec");
  const caPem = await createUserCa(caKey, "u");
  // Any CA and leaves of it do: export checks that each file parses, not who signed it.
  const relayCaKey = await generateKey("ec");
  const relayCaPem = await createUserCa(relayCaKey, "relays");
  const files: PemFile[] = [
    { path: relayCaPath(root), pem: relayCaPem, secret: false },
    { path: userPaths(root, "u").caCert, pem: caPem, secret: false },
    { path: userPaths(root, "u").caKey, pem: caKey.privateKeyPem, secret: true },
  ];
  for (const party of ["new", "old"]) {
    const key = await generateKey("ec");
    const paths = partyPaths(root, "u", party);
    const cert =
      party === "new"
        ? await signPartyCertificate(caPem, caKey, key, "u", party)
        : (
            await X509CertificateGenerator.create({
              subject: `CN=${party}, O=u`,
              issuer: new X509Certificate(caPem).subject.replace(/\n/g, ", "),
              notBefore: new Date(Date.now() - 60_000),
              notAfter: new Date(Date.now() + 86_400_000),
              publicKey: key.keys.publicKey,
              signingKey: caKey.keys.privateKey,
              signingAlgorithm: caKey.signingAlgorithm,
              extensions: [
                new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
                new SubjectAlternativeNameExtension([{ type: "url", value: partyUri("u", party) }]),
              ],
            })
          ).toString("pem");
    const relayKey = await generateKey("ec");
    files.push(
      {
        path: paths.relayCert,
        pem: await signPartyCertificate(relayCaPem, relayCaKey, relayKey, "u", party),
        secret: false,
      },
      { path: paths.relayKey, pem: relayKey.privateKeyPem, secret: true },
      { path: paths.partyCert, pem: cert, secret: false },
      { path: paths.partyKey, pem: key.privateKeyPem, secret: true },
    );
  }
  await writePemFiles(files);
  return root;
}

describe("flock export --layout frelay", () => {
  it("writes the original relay's file layout, keys 0600, and names the certificates Go would refuse", async () => {
    const root = await makeCerts();
    const exported = await exportFrelayLayout({ user: "u", certsDir: root });
    expect(exported.lacksName).toEqual(["old"]);
    for (const name of ["frelay-ca.pem", "flockrelay-ca.pem"]) {
      expect(await readFile(join(root, name), "utf8")).toBe(await readFile(relayCaPath(root), "utf8"));
    }
    expect(await readFile(join(root, "new", "cert.pem"), "utf8")).toBe(
      await readFile(partyPaths(root, "u", "new").relayCert, "utf8"),
    );
    expect((await stat(join(root, "new", "key.pem"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, "u", "new", "key.pem"))).mode & 0o777).toBe(0o600);
    const e2e = new X509Certificate(await readFile(join(root, "u", "new", "cert.pem"), "utf8"));
    expect(e2e.checkHost("new", { subject: "never" })).toBe("new");
    expect(await readFile(join(root, "u", "user-ca.pem"), "utf8")).toContain("BEGIN CERTIFICATE");
  });

  it("re-signs with --resign: same key and CA, the party name added, the SAN URI kept", async () => {
    const root = await makeCerts();
    const before = new X509Certificate(await readFile(partyPaths(root, "u", "old").partyCert, "utf8"));
    const exported = await exportFrelayLayout({ user: "u", party: "old", certsDir: root, resign: true });
    expect(exported.lacksName).toEqual([]);
    for (const path of [partyPaths(root, "u", "old").partyCert, join(root, "u", "old", "cert.pem")]) {
      const after = new X509Certificate(await readFile(path, "utf8"));
      expect(after.subjectAltName).toBe("URI:urn:flock:party:u:old, DNS:old");
      expect(after.publicKey.equals(before.publicKey)).toBe(true);
      expect(
        after.checkIssued(new X509Certificate(await readFile(userPaths(root, "u").caCert, "utf8"))),
      ).toBe(true);
    }
  });
});

describe("flock export of a corrupt file", () => {
  const corrupt = "-----BEGIN CERTIFICATE-----\nbm90IGRlcg==\n-----END CERTIFICATE-----\n";

  it.each([
    ["the relay CA", (root: string) => relayCaPath(root), "certificate"],
    ["the user CA", (root: string) => userPaths(root, "u").caCert, "certificate"],
    ["a relay certificate", (root: string) => partyPaths(root, "u", "new").relayCert, "certificate"],
    ["a relay key", (root: string) => partyPaths(root, "u", "new").relayKey, "private key"],
    ["an end-to-end certificate", (root: string) => partyPaths(root, "u", "old").partyCert, "certificate"],
    ["an end-to-end key", (root: string) => partyPaths(root, "u", "old").partyKey, "private key"],
  ])("refuses %s that does not parse with CONFIG_INVALID naming it, before writing anything", async (_, pathOf, kind) => {
    const root = await makeCerts();
    const path = pathOf(root);
    await writeFile(path, corrupt);
    const out = join(dir, "out");
    await expect(exportFrelayLayout({ user: "u", certsDir: root, outDir: out })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: `${relative(process.cwd(), path)} is not a PEM ${kind}.`,
    });
    expect(await readdir(out).catch(() => "absent")).toBe("absent");
  });

  it("the CLI prints one line with the file and the code, and exits 1, not as a bug", async () => {
    const root = await makeCerts();
    await writeFile(partyPaths(root, "u", "new").partyCert, "not a certificate\n");
    const run = await runFlock(["export", "--layout", "frelay", "--user", "u"], dir);
    expect(run).toMatchObject({
      code: EXIT_FAILURE,
      stderr: "error: certs/u/new/party-cert.pem is not a PEM certificate. (CONFIG_INVALID)\n",
    });
  });
});
