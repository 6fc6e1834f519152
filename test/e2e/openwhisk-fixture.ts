/**
 * The setting of the OpenWhisk end-to-end tests: the real worker in workerd (startLocalWorker),
 * OpenWhisk controller doubles as backends, users with wsk keys, and the real `openwhisk`
 * npm client pointed at the worker.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openwhisk from "openwhisk";
import { ApiClient } from "../../cli/api-client.ts";
import { type LocalWorker, startLocalWorker } from "../../cli/local/local-worker.ts";
import type { BackendInfo, BackendInput, IssuedWskKey } from "../../protocol/api.ts";
import { type OpenWhiskDouble, startOpenWhiskDouble } from "../helpers/openwhisk-double.ts";

export interface OpenWhiskWorld {
  worker: LocalWorker;
  admin: ApiClient;
  doubles: OpenWhiskDouble[];
  stateDir: string;
  addUser(name: string): Promise<void>;
  addBackend(input: BackendInput): Promise<BackendInfo>;
  issueKey(user: string): Promise<string>;
  client(apiKey: string): ReturnType<typeof openwhisk>;
  /** Raw fetch against the worker's OpenWhisk API with Basic auth. */
  call(path: string, init?: RequestInit & { apiKey?: string }): Promise<Response>;
  stop(): Promise<void>;
}

export async function startOpenWhiskWorld(doubleCount: number): Promise<OpenWhiskWorld> {
  const stateDir = await mkdtemp(join(tmpdir(), "flock-ow-"));
  const doubles: OpenWhiskDouble[] = [];
  let worker: LocalWorker | undefined;
  try {
    for (let i = 0; i < doubleCount; i++) doubles.push(await startOpenWhiskDouble());
    worker = await startLocalWorker({ stateDir, quiet: true });
  } catch (error) {
    await Promise.all(doubles.map((d) => d.close()));
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
  const started = worker;
  const admin = new ApiClient({ url: started.url, token: started.adminToken });
  return {
    worker: started,
    admin,
    doubles,
    stateDir,
    async addUser(name) {
      await admin.request("POST", "/v1/users", { name });
    },
    async addBackend(input) {
      // The doubles listen on 127.0.0.1, which the worker refuses unless told it is meant.
      const body = { allowPrivateAddress: true, ...input };
      return (await admin.request<{ item: BackendInfo }>("POST", "/v1/backends", body)).item;
    },
    async issueKey(user) {
      const issued = await admin.request<IssuedWskKey>("POST", `/v1/users/${user}/wsk-keys`);
      return `${issued.uuid}:${issued.key}`;
    },
    client(apiKey) {
      return openwhisk({ apihost: started.url, api_key: apiKey });
    },
    call(path, init = {}) {
      const { apiKey, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (apiKey) headers.set("authorization", `Basic ${Buffer.from(apiKey).toString("base64")}`);
      return fetch(`${started.url}/api/v1${path}`, { ...rest, headers });
    },
    async stop() {
      await started.stop();
      await Promise.all(doubles.map((d) => d.close()));
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Action code the tests deploy: echoes, greets, fails on request, and can run slow. */
export const HELLO_CODE = `
function main(params) {
  console.log("hello " + params.name);
  if (params.fail) return { error: "Error message" };
  if (params.sleepMs) return new Promise((r) => setTimeout(() => r({ payload: "late" }), params.sleepMs));
  return { payload: "Hello " + params.name };
}`;
