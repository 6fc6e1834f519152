/**
 * The worker as an OpenWhisk API host, driven by the real `openwhisk` npm client (and raw
 * fetch where the client hides the wire), with two controller doubles as one user's
 * backends and a third as another user's.
 */
import openwhisk from "openwhisk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpenWhiskDouble } from "../helpers/openwhisk-double.ts";
import { HELLO_CODE, type OpenWhiskWorld, startOpenWhiskWorld } from "./openwhisk-fixture.ts";

const NO_CREDENTIALS = "The resource requires authentication, which was not supplied with the request";
const BAD_CREDENTIALS = "The supplied authentication is invalid";
const NOT_FOUND = "The requested resource does not exist.";
const ACTIVATION_ID = /^[0-9a-f]{32}$/;

let world: OpenWhiskWorld;
let a: OpenWhiskDouble;
let b: OpenWhiskDouble;
let c: OpenWhiskDouble;
let aliceKey: string;
let bobKey: string;

beforeAll(async () => {
  world = await startOpenWhiskWorld(3);
  [a, b, c] = world.doubles as [OpenWhiskDouble, OpenWhiskDouble, OpenWhiskDouble];
  await world.addUser("alice");
  await world.addUser("bob");
  await world.addBackend({ name: "a", apihost: a.url, auth: a.auth, user: "alice" });
  await world.addBackend({ name: "b", apihost: b.url, auth: b.auth, user: "alice" });
  await world.addBackend({ name: "c", apihost: c.url, auth: c.auth, user: "bob" });
  aliceKey = await world.issueKey("alice");
  bobKey = await world.issueKey("bob");
  await world.client(aliceKey).actions.create({ name: "hello", action: HELLO_CODE });
});

afterAll(async () => {
  await world?.stop();
});

/** Non-blocking activations finish on their own; poll the worker until the record exists. */
async function settledActivation(id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const res = await world.call(`/namespaces/_/activations/${id}`, { apiKey: aliceKey });
    if (res.status === 200) return (await res.json()) as unknown as Record<string, unknown>;
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`activation ${id} never appeared`);
}

describe("authentication", () => {
  it("serves GET /api/v1 without credentials", async () => {
    const res = await world.call("");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ description: "OpenWhisk API", api_version_path: "v1" });
  });

  it("refuses a call without credentials with OpenWhisk's body and challenge", async () => {
    const res = await world.call("/namespaces/_/actions", { headers: { "x-request-id": "req-no-creds" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="OpenWhisk secure realm"');
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ error: NO_CREDENTIALS, code: "req-no-creds" });
  });

  it("refuses a wrong key with the exact body, and never calls a backend", async () => {
    const before = a.calls.length + b.calls.length;
    const [uuid] = aliceKey.split(":");
    const res = await world.call("/namespaces/_/actions/hello?blocking=true", {
      method: "POST",
      apiKey: `${uuid}:wrong-key`,
      headers: { "x-request-id": "req-bad-key" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="OpenWhisk secure realm"');
    expect(await res.json()).toEqual({ error: BAD_CREDENTIALS, code: "req-bad-key" });
    expect(a.calls.length + b.calls.length).toBe(before);
  });

  it("surfaces 401 through the openwhisk client", async () => {
    const err = await world
      .client("00000000-0000-4000-8000-000000000000:nope")
      .actions.list()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 401, error: { error: BAD_CREDENTIALS } });
  });

  it("uses the backend's own credentials, never the caller's", () => {
    for (const double of [a, b]) {
      const expected = `Basic ${Buffer.from(double.auth).toString("base64")}`;
      expect(double.calls.length).toBeGreaterThan(0);
      for (const call of double.calls) expect(call.authorization).toBe(expected);
    }
  });

  it("keeps another user's key away from this user's backends", async () => {
    const before = a.calls.length + b.calls.length;
    const bob = world.client(bobKey);
    const err = await bob.actions.get({ name: "hello" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 404, error: { error: NOT_FOUND } });
    expect(await bob.actions.list()).toEqual([]);
    const invoke = await bob.actions.invoke({ name: "hello", blocking: true }).catch((e: unknown) => e);
    expect(invoke).toMatchObject({ statusCode: 404 });
    expect(a.calls.length + b.calls.length).toBe(before);
    expect(c.calls.some((call) => call.path === "/api/v1/namespaces/_/actions/hello")).toBe(true);
  });

  it("asks only the caller's own backends for an activation it has no record of", async () => {
    const run = await world.call("/namespaces/_/actions/hello?blocking=true", {
      method: "POST",
      apiKey: aliceKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Alice" }),
    });
    expect(run.status).toBe(200);
    const id = run.headers.get("x-openwhisk-activation-id") ?? "";
    expect(id).toMatch(ACTIVATION_ID);
    const before = a.calls.length + b.calls.length;
    const path = `/namespaces/_/activations/${id}`;
    const res = await world.call(path, { apiKey: bobKey });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-flock-backends")).toBe("c=404");
    await res.body?.cancel();
    expect(a.calls.length + b.calls.length).toBe(before);
    expect(c.calls.filter((call) => call.path === `/api/v1${path}`)).toHaveLength(1);
  });
});

