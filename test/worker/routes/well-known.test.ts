import { env, SELF } from "cloudflare:test";
import { CompactSign, compactVerify, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { JWKS_MAX_AGE_SECONDS } from "../../../worker/routes/public.ts";
import { BASE } from "../support/fixtures.ts";

interface PrivateJwk {
  kty: string;
  crv: string;
  x: string;
  d: string;
  kid: string;
}

describe("GET /.well-known/jwks.json", () => {
  it("publishes every configured ticket key, public half only", async () => {
    const res = await SELF.fetch(`${BASE}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe(`public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    const configured = JSON.parse(env.TICKET_KEYS) as PrivateJwk[];
    expect(await res.json()).toEqual({
      keys: configured.map((k) => ({
        kty: "OKP",
        crv: "Ed25519",
        x: k.x,
        kid: k.kid,
        alg: "EdDSA",
        use: "sig",
      })),
    });
  });

  it("publishes keys that verify what the matching private key signs", async () => {
    const { keys } = (await (await SELF.fetch(`${BASE}/.well-known/jwks.json`)).json()) as {
      keys: PrivateJwk[];
    };
    const configured = JSON.parse(env.TICKET_KEYS) as PrivateJwk[];
    for (const [i, jwk] of configured.entries()) {
      const jws = await new CompactSign(new TextEncoder().encode("probe"))
        .setProtectedHeader({ alg: "EdDSA" })
        .sign(await importJWK(jwk, "EdDSA"));
      const published = keys[i];
      if (!published) throw new Error("missing published key");
      expect(published).not.toHaveProperty("d");
      await expect(compactVerify(jws, await importJWK(published, "EdDSA"))).resolves.toBeTruthy();
    }
  });
});
