/**
 * Routed calls, fan-out and activation lookup against scripted backends (an injected fetch),
 * so every failover rule and the upstream timeout are checked without waiting on real time.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { BackendRow } from "../../../worker/db/backends.ts";
import { readActivation } from "../../../worker/openwhisk/activation-affinity.ts";
import { currentHealth, observeAttempts } from "../../../worker/openwhisk/backend-health.ts";
import type { CallContext, RoutedBackend } from "../../../worker/openwhisk/call-context.ts";
import { fanOut } from "../../../worker/openwhisk/fan-out.ts";
import { invokeWithFailover, readFirstFound } from "../../../worker/openwhisk/routed-call.ts";
import { orderCandidates } from "../../../worker/openwhisk/routing-policy.ts";
import {
  BLOCKING_INVOKE_TIMEOUT_MS,
  callBackend,
  type Fetcher,
  UPSTREAM_TIMEOUT_MS,
  upstreamHeaders,
} from "../../../worker/openwhisk/upstream.ts";

type Script = "refuse" | "hang" | { status: number; body?: unknown; headers?: Record<string, string> };

function backend(name: string): RoutedBackend {
  return {
    name,
    apihost: `https://${name}.test`,
    auth: `uuid-${name}:key-${name}`,
    latencyMs: null,
    backoffUntil: 0,
  };
}

/** The D1 row of a backend routing has not seen yet: no latency, no back-off. */
function backendRow(name: string): BackendRow {
  return {
    name,
    user_name: null,
    apihost: `https://${name}.test`,
    auth_sealed: "v1.x.y",
    created_at: 0,
    latency_ms: null,
    backoff_until: 0,
  };
}

/** Each backend answers from its script; calls are recorded by backend name. */
function scripted(scripts: Record<string, Script>) {
  const calls: Array<{ backend: string; request: Request }> = [];
  const fetcher: Fetcher = (request) => {
    const name = new URL(request.url).hostname.replace(".test", "");
    calls.push({ backend: name, request });
    const script = scripts[name];
    if (script === undefined || script === "refuse")
      return Promise.reject(new TypeError("connection refused"));
    if (script === "hang") {
      return new Promise((_, reject) => {
        request.signal.addEventListener("abort", () => reject(request.signal.reason));
      });
    }
    return Promise.resolve(
      new Response(script.body === undefined ? null : JSON.stringify(script.body), {
        status: script.status,
        headers: { "content-type": "application/json", ...script.headers },
      }),
    );
  };
  return { calls, fetcher };
}

function context(
  names: string[],
  fetcher: Fetcher,
  overrides: Partial<CallContext["request"]> = {},
): CallContext {
  return {
    user: "alice",
    policy: "round-robin",
    backends: names.map(backend),
    fetcher,
    request: {
      method: "POST",
      path: "/namespaces/_/actions/hello",
      search: "?blocking=true",
      headers: new Headers({
        authorization: "Basic Y2FsbGVyOnNlY3JldA==",
        "content-type": "application/json",
      }),
      requestId: "rid-1",
      body: new TextEncoder().encode("{}"),
      timeoutMs: 1000,
      ...overrides,
    },
  };
}

const ACTIVATION = { "x-openwhisk-activation-id": "c7bb1339cb4f40e3a6ccead6c99f804e" };