describe("actions", () => {
  it("creates on every backend and reports each one", async () => {
    const res = await world.call("/namespaces/_/actions/made-raw?overwrite=false", {
      method: "PUT",
      apiKey: aliceKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ exec: { kind: "nodejs:20", code: HELLO_CODE } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-flock-backends")).toBe("a=200,b=200");
    expect(await res.json()).toMatchObject({ name: "made-raw", namespace: "guest", version: "0.0.1" });
    expect(a.actions.has("made-raw")).toBe(true);
    expect(b.actions.has("made-raw")).toBe(true);
  });

  it("accepts action code larger than the 1 MiB invoke limit on PUT", async () => {
    const code = `${HELLO_CODE}\n//${"x".repeat(2 * 1024 * 1024)}`;
    const created = await world.client(aliceKey).actions.create({ name: "big-code", action: code });
    expect(created).toMatchObject({ name: "big-code" });
    expect(a.actions.get("big-code")?.exec.code).toBe(code);
    expect(b.actions.get("big-code")?.exec.code).toBe(code);
  });

  it("keeps 409 on create of an existing action", async () => {
    const err = await world
      .client(aliceKey)
      .actions.create({ name: "hello", action: HELLO_CODE })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 409, error: { error: "resource already exists" } });
  });

  it("updates on every backend", async () => {
    const ow = world.client(aliceKey);
    await ow.actions.create({ name: "to-update", action: HELLO_CODE });
    const updated = await ow.actions.update({ name: "to-update", action: `${HELLO_CODE}\n// v2` });
    expect(updated).toMatchObject({ name: "to-update", version: "0.0.2" });
    expect(a.actions.get("to-update")?.exec.code).toContain("// v2");
    expect(b.actions.get("to-update")?.exec.code).toContain("// v2");
  });

  it("gets one action, with and without code", async () => {
    const ow = world.client(aliceKey);
    const full = await ow.actions.get({ name: "hello" });
    expect(full).toMatchObject({
      namespace: "guest",
      name: "hello",
      exec: { kind: "nodejs:20", code: HELLO_CODE, binary: false },
      limits: { timeout: 60000, memory: 256, logs: 10, concurrency: 1 },
    });
    const getWithoutCode = { name: "hello", code: false } as unknown as { name: string };
    const bare = (await ow.actions.get(getWithoutCode)) as unknown as { exec: Record<string, unknown> };
    expect(bare.exec.code).toBeUndefined();
  });

  it("answers 404 with OpenWhisk's body for a missing action", async () => {
    const res = await world.call("/namespaces/_/actions/nope", {
      apiKey: aliceKey,
      headers: { "x-request-id": "req-404" },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: NOT_FOUND, code: "req-404" });
  });

  it("lists actions merged across backends, once each, honouring limit and skip", async () => {
    const ow = world.client(aliceKey);
    for (const name of ["list-1", "list-2", "list-3"]) await ow.actions.create({ name, action: HELLO_CODE });
    const all = (await ow.actions.list()) as Array<{ name: string }>;
    const names = all.map((x) => x.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.slice(0, 3)).toEqual(["list-3", "list-2", "list-1"]);
    const window = (await ow.actions.list({ limit: 2, skip: 1 })) as Array<{ name: string }>;
    expect(window.map((x) => x.name)).toEqual(["list-2", "list-1"]);
    expect(await ow.actions.list({ count: true })).toEqual({ actions: names.length });
  });

  it("pages a merged list past the first 200 rows with the real client", async () => {
    // Actions only one backend has, made straight on each controller, so each backend holds
    // more than one page (200 rows) and the merge must read past it.
    for (const [double, tag] of [
      [a, "a"],
      [b, "b"],
    ] as const) {
      const direct = openwhisk({ apihost: double.url, api_key: double.auth });
      for (let i = 0; i < 210; i++)
        await direct.actions.create({ name: `deep-${tag}-${i}`, action: HELLO_CODE });
    }
    const ow = world.client(aliceKey);
    const pages: string[][] = [];
    for (let skip = 0; skip < 600; skip += 200) {
      const page = (await ow.actions.list({ limit: 200, skip })) as Array<{ name: string }>;
      pages.push(page.map((x) => x.name));
    }
    const expected = new Set([...a.actions.keys(), ...b.actions.keys()]);
    expect(expected.size).toBeGreaterThan(420);
    expect(pages.map((p) => p.length)).toEqual([200, 200, expected.size - 400]);
    const listed = pages.flat();
    expect(listed).toHaveLength(new Set(listed).size);
    expect(new Set(listed)).toEqual(expected);
  });

  it("refuses a bad limit with the controller's text", async () => {
    const res = await world.call("/namespaces/_/actions?limit=201", { apiKey: aliceKey });
    expect(res.status).toBe(400);
    expect((await res.json()) as unknown).toMatchObject({
      error: "The value '201' is not in the range of 0 to 200 for actions.",
    });
  });

  it("serves the explicit namespace, two-segment package paths and a trailing '?'", async () => {
    const put = await world.call("/namespaces/guest/actions/pkg/inner?", {
      method: "PUT",
      apiKey: aliceKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ exec: { kind: "nodejs:20", code: HELLO_CODE } }),
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ namespace: "guest/pkg", name: "inner" });
    const ow = world.client(aliceKey);
    expect(
      await ow.actions.invoke({ name: "pkg/inner", params: { name: "Pkg" }, blocking: true, result: true }),
    ).toEqual({ payload: "Hello Pkg" });
    const inPkg = await world.call("/namespaces/_/actions/pkg/?limit=30&skip=0", { apiKey: aliceKey });
    expect(((await inPkg.json()) as Array<{ name: string }>).map((x) => x.name)).toEqual(["inner"]);
  });

  it("deletes from every backend", async () => {
    const ow = world.client(aliceKey);
    await ow.actions.create({ name: "to-delete", action: HELLO_CODE });
    const res = await world.call("/namespaces/_/actions/to-delete", { method: "DELETE", apiKey: aliceKey });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-flock-backends")).toBe("a=200,b=200");
    expect(await res.json()).toMatchObject({ name: "to-delete" });
    expect(a.actions.has("to-delete") || b.actions.has("to-delete")).toBe(false);
    const again = await ow.actions.delete({ name: "to-delete" }).catch((e: unknown) => e);
    expect(again).toMatchObject({ statusCode: 404 });
  });
});

