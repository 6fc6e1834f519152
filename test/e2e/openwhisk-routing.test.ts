/**
 * Routing and failover through the real worker: two controller doubles serve one user, and
 * the doubles' knobs make one of them down, slow, or answer 429/503. Each test has its own
 * user and backend rows, so back-off and latency learned in one test do not leak into another.
 */

import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { RoutingPolicy } from "../../protocol/api.ts";
import { MAX_LIST_BODY_BYTES } from "../../worker/openwhisk/list-merge.ts";
import type { OpenWhiskDouble } from "../helpers/openwhisk-double.ts";
import { HELLO_CODE, type OpenWhiskWorld, startOpenWhiskWorld } from "./openwhisk-fixture.ts";

let world: OpenWhiskWorld;
let a: OpenWhiskDouble;
let b: OpenWhiskDouble;
let users = 0;

beforeAll(async () => {
  world = await startOpenWhiskWorld(2);
  [a, b] = world.doubles as [OpenWhiskDouble, OpenWhiskDouble];
});

afterEach(async () => {
  await a.setDown(false);
  await b.setDown(false);
  for (const d of [a, b]) {
    d.setSlowMs(0);
    d.setAnswer(null);
    d.setOversizedLists(null);
  }
});

afterAll(async () => {
  await world?.stop();
});

/** A fresh user with backends `<user>-a` and `<user>-b` and one deployed action named after the user. */
async function freshUser(policy: RoutingPolicy) {
  const user = `route${++users}`;
  await world.addUser(user);
  await world.addBackend({ name: `${user}-a`, apihost: a.url, auth: a.auth, user, policy });
  await world.addBackend({ name: `${user}-b`, apihost: b.url, auth: b.auth, user });
  const apiKey = await world.issueKey(user);
  const action = `${user}-act`;
  await world.client(apiKey).actions.create({ name: action, action: HELLO_CODE });
  const invokes = (d: OpenWhiskDouble) =>
    d.calls.filter((c) => c.method === "POST" && c.path === `/api/v1/namespaces/_/actions/${action}`).length;
  const invoke = (params: Record<string, unknown> = { name: "R" }) =>
    world.call(`/namespaces/_/actions/${action}?blocking=true&result=true`, {
      method: "POST",
      apiKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(params),
    });
  return { user, apiKey, action, invokes, invoke };
}

it("round-robin alternates between the backends", async () => {
  const u = await freshUser("round-robin");
  const answered: string[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await u.invoke();
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ payload: "Hello R" });
    answered.push(res.headers.get("x-flock-backend") ?? "");
  }
  expect(answered).toEqual([
    `${u.user}-a`,
    `${u.user}-b`,
    `${u.user}-a`,
    `${u.user}-b`,
    `${u.user}-a`,
    `${u.user}-b`,
  ]);
  expect([u.invokes(a), u.invokes(b)]).toEqual([3, 3]);
});

it("keeps serving when one backend is down", async () => {
  const u = await freshUser("round-robin");
  await a.setDown(true);
  const first = await u.invoke();
  expect(first.status).toBe(200);
  expect(await first.json()).toEqual({ payload: "Hello R" });
  expect(first.headers.get("x-flock-backends")).toBe(`${u.user}-a=unreachable,${u.user}-b=200`);
  expect(first.headers.get("x-flock-attempts")).toBe("2");
  for (let i = 0; i < 3; i++) {
    const res = await u.invoke();
    expect(res.status).toBe(200);
    expect(res.headers.get("x-flock-backend")).toBe(`${u.user}-b`);
    await res.body?.cancel();
  }
  expect(u.invokes(b)).toBe(4);
  // Reads and writes go on too, and the write says which backend missed it.
  const ow = world.client(u.apiKey);
  expect(await ow.actions.get({ name: u.action })).toMatchObject({ name: u.action });
  const put = await world.call(`/namespaces/_/actions/${u.user}-second`, {
    method: "PUT",
    apiKey: u.apiKey,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ exec: { kind: "nodejs:20", code: HELLO_CODE } }),
  });
  expect(put.status).toBe(200);
  expect(put.headers.get("x-flock-backends")).toBe(`${u.user}-a=unreachable,${u.user}-b=200`);
});