describe("invoke failover", () => {
  it("moves on when a backend is unreachable", async () => {
    const { calls, fetcher } = scripted({
      a: "refuse",
      b: { status: 200, body: { ok: 1 }, headers: ACTIVATION },
    });
    const ctx = context(["a", "b"], fetcher);
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(200);
    expect(result.backends).toEqual(["b"]);
    expect(result.attempts.map((a) => [a.backend, a.outcome, a.status])).toEqual([
      ["a", "unreachable", undefined],
      ["b", "answer", 200],
    ]);
    expect(result.activations).toEqual([{ id: ACTIVATION["x-openwhisk-activation-id"], backend: "b" }]);
    expect(calls.map((c) => c.backend)).toEqual(["a", "b"]);
  });

  it("moves on when a backend refuses its stored credentials, and never shows that 401", async () => {
    const { fetcher } = scripted({
      a: { status: 401, body: { error: "The supplied authentication is invalid", code: "x" } },
      b: { status: 200, body: { ok: 1 } },
    });
    const ctx = context(["a", "b"], fetcher);
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(200);
    expect(result.attempts.map((a) => a.outcome)).toEqual(["credentials-refused", "answer"]);
    const alone = scripted({ a: { status: 401, body: {} } });
    const only = context(["a"], alone.fetcher);
    expect((await invokeWithFailover(only, only.backends)).response.status).toBe(503);
  });

  it.each([429, 503])("moves on after %i", async (status) => {
    const { fetcher } = scripted({
      a: { status, body: { error: "busy" } },
      b: { status: 202, body: { activationId: "x" } },
    });
    const ctx = context(["a", "b"], fetcher);
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(202);
    expect(result.activations).toEqual([{ id: "x", backend: "b" }]);
  });

  it.each([
    502, 500, 404, 400, 202, 200,
  ])("returns %i as the user's answer without retrying", async (status) => {
    const { calls, fetcher } = scripted({ a: { status, body: { error: "own" } }, b: { status: 200 } });
    const ctx = context(["a", "b"], fetcher);
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(status);
    expect(calls.map((c) => c.backend)).toEqual(["a"]);
  });

  it("answers 504 on an upstream timeout and does not risk a second run", async () => {
    const { calls, fetcher } = scripted({ a: "hang", b: { status: 200 } });
    const ctx = context(["a", "b"], fetcher, { timeoutMs: 30 });
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(504);
    expect(await result.response.json()).toEqual({
      error: "The OpenWhisk backend did not answer in time.",
      code: "rid-1",
    });
    expect(calls.map((c) => c.backend)).toEqual(["a"]);
  });

  it("answers 503 in OpenWhisk's envelope when nothing is reachable", async () => {
    const { fetcher } = scripted({ a: "refuse", b: "refuse" });
    const ctx = context(["a", "b"], fetcher);
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(503);
    expect(result.response.headers.get("content-type")).toBe("application/json");
    expect(await result.response.json()).toEqual({
      error: "No OpenWhisk backend is available to serve this request; try again later.",
      code: "rid-1",
    });
  });

  it("passes the last backend's own 503 on when every backend refuses", async () => {
    const { fetcher } = scripted({
      a: { status: 503, body: { error: "a" } },
      b: { status: 503, body: { error: "b" } },
    });
    const ctx = context(["a", "b"], fetcher);
    const result = await invokeWithFailover(ctx, ctx.backends);
    expect(result.response.status).toBe(503);
    expect(await result.response.json()).toEqual({ error: "b" });
  });
});

