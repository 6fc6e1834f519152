import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_JSON_BODY_BYTES, MAX_SIGNED_REQUEST_BYTES } from "../../../worker/http/body-limit.ts";
import { adminPost, BASE, expectError } from "../support/fixtures.ts";

/** A body stream with no content-length, so the limit must be enforced while reading. */
function streamOf(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1024).fill(0x61);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const n = Math.min(chunk.length, bytes - sent);
      controller.enqueue(chunk.subarray(0, n));
      sent += n;
    },
  });
}

describe("request limits and errors", () => {
  it("refuses an admin body over MAX_JSON_BODY_BYTES by content-length: 413 BODY_TOO_LARGE", async () => {
    const name = "a".repeat(MAX_JSON_BODY_BYTES);
    await expectError(await adminPost("/v1/users", { name }), 413, "BODY_TOO_LARGE");
  });

  it("refuses a streamed admin body over MAX_JSON_BODY_BYTES: 413 BODY_TOO_LARGE", async () => {
    const res = await SELF.fetch(`${BASE}/v1/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      body: streamOf(MAX_JSON_BODY_BYTES + 1),
    });
    await expectError(res, 413, "BODY_TOO_LARGE");
  });

  it("accepts a body just under the limit (and judges its content)", async () => {
    const padding = " ".repeat(MAX_JSON_BODY_BYTES - 40);
    const res = await SELF.fetch(`${BASE}/v1/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` },
      body: `{"name":"padded"}${padding}`,
    });
    expect(res.status).toBe(201);
  });

  it.each([
    "/v1/tickets",
    "/v1/relays/report",
    "/v1/pairs/relay",
  ])("refuses a signed request over MAX_SIGNED_REQUEST_BYTES at %s: 413 BODY_TOO_LARGE", async (path) => {
    const res = await SELF.fetch(`${BASE}${path}`, {
      method: "POST",
      headers: { "content-type": "application/jose" },
      body: "a".repeat(MAX_SIGNED_REQUEST_BYTES + 1),
    });
    await expectError(res, 413, "BODY_TOO_LARGE");
  });

  it("answers unknown paths with 404 NOT_FOUND as JSON", async () => {
    await expectError(await SELF.fetch(`${BASE}/v1/nothing-here`), 404, "NOT_FOUND");
  });

  it("answers a known path with the wrong method 405 METHOD_NOT_ALLOWED and lists the allowed ones", async () => {
    const cases: Array<[string, string, string]> = [
      ["DELETE", "/v1/relay-ca", "GET"],
      ["PUT", "/v1/users", "GET, POST"],
      ["GET", "/v1/tickets", "POST"],
      ["PATCH", "/v1/users/alice", "DELETE"],
      ["GET", "/v1/users/alice/parties/p/revoke", "POST"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await SELF.fetch(`${BASE}${path}`, { method });
      expect(res.headers.get("allow"), `${method} ${path}`).toBe(allow);
      await expectError(res, 405, "METHOD_NOT_ALLOWED");
    }
    // A path no route has under any method stays 404, even where middleware matches it.
    await expectError(
      await SELF.fetch(`${BASE}/v1/users/alice/nothing`, { method: "PUT" }),
      404,
      "NOT_FOUND",
    );
  });

  it("tags every response with a request id", async () => {
    const res = await SELF.fetch(`${BASE}/healthz`);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
