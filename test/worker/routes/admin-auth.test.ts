import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BASE, expectError } from "../support/fixtures.ts";

const ADMIN_ENDPOINTS: [string, string][] = [
  ["POST", "/v1/users"],
  ["GET", "/v1/users"],
  ["DELETE", "/v1/users/alice"],
  ["POST", "/v1/users/alice/parties"],
  ["GET", "/v1/users/alice/parties"],
  ["POST", "/v1/users/alice/parties/a/revoke"],
  ["GET", "/v1/parties"],
  ["POST", "/v1/relays"],
  ["GET", "/v1/relays"],
];

describe("admin bearer token", () => {
  describe.each(ADMIN_ENDPOINTS)("%s %s", (method, path) => {
    const body = method === "POST" ? JSON.stringify({ name: "x" }) : undefined;

    it("refuses a request without Authorization: 401 UNAUTHENTICATED with a Bearer challenge", async () => {
      const res = await SELF.fetch(`${BASE}${path}`, { method, body });
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="flock"');
      await expectError(res, 401, "UNAUTHENTICATED");
    });

    it("refuses a wrong token: 401 UNAUTHENTICATED", async () => {
      const last = env.ADMIN_TOKEN.at(-1) === "A" ? "B" : "A";
      const headers = { authorization: `Bearer ${env.ADMIN_TOKEN.slice(0, -1)}${last}` };
      await expectError(
        await SELF.fetch(`${BASE}${path}`, { method, body, headers }),
        401,
        "UNAUTHENTICATED",
      );
    });

    it("refuses the token in another scheme: 401 UNAUTHENTICATED", async () => {
      const headers = { authorization: `Basic ${env.ADMIN_TOKEN}` };
      await expectError(
        await SELF.fetch(`${BASE}${path}`, { method, body, headers }),
        401,
        "UNAUTHENTICATED",
      );
    });
  });

  it("lets the right token through", async () => {
    const res = await SELF.fetch(`${BASE}/v1/users`, {
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
  });

  it("needs no token for the public endpoints", async () => {
    for (const path of ["/healthz", "/v1/relay-ca", "/.well-known/jwks.json"]) {
      expect((await SELF.fetch(`${BASE}${path}`)).status).toBe(200);
    }
  });
});
