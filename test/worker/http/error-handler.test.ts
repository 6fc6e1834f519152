import { env } from "cloudflare:test";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FlockError } from "../../../protocol/errors.ts";
import type { AppEnv } from "../../../worker/env.ts";
import { handleError } from "../../../worker/http/error-handler.ts";
import worker from "../../../worker/index.ts";

const SECRET = "hunter2-secret-value";

describe("error handler", () => {
  afterEach(() => vi.restoreAllMocks());

  it("answers a FlockError with its status, code and sentence", async () => {
    const app = new Hono<AppEnv>().get("/", () => {
      throw new FlockError("PARTY_REVOKED");
    });
    app.onError(handleError);
    const res = await app.request("/");
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: "PARTY_REVOKED", error: "This party has been revoked." });
  });

  it("gives hono's HTTPException client errors our shape", async () => {
    const app = new Hono<AppEnv>().get("/", () => {
      throw new HTTPException(405);
    });
    app.onError(handleError);
    const res = await app.request("/");
    expect(res.status).toBe(405);
    expect(await res.json()).toEqual({
      code: "METHOD_NOT_ALLOWED",
      error: "This resource does not accept that method.",
    });
  });

  it("answers anything else with a bare 500 INTERNAL and logs it once with the request id", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const app = new Hono<AppEnv>();
    app.use(async (c, next) => {
      c.set("requestId", "req-1");
      await next();
    });
    app.get("/", () => {
      throw new TypeError(`boom near ${SECRET}`);
    });
    app.onError(handleError);
    const res = await app.request("/");
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({
      code: "INTERNAL",
      error: "The server failed; the request id in the logs says where.",
    });
    expect(body).not.toContain(SECRET);
    expect(log).toHaveBeenCalledTimes(1);
    expect(JSON.parse(String(log.mock.calls[0]?.[0]))).toMatchObject({
      requestId: "req-1",
      error: "TypeError",
    });
  });

  it("does not quote a malformed TICKET_KEYS secret in the log or the answer", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const broken = `[{"kty":"OKP","d":"${SECRET}"`;
    const res = await worker.fetch(
      new Request("https://flock.test/.well-known/jwks.json"),
      { ...env, TICKET_KEYS: broken },
      { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
    );
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain(SECRET);
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0]?.[0])).not.toContain(SECRET);
  });

  it("refuses every admin request when ADMIN_TOKEN is not configured", async () => {
    const res = await worker.fetch(
      new Request("https://flock.test/v1/users", { headers: { authorization: "Bearer undefined" } }),
      { ...env, ADMIN_TOKEN: undefined as unknown as string },
      { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
    );
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "UNAUTHENTICATED" });
  });
});