it("answers 503 in OpenWhisk's envelope when every backend is down", async () => {
  const u = await freshUser("round-robin");
  await a.setDown(true);
  await b.setDown(true);
  const res = await world.call(`/namespaces/_/actions/${u.action}?blocking=true`, {
    method: "POST",
    apiKey: u.apiKey,
    headers: { "x-request-id": "req-all-down" },
  });
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({
    error: "No OpenWhisk backend is available to serve this request; try again later.",
    code: "req-all-down",
  });
  expect(res.headers.get("x-flock-backends")).toBe(`${u.user}-a=unreachable,${u.user}-b=unreachable`);
});

it.each([503, 429] as const)("fails over when a backend answers %i", async (status) => {
  const u = await freshUser("round-robin");
  a.setAnswer(status);
  const res = await u.invoke();
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ payload: "Hello R" });
  expect(res.headers.get("x-flock-backends")).toBe(`${u.user}-a=${status},${u.user}-b=200`);
  expect(u.invokes(b)).toBe(1);
});

it("passes a backend's 429 on when every backend throttles", async () => {
  const u = await freshUser("round-robin");
  a.setAnswer(429);
  b.setAnswer(429);
  const res = await u.invoke();
  expect(res.status).toBe(429);
  expect(await res.json()).toMatchObject({
    error: "Too many requests in the last minute (count: 121, allowed: 120).",
  });
});

it("returns an action's own failure without trying another backend", async () => {
  const u = await freshUser("round-robin");
  const res = await u.invoke({ fail: true });
  expect(res.status).toBe(502);
  expect(await res.json()).toEqual({ error: "Error message" });
  expect(res.headers.get("x-flock-attempts")).toBe("1");
  expect(u.invokes(a) + u.invokes(b)).toBe(1);
  expect(u.invokes(b)).toBe(0);
});

it("returns 404 for a missing action without trying another backend", async () => {
  const u = await freshUser("round-robin");
  const res = await world.call(`/namespaces/_/actions/${u.user}-missing?blocking=true`, {
    method: "POST",
    apiKey: u.apiKey,
  });
  expect(res.status).toBe(404);
  const posts = (d: OpenWhiskDouble) => d.calls.filter((c) => c.path.endsWith(`/${u.user}-missing`)).length;
  expect(posts(a) + posts(b)).toBe(1);
});

it.each([
  "least-latency",
  "random",
] as const)("sends less traffic to a slow backend under %s", async (policy) => {
  a.setSlowMs(150);
  const u = await freshUser(policy);
  for (let i = 0; i < 16; i++) {
    const res = await u.invoke();
    expect(res.status).toBe(200);
    await res.body?.cancel();
  }
  expect(u.invokes(a) + u.invokes(b)).toBe(16);
  expect(u.invokes(a)).toBeLessThan(u.invokes(b));
  if (policy === "least-latency") expect(u.invokes(a)).toBeLessThanOrEqual(1);
});

it("lists the learned latency and back-off in the backend registry", async () => {
  const u = await freshUser("round-robin");
  await a.setDown(true);
  const res = await u.invoke();
  expect(res.status).toBe(200);
  const page = await world.admin.request<{ items: Array<Record<string, unknown>> }>(
    "GET",
    `/v1/backends?user=${u.user}`,
  );
  const rows = Object.fromEntries(page.items.map((row) => [row.name, row]));
  expect(rows[`${u.user}-a`]?.backoffUntil).toEqual(expect.any(String));
  expect(rows[`${u.user}-b`]?.latencyMs).toEqual(expect.any(Number));
  expect(JSON.stringify(page)).not.toContain(a.auth.split(":")[1]);
});

it("stops reading a chunked list answer at MAX_LIST_BODY_BYTES and merges the other backend's", async () => {
  const u = await freshUser("round-robin");
  const total = 4 * MAX_LIST_BODY_BYTES;
  a.setOversizedLists(total);
  const res = await world.call("/namespaces/_/actions", { apiKey: u.apiKey });
  expect(res.status).toBe(200);
  expect(res.headers.get("x-flock-backend")).toBe(`${u.user}-b`);
  expect(res.headers.get("x-flock-backends")).toBe(`${u.user}-a=unreachable,${u.user}-b=200`);
  expect((await res.json()) as unknown[]).toContainEqual(expect.objectContaining({ name: u.action }));
  expect(a.streamedLists).toHaveLength(1);
  const streamed = await a.streamedLists[0];
  expect(streamed?.completed).toBe(false);
  expect(streamed?.bytesWritten).toBeLessThan(total);
});