describe("upstream request", () => {
  it("sends the backend's credentials, never the caller's, and only OpenWhisk's headers", async () => {
    const { calls, fetcher } = scripted({ a: { status: 200, body: {} } });
    const ctx = context(["a"], fetcher, {
      headers: new Headers({
        authorization: "Basic Y2FsbGVyOnNlY3JldA==",
        cookie: "session=1",
        connection: "keep-alive, x-private",
        "x-private": "1",
        "content-type": "application/json",
        "x-ow-extra-logging": "on",
      }),
    });
    await invokeWithFailover(ctx, ctx.backends);
    const sent = calls[0]?.request;
    expect(sent?.headers.get("authorization")).toBe(`Basic ${btoa("uuid-a:key-a")}`);
    expect(sent?.headers.get("cookie")).toBeNull();
    expect(sent?.headers.get("x-private")).toBeNull();
    expect(sent?.headers.get("x-request-id")).toBe("rid-1");
    expect(sent?.headers.get("x-ow-extra-logging")).toBe("on");
    expect(sent?.url).toBe("https://a.test/api/v1/namespaces/_/actions/hello?blocking=true");
  });

  it("strips hop-by-hop headers from the answer", async () => {
    const { fetcher } = scripted({
      a: {
        status: 200,
        body: {},
        headers: {
          connection: "x-hop",
          "x-hop": "1",
          "keep-alive": "timeout=5",
          "x-openwhisk-activation-id": "id",
        },
      },
    });
    const outcome = await callBackend(backend("a"), context(["a"], fetcher).request, fetcher);
    if (outcome.kind !== "answer") throw new Error(outcome.kind);
    expect(outcome.response.headers.get("x-hop")).toBeNull();
    expect(outcome.response.headers.get("keep-alive")).toBeNull();
    expect(outcome.response.headers.get("x-openwhisk-activation-id")).toBe("id");
  });

  it("keeps the documented timeouts", () => {
    expect(BLOCKING_INVOKE_TIMEOUT_MS).toBeGreaterThanOrEqual(75_000);
    expect(UPSTREAM_TIMEOUT_MS).toBeLessThan(BLOCKING_INVOKE_TIMEOUT_MS);
    expect(upstreamHeaders(new Headers(), backend("a"), "r").get("authorization")).toBe(
      `Basic ${btoa("uuid-a:key-a")}`,
    );
  });
});

describe("entity reads", () => {
  it("takes the first backend that has the entity", async () => {
    const { fetcher } = scripted({
      a: { status: 404, body: { error: "nf" } },
      b: { status: 200, body: { name: "x" } },
    });
    const ctx = context(["a", "b"], fetcher, { method: "GET", search: "", body: undefined });
    const result = await readFirstFound(ctx, ctx.backends);
    expect(result.response.status).toBe(200);
    expect(result.backends).toEqual(["b"]);
  });

  it("answers 404 when no reachable backend has it", async () => {
    const { fetcher } = scripted({ a: "refuse", b: { status: 404, body: { error: "nf" } } });
    const ctx = context(["a", "b"], fetcher, { method: "GET", search: "", body: undefined });
    expect((await readFirstFound(ctx, ctx.backends)).response.status).toBe(404);
  });
});

describe("fan-out writes", () => {
  const put = (search: string) => ({ method: "PUT", search, path: "/namespaces/_/actions/x" });

  it("reports partial success and returns the first success", async () => {
    const { fetcher } = scripted({ a: "refuse", b: { status: 200, body: { name: "x", from: "b" } } });
    const result = await fanOut(context(["a", "b"], fetcher, put("?overwrite=true")));
    expect(result.response.status).toBe(200);
    expect(await result.response.json()).toEqual({ name: "x", from: "b" });
    expect(result.attempts.map((a) => a.outcome)).toEqual(["unreachable", "answer"]);
  });

  it("keeps 409 on create when the entity exists anywhere", async () => {
    const { fetcher } = scripted({
      a: { status: 200, body: {} },
      b: { status: 409, body: { error: "resource already exists" } },
    });
    const result = await fanOut(context(["a", "b"], fetcher, put("?overwrite=false")));
    expect(result.response.status).toBe(409);
    expect(result.backends).toEqual(["b"]);
  });

  it("answers 504 when the writes time out and 503 when nothing is reachable", async () => {
    const hang = scripted({ a: "hang" });
    expect((await fanOut(context(["a"], hang.fetcher, { ...put(""), timeoutMs: 20 }))).response.status).toBe(
      504,
    );
    const refuse = scripted({ a: "refuse" });
    expect((await fanOut(context(["a"], refuse.fetcher, put("")))).response.status).toBe(503);
  });
});

