/**
 * D1 failing to answer mid-request: the answer is 503 DATABASE_UNAVAILABLE with Retry-After,
 * and nothing the request would have written is left behind. Each write path is run with D1
 * failing at its first write, then its second, and so on until the request gets through: a
 * path that wrote in two separate round trips would leave the first write behind.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { TICKETS_PATH } from "../../../protocol/wire.ts";
import { DATABASE_RETRY_AFTER_SECONDS } from "../../../worker/http/error-handler.ts";
import worker from "../../../worker/index.ts";
import { D1_OUTAGE_MESSAGE, failingOnWrite } from "../support/d1-doubles.ts";
import {
  BASE,
  createRelay,
  createUserWithParties,
  expectError,
  IDLE_LOAD,
  makeCsr,
  reportLoad,
  type Signer,
  signAs,
} from "../support/fixtures.ts";
import { snapshotTables } from "../support/table-snapshot.ts";

async function fetchWith(db: D1Database, path: string, init: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`, init), { ...env, DB: db }, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

const adminInit = (method: string, body?: unknown): RequestInit => ({
  method,
  headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
  body: body === undefined ? undefined : JSON.stringify(body),
});

const signedInit = (jws: string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/jose" },
  body: jws,
});

/** Runs the request with D1 failing at write 1, 2, ... until it gets through; each failure must change nothing. */
async function expectAllOrNothing(path: string, init: () => RequestInit, okStatus: number): Promise<void> {
  for (let failAt = 1; failAt < 20; failAt++) {
    const failing = failingOnWrite(env.DB, failAt);
    const before = await snapshotTables();
    const response = await fetchWith(failing.db, path, init());
    if (failing.writes() < failAt) {
      expect(response.status, await response.text()).toBe(okStatus);
      return;
    }
    expect(response.headers.get("retry-after")).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
    await expectError(response, 503, "DATABASE_UNAVAILABLE");
    expect(await snapshotTables(), `left behind after failing write ${failAt}`).toBe(before);
  }
  throw new Error(`${path} never got through`);
}

describe("D1 failing mid-request", () => {
  let party: Signer;
  let relay: Signer;

  // Each refusal is logged once as database.unavailable; the log itself is not under test here.
  const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
  afterAll(() => quiet.mockRestore());

  beforeAll(async () => {
    [party] = await createUserWithParties("outage", "a", "b");
    relay = await createRelay("outage-relay");
    expect((await reportLoad(relay)).status).toBe(200);
  });

  it("issues no part of a ticket, and leaves its signed request usable", async () => {
    const jws = await signAs(party, TICKETS_PATH, { dest: "b" });
    await expectAllOrNothing(TICKETS_PATH, () => signedInit(jws), 200);
  });

  it("records no part of a relay report", async () => {
    const jws = await signAs(relay, "/v1/relays/report", IDLE_LOAD);
    await expectAllOrNothing("/v1/relays/report", () => signedInit(jws), 200);
  });

  it("registers no part of a party, a backend or a wsk key, and deletes no part of a user", async () => {
    const { pem } = await makeCsr();
    await expectAllOrNothing(
      "/v1/users/outage/parties",
      () => adminInit("POST", { name: "c", csr: pem }),
      201,
    );
    const backend = {
      name: "outage-b",
      apihost: "https://ow.example.com",
      auth: "u:k",
      user: "outage",
      policy: "random",
    };
    await expectAllOrNothing("/v1/backends", () => adminInit("POST", backend), 201);
    await expectAllOrNothing("/v1/users/outage/wsk-keys", () => adminInit("POST"), 201);
    await expectAllOrNothing("/v1/users/outage", () => adminInit("DELETE"), 200);
  });

  it("answers reads 503 too, in OpenWhisk's envelope under /api/v1", async () => {
    const down = new Proxy(env.DB, {
      get(target, property) {
        if (property === "prepare" || property === "batch") {
          return () => {
            throw new Error(D1_OUTAGE_MESSAGE);
          };
        }
        return Reflect.get(target, property);
      },
    });
    await expectError(await fetchWith(down, "/v1/users", adminInit("GET")), 503, "DATABASE_UNAVAILABLE");
    const owCall = await fetchWith(down, "/api/v1/namespaces/_/actions", {
      headers: { authorization: `Basic ${btoa(`${crypto.randomUUID()}:key`)}` },
    });
    expect(owCall.status).toBe(503);
    expect(owCall.headers.get("retry-after")).toBe(String(DATABASE_RETRY_AFTER_SECONDS));
    expect(await owCall.json()).toEqual({
      error: expect.stringContaining("database"),
      code: expect.any(String),
    });
  });
});
