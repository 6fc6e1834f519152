import "reflect-metadata";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { partyPaths, relayCaPath, userPaths } from "../../cli/certs/layout.ts";
import { exportFrelayLayout } from "../../cli/commands/export.ts";
import { EXIT_FAILURE } from "../../cli/output.ts";
import { CORRUPTIBLE_FILES, makeCertsDir, makeCorruptCertsDir } from "../helpers/certs-dir.ts";
import { runFlock } from "../helpers/run-flock.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "flock-export-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("flock export --layout frelay", () => {
  it("writes the original relay's file layout, keys 0600, and names the certificates Go would refuse", async () => {
    const root = await makeCertsDir(dir);
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
    const root = await makeCertsDir(dir);
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
  it.each(
    CORRUPTIBLE_FILES,
  )("refuses %s that does not parse with CONFIG_INVALID naming it, before writing anything", async (_, pathOf, kind) => {
    const { root, refusal } = await makeCorruptCertsDir(dir, pathOf, kind);
    const out = join(dir, "out");
    await expect(exportFrelayLayout({ user: "u", certsDir: root, outDir: out })).rejects.toMatchObject(
      refusal,
    );
    expect(await readdir(out).catch(() => "absent")).toBe("absent");
  });

  it("the CLI prints one line with the file and the code, and exits 1, not as a bug", async () => {
    const root = await makeCertsDir(dir);
    await writeFile(partyPaths(root, "u", "new").partyCert, "not a certificate\n");
    const run = await runFlock(["export", "--layout", "frelay", "--user", "u"], dir);
    expect(run).toMatchObject({
      code: EXIT_FAILURE,
      stderr: "error: certs/u/new/party-cert.pem is not a PEM certificate. (CONFIG_INVALID)\n",
    });
  });
});
