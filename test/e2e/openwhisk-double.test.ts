/**
 * The controller double on its own, checked against docs/openwhisk.md with the real
 * `openwhisk` client and raw HTTP, so the proxy tests stand on a faithful backend.
 */
import openwhisk from "openwhisk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type OpenWhiskDouble, startOpenWhiskDouble } from "../helpers/openwhisk-double.ts";
import { HELLO_CODE } from "./openwhisk-fixture.ts";

let double: OpenWhiskDouble;
let authorization: string;

beforeAll(async () => {
  double = await startOpenWhiskDouble();
  authorization = `Basic ${Buffer.from(double.auth).toString("base64")}`;
  await openwhisk({ apihost: double.url, api_key: double.auth }).actions.create({
    name: "hello",
    action: HELLO_CODE,
  });
});

afterAll(async () => {
  await double?.close();
});

function post(path: string, body: unknown = {}, headers: Record<string, string> = {}) {
  return fetch(`${double.url}/api/v1/namespaces/_/actions/${path}`, {
    method: "POST",
    headers: { authorization, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

describe("controller double", () => {
  it("answers 401 with both texts and the challenge", async () => {
    const none = await fetch(`${double.url}/api/v1/namespaces/_/actions`, {
      headers: { "x-request-id": "r1" },
    });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Basic realm="OpenWhisk secure realm"');
    expect(await none.json()).toEqual({
      error: "The resource requires authentication, which was not supplied with the request",
      code: "r1",
    });
    const bad = await fetch(`${double.url}/api/v1/namespaces/_/actions`, {
      headers: { authorization: `Basic ${Buffer.from("u:k").toString("base64")}`, "x-request-id": "r2" },
    });
    expect(await bad.json()).toEqual({ error: "The supplied authentication is invalid", code: "r2" });
  });

  it("serves every blocking/result combination", async () => {
    const nonBlocking = await post("hello?blocking=false&result=true", { name: "A" });
    expect(nonBlocking.status).toBe(202);
    expect(Object.keys((await nonBlocking.json()) as object)).toEqual(["activationId"]);
    const record = await post("hello?blocking=true", { name: "A" });
    expect(record.status).toBe(200);
    expect(await record.json()).toMatchObject({
      logs: [],
      response: { result: { payload: "Hello A" }, success: true },
    });
    const result = await post("hello?blocking=true&result=true", { name: "A" });
    expect(await result.text()).toBe('{"payload":"Hello A"}');
    const failed = await post("hello?blocking=true&result=true", { fail: true });
    expect(failed.status).toBe(502);
    expect(await failed.json()).toEqual({ error: "Error message" });
  });

  it("demotes a blocking call that outlasts its wait to 202, and refuses a bad timeout", async () => {
    const late = await post("hello?blocking=true&result=true&timeout=20", { sleepMs: 200 });
    expect(late.status).toBe(202);
    const bad = await post("hello?blocking=true&timeout=60001");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "Timeout must be number of milliseconds up to 60000." });
  });

  it("turns the action's own time limit into a developer error", async () => {
    const ow = openwhisk({ apihost: double.url, api_key: double.auth });
    await ow.actions.create({ name: "short", action: HELLO_CODE, limits: { timeout: 50 } });
    const res = await post("short?blocking=true", { sleepMs: 500 });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({
      response: {
        result: { error: "The action exceeded its time limits of 50 milliseconds." },
        status: "action developer error",
        success: false,
      },
    });
  });

  it("checks size before lookup: 413 for an oversized body to a missing action", async () => {
    const res = await post(
      "missing?blocking=true",
      { blob: "x".repeat(1_048_576) },
      { "x-request-id": "r3" },
    );
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: `Request larger than allowed: ${1_048_576 + 11} > 1048576 bytes.`,
      code: "r3",
    });
  });

  it("keeps 409, 404 and 403 as the controller says them", async () => {
    const ow = openwhisk({ apihost: double.url, api_key: double.auth });
    await expect(ow.actions.create({ name: "hello", action: HELLO_CODE })).rejects.toMatchObject({
      statusCode: 409,
      error: { error: "resource already exists" },
    });
    await expect(ow.actions.get({ name: "nope" })).rejects.toMatchObject({
      statusCode: 404,
      error: { error: "The requested resource does not exist." },
    });
    const other = await fetch(`${double.url}/api/v1/namespaces/someone/actions`, {
      headers: { authorization },
    });
    expect(other.status).toBe(403);
  });

  it("obeys its knobs: 429/503 answers and refused connections", async () => {
    double.setAnswer(429);
    expect((await post("hello?blocking=true")).status).toBe(429);
    double.setAnswer(null);
    await double.setDown(true);
    await expect(post("hello?blocking=true")).rejects.toThrow();
    await double.setDown(false);
    expect((await post("hello?blocking=true", { name: "B" })).status).toBe(200);
  });

  it("streams an oversized list in full to a reader that drains it, leaving no listener behind per wait", async () => {
    // A listener left behind per wait fails this test through the setup file fail-on-listener-leaks.ts.
    // Its 64 KiB writes each overfill the response's 16 KiB buffer: one wait per write.
    const totalBytes = 4 * 1024 * 1024;
    double.setOversizedLists(totalBytes);
    try {
      const res = await fetch(`${double.url}/api/v1/namespaces/_/actions`, { headers: { authorization } });
      const body = await res.text();
      expect(body.length).toBe(totalBytes);
      expect(JSON.parse(body)).toEqual([]);
    } finally {
      double.setOversizedLists(null);
    }
    expect(await double.streamedLists.at(-1)).toEqual({ bytesWritten: totalBytes, completed: true });
  });
});
