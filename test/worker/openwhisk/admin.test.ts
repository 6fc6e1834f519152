/** The admin API for backends, routing policy and wsk keys, and the proxy's own refusals, inside workerd. */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { backendKey, openCredential } from "../../../worker/openwhisk/credential-cipher.ts";
import { admin, adminPost, BASE } from "../support/fixtures.ts";

const AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:backend-secret-value";

beforeAll(async () => {
  for (const name of ["owner", "other"]) expect((await adminPost("/v1/users", { name })).status).toBe(201);
});

function basic(value: string): string {
  return `Basic ${btoa(value)}`;
}

describe("backends", () => {
  it("adds a backend, seals its credentials and never returns them", async () => {
    const res = await adminPost("/v1/backends", {
      name: "east",
      apihost: "ow-east.example.com",
      auth: AUTH,
      user: "owner",
      policy: "least-latency",
    });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain("backend-secret-value");
    expect(JSON.parse(text)).toEqual({
      item: {
        name: "east",
        apihost: "https://ow-east.example.com",
        user: "owner",
        shared: false,
        createdAt: expect.any(String),
      },
    });
    const row = await env.DB.prepare("SELECT auth_sealed FROM ow_backends WHERE name = 'east'").first<{
      auth_sealed: string;
    }>();
    expect(row?.auth_sealed).not.toContain("backend-secret-value");
    const key = await backendKey(env.BACKEND_SECRET_KEY);
    expect(await openCredential(key, row?.auth_sealed ?? "", "east")).toBe(AUTH);
    const policy = await env.DB.prepare("SELECT policy FROM ow_routing WHERE user_name = 'owner'").first();
    expect(policy).toEqual({ policy: "least-latency" });
  });

  it("lists backends without credentials, filtered by user", async () => {
    const shared = await adminPost("/v1/backends", {
      name: "shared",
      apihost: "http://127.0.0.1:9",
      allowPrivateAddress: true,
      auth: AUTH,
      shared: true,
    });
    const { item } = (await shared.json()) as { item: Record<string, unknown> };
    expect(item).toMatchObject({ name: "shared", shared: true });
    expect(item).not.toHaveProperty("user");
    await adminPost("/v1/backends", {
      name: "others",
      apihost: "http://127.0.0.1:9",
      allowPrivateAddress: true,
      auth: AUTH,
      user: "other",
    });
    const all = await admin("/v1/backends");
    const text = await all.text();
    expect(text).not.toContain("backend-secret-value");
    expect(text).not.toContain("auth");
    const names = (JSON.parse(text) as { items: Array<{ name: string }> }).items.map((b) => b.name);
    expect(names).toEqual(expect.arrayContaining(["east", "shared", "others"]));
    const mine = (await (await admin("/v1/backends?user=owner")).json()) as {
      items: Array<{ name: string }>;
    };
    expect(mine.items.map((b) => b.name)).toEqual(["east", "shared"]);
  });

  it.each([
    [{ name: "east", apihost: "https://x", auth: AUTH, user: "owner" }, 409, "BACKEND_EXISTS"],
    [{ name: "ghost", apihost: "https://x", auth: AUTH, user: "nobody" }, 404, "USER_NOT_FOUND"],
    [{ name: "bad name", apihost: "https://x", auth: AUTH, user: "owner" }, 400, "INVALID_NAME"],
    [{ name: "x1", apihost: "https://u:p@x", auth: AUTH, user: "owner" }, 400, "BAD_REQUEST"],
    [{ name: "x2", apihost: "https://x/path", auth: AUTH, user: "owner" }, 400, "BAD_REQUEST"],
    [{ name: "x3", apihost: "https://x", auth: "no-colon", user: "owner" }, 400, "BAD_REQUEST"],
    [{ name: "x4", apihost: "https://x", auth: AUTH, policy: "fastest", user: "owner" }, 400, "BAD_REQUEST"],
    [{ name: "x5", apihost: "https://x", auth: AUTH, policy: "random", shared: true }, 400, "BAD_REQUEST"],
    [{ name: "x6", apihost: "https://x", auth: AUTH, shared: "yes" }, 400, "BAD_REQUEST"],
    [{ name: "x7", apihost: "https://x", auth: AUTH, user: "owner", insecure: false }, 400, "BAD_REQUEST"],
  ])("refuses %j with %i %s", async (body, status, code) => {
    const res = await adminPost("/v1/backends", body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ code });
  });

  it.each([
    ["neither user nor shared", {}],
    ["shared: false without user", { shared: false }],
    ["both user and shared", { user: "owner", shared: true }],
  ])("makes sharing an explicit choice: refuses %s", async (_, owner) => {
    const res = await adminPost("/v1/backends", {
      name: "unowned",
      apihost: "https://x",
      auth: AUTH,
      ...owner,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "Give either user (the one user it serves) or shared: true (every user's calls reach it).",
      code: "BAD_REQUEST",
    });
    const row = await env.DB.prepare("SELECT name FROM ow_backends WHERE name = 'unowned'").first();
    expect(row).toBeNull();
  });

  it("refuses insecure: the worker cannot skip TLS verification", async () => {
    const res = await adminPost("/v1/backends", {
      name: "selfsigned",
      apihost: "https://x",
      auth: AUTH,
      user: "owner",
      insecure: true,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "insecure is not supported: the worker always verifies a backend's TLS certificate.",
      code: "BAD_REQUEST",
    });
  });

  it("needs the admin token", async () => {
    const res = await SELF.fetch(`${BASE}/v1/backends`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("sets a user's routing policy", async () => {
    const res = await admin("/v1/users/other/backend-policy", {
      method: "PUT",
      body: JSON.stringify({ policy: "random" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ item: { user: "other", policy: "random" } });
    const missing = await admin("/v1/users/nobody/backend-policy", {
      method: "PUT",
      body: JSON.stringify({ policy: "random" }),
    });
    expect(await missing.json()).toMatchObject({ code: "USER_NOT_FOUND" });
  });

  it("removes a backend, and says so when there is none", async () => {
    await adminPost("/v1/backends", { name: "temp", apihost: "https://x", auth: AUTH, user: "owner" });
    const res = await admin("/v1/backends/temp", { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ item: { name: "temp" } });
    const again = await admin("/v1/backends/temp", { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ code: "BACKEND_NOT_FOUND" });
  });
});

describe("wsk keys", () => {
  it("issues a key shown once and stores only its hash", async () => {
    const res = await adminPost("/v1/users/owner/wsk-keys", {});
    expect(res.status).toBe(201);
    const issued = (await res.json()) as { uuid: string; key: string; item: { user: string } };
    expect(issued.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(issued.key).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(issued.item.user).toBe("owner");
    const row = await env.DB.prepare("SELECT * FROM wsk_keys WHERE uuid = ?").bind(issued.uuid).first();
    expect(JSON.stringify(row)).not.toContain(issued.key);
    const listed = await (await admin("/v1/users/owner/wsk-keys")).text();
    expect(listed).toContain(issued.uuid);
    expect(listed).not.toContain(issued.key);
  });

  it("refuses keys for a missing user", async () => {
    const res = await adminPost("/v1/users/nobody/wsk-keys", {});
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "USER_NOT_FOUND" });
  });

  it("revokes a key so it no longer authenticates", async () => {
    const issued = (await (await adminPost("/v1/users/owner/wsk-keys", {})).json()) as {
      uuid: string;
      key: string;
    };
    const call = () =>
      SELF.fetch(`${BASE}/api/v1/namespaces/_/actions/x?blocking=true`, {
        method: "POST",
        headers: { authorization: basic(`${issued.uuid}:${issued.key}`) },
        body: "x".repeat(1_048_577),
      });
    expect((await call()).status).toBe(413);
    expect((await admin(`/v1/users/owner/wsk-keys/${issued.uuid}`, { method: "DELETE" })).status).toBe(200);
    expect((await call()).status).toBe(401);
  });

  it("refuses a deleted user's keys at once in this isolate, and leaves no key row for other isolates", async () => {
    expect((await adminPost("/v1/users", { name: "leaving" })).status).toBe(201);
    const issued = (await (await adminPost("/v1/users/leaving/wsk-keys", {})).json()) as {
      uuid: string;
      key: string;
    };
    const call = () =>
      SELF.fetch(`${BASE}/api/v1/namespaces/_/actions`, {
        headers: { authorization: basic(`${issued.uuid}:${issued.key}`) },
      });
    // Accepted (no backend registered: 503), which puts the caller's table in this isolate's cache.
    expect((await call()).status).toBe(503);
    expect((await admin("/v1/users/leaving", { method: "DELETE" })).status).toBe(200);
    expect((await call()).status).toBe(401);
    // Another isolate's next read of D1 finds no key: the rows went with the user.
    const rows = await env.DB.prepare(
      "SELECT count(*) AS n FROM wsk_keys WHERE user_name = 'leaving'",
    ).first();
    expect(rows).toEqual({ n: 0 });
  });
});

describe("OpenWhisk API refusals", () => {
  let key: string;
  beforeAll(async () => {
    const issued = (await (await adminPost("/v1/users/other/wsk-keys", {})).json()) as {
      uuid: string;
      key: string;
    };
    key = `${issued.uuid}:${issued.key}`;
    // Port 9 (discard) has no listener here: a backend that is always unreachable.
    await adminPost("/v1/backends", {
      name: "dead",
      apihost: "http://127.0.0.1:9",
      allowPrivateAddress: true,
      auth: AUTH,
      user: "other",
    });
  });

  it.each([
    ["no header", undefined, "The resource requires authentication, which was not supplied with the request"],
    ["garbage", "Basic !!!", "The supplied authentication is invalid"],
    ["bearer", "Bearer abc", "The supplied authentication is invalid"],
    [
      "unknown uuid",
      basic("00000000-0000-4000-8000-000000000000:key"),
      "The supplied authentication is invalid",
    ],
  ])("401 for %s", async (_, authorization, message) => {
    const headers: Record<string, string> = { "x-request-id": "rid-401" };
    if (authorization) headers.authorization = authorization;
    const res = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions`, { headers });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Basic realm="OpenWhisk secure realm"');
    expect(res.headers.get("x-request-id")).toBe("rid-401");
    expect(await res.json()).toEqual({ error: message, code: "rid-401" });
  });

  it("makes a fresh transaction id when the caller's starts with sid_", async () => {
    const res = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions`, {
      headers: { "x-request-id": "sid_abc" },
    });
    const body = (await res.json()) as { code: string };
    expect(body.code).not.toBe("sid_abc");
    expect(res.headers.get("x-request-id")).toBe(body.code);
  });

  it("enforces the 1 MiB invoke limit by content-length and by counting a stream", async () => {
    const headers = { authorization: basic(key), "x-request-id": "rid-413" };
    const declared = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions/x`, {
      method: "POST",
      headers,
      body: "x".repeat(1_048_577),
    });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({
      error: "Request larger than allowed: 1048577 > 1048576 bytes.",
      code: "rid-413",
    });
    const chunk = new Uint8Array(300_000);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 4) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const streamed = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions/x`, {
      method: "POST",
      headers,
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
    // Without content-length the size is what had arrived when the count crossed the limit.
    const { error } = (await streamed.json()) as { error: string };
    const counted = Number(/^Request larger than allowed: (\d+) > 1048576 bytes\.$/.exec(error)?.[1]);
    expect(counted).toBeGreaterThan(1_048_576);
    expect(counted).toBeLessThanOrEqual(1_200_000);
  });

  it("answers 503 when no backend of the user is reachable, 404 for unknown paths, 405 for wrong methods", async () => {
    const headers = { authorization: basic(key) };
    const unknown = await SELF.fetch(`${BASE}/api/v1/namespaces/_/secrets`, { headers });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: "The requested resource does not exist." });
    const wrong = await SELF.fetch(`${BASE}/api/v1/namespaces/_/activations`, { method: "POST", headers });
    expect(wrong.status).toBe(405);
    const list = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions`, { headers });
    expect(list.status).toBe(503);
    expect(list.headers.get("x-flock-backends")).toContain("dead=unreachable");
  });
});

describe("call log", () => {
  it("logs one JSON line per call with user, action, backend, status and attempts, and no secrets", async () => {
    const issued = (await (await adminPost("/v1/users/other/wsk-keys", {})).json()) as {
      uuid: string;
      key: string;
    };
    const lines: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    try {
      const res = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions/pkg/hello%20you?blocking=true`, {
        method: "POST",
        headers: { authorization: basic(`${issued.uuid}:${issued.key}`), "x-request-id": "rid-log" },
      });
      expect(res.status).toBe(503);
    } finally {
      spy.mockRestore();
    }
    const calls = lines.filter((l) => l.includes('"openwhisk.call"'));
    expect(calls).toHaveLength(1);
    const entry = JSON.parse(calls[0] ?? "{}") as Record<string, unknown>;
    expect(entry).toMatchObject({
      requestId: "rid-log",
      user: "other",
      method: "POST",
      action: "pkg/hello you",
      backend: null,
      status: 503,
      attempts: expect.any(Number),
    });
    expect(entry.tried).toEqual(expect.arrayContaining(["dead=unreachable"]));
    expect(calls[0]).not.toContain(issued.key);
    expect(calls[0]).not.toContain("backend-secret-value");
  });
});