describe("invoke", () => {
  it("non-blocking: 202 with an activation id, later readable with get/result/logs", async () => {
    const ow = world.client(aliceKey);
    const accepted = (await ow.actions.invoke({ name: "hello", params: { name: "Ann" } })) as {
      activationId: string;
    };
    expect(Object.keys(accepted)).toEqual(["activationId"]);
    expect(accepted.activationId).toMatch(ACTIVATION_ID);
    const record = await settledActivation(accepted.activationId);
    expect(record).toMatchObject({
      activationId: accepted.activationId,
      name: "hello",
      namespace: "guest",
      response: { result: { payload: "Hello Ann" }, status: "success", success: true },
    });
    expect(await ow.activations.result({ name: accepted.activationId })).toEqual({
      result: { payload: "Hello Ann" },
      size: JSON.stringify({ payload: "Hello Ann" }).length,
      status: "success",
      success: true,
    });
    const { logs } = (await ow.activations.logs({ name: accepted.activationId })) as { logs: string[] };
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z stdout: hello Ann$/);
  });

  it("non-blocking over the wire: 202, activation id header, trace headers", async () => {
    const res = await world.call("/namespaces/_/actions/hello", {
      method: "POST",
      apiKey: aliceKey,
      headers: { "content-type": "application/json", "x-request-id": "req-nb" },
      body: JSON.stringify({ name: "Wire" }),
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { activationId: string };
    expect(res.headers.get("x-openwhisk-activation-id")).toBe(body.activationId);
    expect(res.headers.get("x-request-id")).toBe("req-nb");
    const backend = res.headers.get("x-flock-backend");
    expect(["a", "b"]).toContain(backend);
    expect(res.headers.get("x-flock-attempts")).toBe("1");
    expect(res.headers.get("server-timing")).toMatch(new RegExp(`^backend;desc="${backend}";dur=\\d+$`));
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const holder = backend === "a" ? a : b;
    const other = backend === "a" ? b : a;
    await settledActivation(body.activationId);
    expect(holder.activations.has(body.activationId)).toBe(true);
    expect(other.activations.has(body.activationId)).toBe(false);
  });

  it("blocking without result: the full record with empty logs", async () => {
    const record = (await world.client(aliceKey).actions.invoke({
      name: "hello",
      params: { name: "John" },
      blocking: true,
    })) as unknown as Record<string, unknown>;
    expect(record).toMatchObject({
      name: "hello",
      namespace: "guest",
      logs: [],
      response: { result: { payload: "Hello John" }, status: "success", success: true },
    });
    expect(record.activationId).toMatch(ACTIVATION_ID);
  });

  it("blocking with result through the client: the result", async () => {
    const result = await world
      .client(aliceKey)
      .actions.invoke({ name: "hello", params: { name: "John" }, blocking: true, result: true });
    expect(result).toEqual({ payload: "Hello John" });
  });

  it("passes result=true through untranslated", async () => {
    const res = await world.call("/namespaces/_/actions/hello?blocking=true&result=true", {
      method: "POST",
      apiKey: aliceKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Raw" }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"payload":"Hello Raw"}');
    expect(res.headers.get("x-openwhisk-activation-id")).toMatch(ACTIVATION_ID);
  });

  it("result=true without blocking is still a 202", async () => {
    const res = await world.call("/namespaces/_/actions/hello?blocking=false&result=true", {
      method: "POST",
      apiKey: aliceKey,
    });
    expect(res.status).toBe(202);
    expect(Object.keys((await res.json()) as object)).toEqual(["activationId"]);
  });

  it("returns an application error as 502, record or bare error", async () => {
    const ow = world.client(aliceKey);
    const err = await ow.actions
      .invoke({ name: "hello", params: { fail: true }, blocking: true })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      statusCode: 502,
      error: {
        response: { result: { error: "Error message" }, status: "application error", success: false },
      },
    });
    const res = await world.call("/namespaces/_/actions/hello?blocking=true&result=true", {
      method: "POST",
      apiKey: aliceKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fail: true }),
    });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({ error: "Error message" });
  });

  it("passes the 202 demotion of a blocking call that outlasts its wait", async () => {
    const res = await world.call("/namespaces/_/actions/hello?blocking=true&result=true&timeout=50", {
      method: "POST",
      apiKey: aliceKey,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sleepMs: 400 }),
    });
    expect(res.status).toBe(202);
    const { activationId } = (await res.json()) as { activationId: string };
    expect(activationId).toMatch(ACTIVATION_ID);
    const record = await settledActivation(activationId);
    expect(record).toMatchObject({ response: { result: { payload: "late" } } });
  });

  it("refuses an invoke body over 1 MiB with OpenWhisk's 413, before any backend", async () => {
    const before = a.calls.length + b.calls.length;
    const body = JSON.stringify({ blob: "x".repeat(1_048_600 - 12) });
    const res = await world.call("/namespaces/_/actions/hello?blocking=true", {
      method: "POST",
      apiKey: aliceKey,
      headers: { "content-type": "application/json", "x-request-id": "req-413" },
      body,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: `Request larger than allowed: ${Buffer.byteLength(body)} > 1048576 bytes.`,
      code: "req-413",
    });
    expect(a.calls.length + b.calls.length).toBe(before);
  });
});