describe("activation lookup", () => {
  const get = {
    method: "GET",
    search: "",
    body: undefined,
    path: `/namespaces/_/activations/${"a".repeat(32)}`,
  };

  it("asks the remembered backend only, when it has the activation", async () => {
    const { calls, fetcher } = scripted({ a: { status: 200, body: {} }, b: { status: 200, body: {} } });
    const result = await readActivation(context(["a", "b"], fetcher, get), "b");
    expect(result.backends).toEqual(["b"]);
    expect(calls.map((c) => c.backend)).toEqual(["b"]);
  });

  it("falls back to every backend: the 200 wins even after a 404 and a refusal", async () => {
    const { fetcher } = scripted({
      a: { status: 404, body: {} },
      b: "refuse",
      c: { status: 200, body: { id: 1 } },
    });
    const result = await readActivation(context(["a", "b", "c"], fetcher, get), undefined);
    expect(result.response.status).toBe(200);
    expect(result.backends).toEqual(["c"]);
  });

  it("answers 404 only if every backend says 404, else 503", async () => {
    const all404 = scripted({
      a: { status: 404, body: { error: "nf" } },
      b: { status: 404, body: { error: "nf" } },
    });
    expect((await readActivation(context(["a", "b"], all404.fetcher, get), undefined)).response.status).toBe(
      404,
    );
    const mixed = scripted({ a: { status: 404, body: {} }, b: "refuse" });
    expect((await readActivation(context(["a", "b"], mixed.fetcher, get), undefined)).response.status).toBe(
      503,
    );
  });
});

describe("a backend that hangs", () => {
  // Each call is bounded by its timeout, so a hung backend costs one timeout, never a hung
  // caller; a test that hung would fail on vitest's own timeout.
  const HANG_TIMEOUT_MS = 30;

  it("costs a read one timeout, then the next backend answers", async () => {
    const { calls, fetcher } = scripted({ a: "hang", b: { status: 200, body: { name: "x" } } });
    const ctx = context(["a", "b"], fetcher, {
      method: "GET",
      search: "",
      body: undefined,
      timeoutMs: HANG_TIMEOUT_MS,
    });
    const result = await readFirstFound(ctx, ctx.backends);
    expect(result.response.status).toBe(200);
    expect(result.backends).toEqual(["b"]);
    expect(result.attempts.map((a) => [a.backend, a.outcome])).toEqual([
      ["a", "timeout"],
      ["b", "answer"],
    ]);
    expect(calls.map((c) => c.backend)).toEqual(["a", "b"]);
  });

  it("costs an invoke one timeout (504, no second run), and the next invoke goes straight to a healthy backend", async () => {
    const { calls, fetcher } = scripted({
      "hung-a": "hang",
      "hung-b": { status: 200, body: { ok: 1 }, headers: ACTIVATION },
    });
    const ctx = context(["hung-a", "hung-b"], fetcher, { timeoutMs: HANG_TIMEOUT_MS });
    const first = await invokeWithFailover(ctx, ctx.backends);
    expect(first.response.status).toBe(504);
    // What the proxy learns from that call backs the hung backend off.
    const now = Date.now();
    observeAttempts(env.DB, first.attempts, now);
    const health = currentHealth(ctx.backends.map((b) => backendRow(b.name)));
    const order = orderCandidates(
      "round-robin",
      ctx.backends.map((b) => ({ ...b, ...health.get(b.name) })),
      { nowMs: now, counter: 0, random: Math.random },
    );
    expect(order.map((b) => b.name)).toEqual(["hung-b", "hung-a"]);
    const second = await invokeWithFailover(ctx, order);
    expect(second.response.status).toBe(200);
    expect(calls.map((c) => c.backend)).toEqual(["hung-a", "hung-b"]);
  });

  it("costs a write to every backend one timeout, and the others' answer is returned", async () => {
    const { fetcher } = scripted({ a: "hang", b: { status: 200, body: { name: "x" } } });
    const ctx = context(["a", "b"], fetcher, {
      method: "PUT",
      search: "?overwrite=true",
      path: "/namespaces/_/actions/x",
      timeoutMs: HANG_TIMEOUT_MS,
    });
    const result = await fanOut(ctx);
    expect(result.response.status).toBe(200);
    expect(result.attempts.map((a) => a.outcome)).toEqual(["timeout", "answer"]);
  });
});
