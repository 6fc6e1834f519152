/**
 * What the worker adds to a blocking+result invocation: the same action on the same
 * controller double, called straight and through the worker (caller key check, routing
 * table from D1, credential decryption, proxying, trace headers), in one run.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../cli/api-client.ts";
import { startLocalWorker } from "../cli/local/local-worker.ts";
import type { IssuedWskKey } from "../protocol/api.ts";
import { startOpenWhiskDouble } from "../test/helpers/openwhisk-double.ts";
import type { Bench, BenchResult } from "./types.ts";

const WARMUP_CALLS = 30;
const LATENCY_CALLS = 400;
const THROUGHPUT_CALLS = 800;
const THROUGHPUT_CONCURRENCY = 8;
const ACTION_CODE = "function main(params) { return { payload: 'Hello ' + params.name }; }";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function basic(auth: string): string {
  return `Basic ${Buffer.from(auth).toString("base64")}`;
}

async function invoke(base: string, auth: string): Promise<void> {
  const res = await fetch(`${base}/api/v1/namespaces/_/actions/bench?blocking=true&result=true`, {
    method: "POST",
    headers: { authorization: basic(auth), "content-type": "application/json" },
    body: '{"name":"bench"}',
  });
  const text = await res.text();
  if (res.status !== 200 || text !== '{"payload":"Hello bench"}')
    throw new Error(`invoke ${res.status}: ${text}`);
}

async function latencies(base: string, auth: string): Promise<number[]> {
  for (let i = 0; i < WARMUP_CALLS; i++) await invoke(base, auth);
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_CALLS; i++) {
    const started = performance.now();
    await invoke(base, auth);
    samples.push(performance.now() - started);
  }
  return samples.sort((x, y) => x - y);
}

async function requestsPerSecond(base: string, auth: string): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: THROUGHPUT_CONCURRENCY }, async () => {
      while (next < THROUGHPUT_CALLS) {
        next++;
        await invoke(base, auth);
      }
    }),
  );
  return THROUGHPUT_CALLS / ((performance.now() - started) / 1000);
}

export const run: Bench = async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "flock-bench-ow-"));
  const double = await startOpenWhiskDouble();
  const worker = await startLocalWorker({ stateDir, quiet: true });
  try {
    const admin = new ApiClient({ url: worker.url, token: worker.adminToken });
    await admin.request("POST", "/v1/users", { name: "bench" });
    await admin.request("POST", "/v1/backends", {
      name: "only",
      apihost: double.url,
      auth: double.auth,
      user: "bench",
    });
    const issued = await admin.request<IssuedWskKey>("POST", "/v1/users/bench/wsk-keys");
    const key = `${issued.uuid}:${issued.key}`;
    const put = await fetch(`${double.url}/api/v1/namespaces/_/actions/bench`, {
      method: "PUT",
      headers: { authorization: basic(double.auth), "content-type": "application/json" },
      body: JSON.stringify({ exec: { kind: "nodejs:20", code: ACTION_CODE } }),
    });
    if (put.status !== 200) throw new Error(`action create ${put.status}`);

    const direct = await latencies(double.url, double.auth);
    const proxied = await latencies(worker.url, key);
    const directRps = await requestsPerSecond(double.url, double.auth);
    const proxiedRps = await requestsPerSecond(worker.url, key);

    const row = (variant: string, metric: string, value: number, unit: string): BenchResult => ({
      bench: "openwhisk-overhead",
      variant,
      metric,
      value,
      unit,
    });
    return [
      row("direct", "p50_ms", percentile(direct, 50), "ms"),
      row("direct", "p99_ms", percentile(direct, 99), "ms"),
      row("direct", "per_second", directRps, "req/s"),
      row("worker", "p50_ms", percentile(proxied, 50), "ms"),
      row("worker", "p99_ms", percentile(proxied, 99), "ms"),
      row("worker", "per_second", proxiedRps, "req/s"),
      row("added", "p50_ms", percentile(proxied, 50) - percentile(direct, 50), "ms"),
      row("added", "p99_ms", percentile(proxied, 99) - percentile(direct, 99), "ms"),
    ];
  } finally {
    await worker.stop();
    await double.close();
    await rm(stateDir, { recursive: true, force: true });
  }
};