describe("activations", () => {
  it("finds an activation the worker never saw by asking every backend", async () => {
    const direct = await fetch(`${b.url}/api/v1/namespaces/_/actions/hello?blocking=true`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(b.auth).toString("base64")}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ name: "Direct" }),
    });
    const { activationId } = (await direct.json()) as { activationId: string };
    const record: unknown = await world.client(aliceKey).activations.get({ name: activationId });
    expect(record).toMatchObject({ activationId, response: { result: { payload: "Hello Direct" } } });
  });

  it("answers 404 only when every backend says 404", async () => {
    const res = await world.call(`/namespaces/_/activations/${"0".repeat(32)}`, {
      apiKey: aliceKey,
      headers: { "x-request-id": "req-act-404" },
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: NOT_FOUND, code: "req-act-404" });
  });

  it("lists activations of all backends, newest first", async () => {
    const ow = world.client(aliceKey);
    const rows = (await ow.activations.list({ limit: 200 })) as Array<{
      activationId: string;
      start: number;
    }>;
    const expected = [...a.activations.values(), ...b.activations.values()]
      .sort((x, y) => y.start - x.start)
      .map((x) => x.start);
    expect(rows.map((r) => r.start)).toEqual(expected);
    expect(new Set(rows.map((r) => r.activationId)).size).toBe(rows.length);
    expect(await ow.activations.list({ count: true })).toEqual({
      activations: a.activations.size + b.activations.size,
    });
    const firstTwo = (await ow.activations.list({ limit: 2, skip: 1 })) as unknown as Array<{
      start: number;
    }>;
    expect(firstTwo.map((r) => r.start)).toEqual(expected.slice(1, 3));
  });
});

describe("namespaces and CORS", () => {
  it("lists the backends' namespace", async () => {
    expect(await world.client(aliceKey).namespaces.list()).toEqual(["guest"]);
  });

  it("answers OPTIONS with the controller's CORS headers", async () => {
    const res = await world.call("/namespaces/_/actions/hello", { method: "OPTIONS" });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-methods")).toBe("GET, DELETE, POST, PUT, HEAD");
    expect(res.headers.get("access-control-allow-headers")).toBe(
      "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent",
    );
  });
});
