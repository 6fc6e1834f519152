import { beforeAll, describe, expect, it } from "vitest";
import { openChannel } from "../../client/connect.ts";
import {
  ALLOW_PLAIN_HTTP_ENV,
  checkControlPlaneUrl,
  plainHttpAllowed,
} from "../../client/control-plane-url.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { makeCa, offlineIdentity } from "../helpers/system.ts";

describe("the SDK's worker URL", () => {
  it.each([
    "https://flock.example.com",
    "https://10.0.0.5:8787",
    "http://127.0.0.1:8787",
    "http://127.8.9.10",
    "http://localhost:8787",
    "http://[::1]:8787",
  ])("accepts %s", (url) => expect(() => checkControlPlaneUrl(url, false)).not.toThrow());

  it.each([
    "http://control:8787",
    "http://10.0.0.5:8787",
    "http://flock.example.com",
    "http://[fd00::1]",
    "http://127.0.0.1.example.com",
  ])("refuses plain http to %s with CONFIG_INVALID and says how to fix it", (url) => {
    const refusal = (() => {
      try {
        checkControlPlaneUrl(url, false);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toMatchObject({
      code: "CONFIG_INVALID",
      message: `FLOCK_URL ${new URL(url).origin} is plain http off loopback, where tickets and revocation lists could be tampered with: use https, or set FLOCK_ALLOW_PLAIN_HTTP=1 if the network to the worker is private and trusted.`,
    });
  });

  it("accepts it off loopback only with the explicit opt-out, and the option wins over the environment", () => {
    expect(() => checkControlPlaneUrl("http://control:8787", true)).not.toThrow();
    expect(plainHttpAllowed(undefined, {})).toBe(false);
    expect(plainHttpAllowed(undefined, { [ALLOW_PLAIN_HTTP_ENV]: "1" })).toBe(true);
    expect(plainHttpAllowed(undefined, { [ALLOW_PLAIN_HTTP_ENV]: "yes" })).toBe(false);
    expect(plainHttpAllowed(false, { [ALLOW_PLAIN_HTTP_ENV]: "1" })).toBe(false);
    expect(plainHttpAllowed(true, {})).toBe(true);
  });

  describe("openChannel", () => {
    let identity: IdentityMaterials;
    beforeAll(async () => {
      const cas = { relayCa: await makeCa("relay"), userCa: await makeCa("acme") };
      identity = await offlineIdentity("acme", "alice", cas, { url: "http://10.0.0.5:8787", dest: "bob" });
    });

    it.each([
      ["ticket", {}],
      ["direct", { relay: "127.0.0.1:9" }],
    ])("refuses before any connection in %s mode", async (_mode, extra) => {
      const events: unknown[] = [];
      await expect(
        openChannel({ identity, allowPlainHttp: false, onEvent: (e) => events.push(e), ...extra }),
      ).rejects.toMatchObject({ code: "CONFIG_INVALID", message: expect.stringContaining("plain http") });
      expect(events).toEqual([]);
    });
  });
});
