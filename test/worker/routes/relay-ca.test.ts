import "reflect-metadata";
import { env, SELF } from "cloudflare:test";
import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { BASE } from "../support/fixtures.ts";

describe("GET /v1/relay-ca", () => {
  it("serves the relay CA certificate as PEM, without auth", async () => {
    const res = await SELF.fetch(`${BASE}/v1/relay-ca`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-pem-file");
    const pem = await res.text();
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----$/);
    const served = new x509.X509Certificate(pem);
    expect(served.equal(new x509.X509Certificate(env.RELAY_CA_CERT))).toBe(true);
    expect(served.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(true);
    expect(pem).not.toContain("PRIVATE KEY");
  });
});
