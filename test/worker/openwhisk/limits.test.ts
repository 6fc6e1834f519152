/** Every limit and timeout of the OpenWhisk proxy, each shown to be enforced. */
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { CallContext } from "../../../worker/openwhisk/call-context.ts";
import { MAX_BASIC_CREDENTIALS_CHARS, parseBasic } from "../../../worker/openwhisk/caller-auth.ts";
import { LIST_MAX_LIMIT, listEntities, MAX_LIST_BODY_BYTES } from "../../../worker/openwhisk/list-merge.ts";
import { MAX_ENTITY_BODY_BYTES } from "../../../worker/openwhisk/request-body.ts";
import {
  BLOCKING_INVOKE_TIMEOUT_MS,
  ENTITY_WRITE_TIMEOUT_MS,
  UPSTREAM_TIMEOUT_MS,
  upstreamTimeoutMs,
} from "../../../worker/openwhisk/upstream.ts";
import { adminPost, BASE } from "../support/fixtures.ts";

let authorization: string;

beforeAll(async () => {
  await adminPost("/v1/users", { name: "limits" });
  const issued = (await (await adminPost("/v1/users/limits/wsk-keys", {})).json()) as {
    uuid: string;
    key: string;
  };
  authorization = `Basic ${btoa(`${issued.uuid}:${issued.key}`)}`;
  await adminPost("/v1/backends", {
    name: "lim",
    apihost: "http://127.0.0.1:9",
    allowPrivateAddress: true,
    auth: "u:k",
    user: "limits",
  });
});

describe("timeouts", () => {
  it("gives blocking invokes at least 75 s and everything else less", () => {
    expect(upstreamTimeoutMs("POST", "?blocking=true&result=true")).toBe(BLOCKING_INVOKE_TIMEOUT_MS);
    expect(BLOCKING_INVOKE_TIMEOUT_MS).toBeGreaterThanOrEqual(75_000);
    expect(upstreamTimeoutMs("POST", "?blocking=false")).toBe(UPSTREAM_TIMEOUT_MS);
    expect(upstreamTimeoutMs("GET", "")).toBe(UPSTREAM_TIMEOUT_MS);
    expect(upstreamTimeoutMs("PUT", "?overwrite=true")).toBe(ENTITY_WRITE_TIMEOUT_MS);
    expect(upstreamTimeoutMs("DELETE", "")).toBe(ENTITY_WRITE_TIMEOUT_MS);
  });
});

describe("sizes", () => {
  it("refuses entity PUT bodies over MAX_ENTITY_BODY_BYTES with OpenWhisk's 413", async () => {
    const res = await SELF.fetch(`${BASE}/api/v1/namespaces/_/actions/big`, {
      method: "PUT",
      headers: { authorization, "x-request-id": "rid-put-413" },
      body: new Uint8Array(MAX_ENTITY_BODY_BYTES + 1),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      error: `Request larger than allowed: ${MAX_ENTITY_BODY_BYTES + 1} > ${MAX_ENTITY_BODY_BYTES} bytes.`,
      code: "rid-put-413",
    });
  });

  it("treats Basic credentials longer than MAX_BASIC_CREDENTIALS_CHARS as invalid", () => {
    const long = btoa(`u:${"k".repeat(MAX_BASIC_CREDENTIALS_CHARS)}`);
    expect(parseBasic(`Basic ${long}`)).toBe("invalid");
    expect(parseBasic(`Basic ${btoa("u:k")}`)).toEqual({ uuid: "u", key: "k" });
  });

  it("ignores a backend's list answer over MAX_LIST_BODY_BYTES", async () => {
    const huge = new Response("[]", { headers: { "content-length": String(MAX_LIST_BODY_BYTES + 1) } });
    const ctx: CallContext = {
      user: "limits",
      policy: "round-robin",
      backends: [{ name: "big", apihost: "https://big.test", auth: "u:k", latencyMs: null, backoffUntil: 0 }],
      fetcher: () => Promise.resolve(huge),
      request: {
        method: "GET",
        path: "/namespaces/_/actions",
        search: "",
        headers: new Headers(),
        requestId: "r",
        timeoutMs: 1000,
      },
    };
    const result = await listEntities(ctx, "actions", { limit: LIST_MAX_LIMIT, skip: 0 });
    expect(result.response.status).toBe(503);
    expect(result.attempts.map((a) => a.outcome)).toEqual(["unreachable"]);
  });
});
