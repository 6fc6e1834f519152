/**
 * A stand-in for one OpenWhisk deployment's controller, following docs/openwhisk.md
 * ("Conventions", "Paths", "Invoke"): Basic auth, the `_` namespace, actions
 * PUT/GET/DELETE/list, invoke running the action's JavaScript in `node:vm`,
 * blocking/result/timeout (a blocking call that outlasts its wait is demoted to 202),
 * application errors as 502 records, and the activation store. It exists because no real
 * deployment runs on this machine; tests reach it only over HTTP on 127.0.0.1.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { runInNewContext } from "node:vm";
import { firstEvent } from "./first-event.ts";

/** Invoke payload limit (conf `action.payload` 1 MiB). */
export const DOUBLE_MAX_INVOKE_BYTES = 1_048_576;
/** `controller.activation.max-wait-for-blocking-activation`. */
export const DOUBLE_MAX_BLOCKING_WAIT_MS = 60_000;
const DEFAULT_ACTION_TIMEOUT_MS = 60_000;
const LIST_DEFAULT_LIMIT = 30;
const LIST_MAX_LIMIT = 200;
const ENTITY_NAME = /^([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])$/;
const ACTIVATION_ID = /^[0-9a-f]{32}$/;

export interface ActionRecord {
  namespace: string;
  name: string;
  version: string;
  publish: boolean;
  exec: { kind: string; code?: string; binary: boolean; main?: string };
  annotations: Array<{ key: string; value: unknown }>;
  parameters: Array<{ key: string; value: unknown }>;
  limits: { timeout: number; memory: number; logs: number; concurrency: number };
  updated: number;
}

export interface ActivationRecord {
  namespace: string;
  name: string;
  subject: string;
  activationId: string;
  start: number;
  end?: number;
  duration?: number;
  response: { result: unknown; size?: number; status: string; success: boolean };
  logs: string[];
  version: string;
  publish: boolean;
  annotations: Array<{ key: string; value: unknown }>;
  statusCode: number;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: string;
  authorization: string | undefined;
  requestId: string | undefined;
  headers: IncomingMessage["headers"];
}

export interface StreamedList {
  bytesWritten: number;
  /** False when the reader closed the connection before the last byte. */
  completed: boolean;
}

export interface OpenWhiskDoubleOptions {
  namespace?: string;
  /** `uuid:key`; a fresh one when absent. */
  auth?: string;
}

export interface OpenWhiskDouble {
  readonly url: string;
  readonly port: number;
  /** `uuid:key` this controller accepts. */
  readonly auth: string;
  readonly namespace: string;
  readonly calls: RecordedCall[];
  readonly actions: Map<string, ActionRecord>;
  readonly activations: Map<string, ActivationRecord>;
  /** Count of POST invokes that reached the invoke stage (after auth, size and lookup). */
  invocations(): number;
  /** Closes the listener so connections are refused; `setDown(false)` listens on the same port again. */
  setDown(down: boolean): Promise<void>;
  /** Added delay before every answer. */
  setSlowMs(ms: number): void;
  /** Answer every authenticated call with this status (429 or 503) and OpenWhisk's text; null to stop. */
  setAnswer(status: 429 | 503 | null): void;
  /**
   * Answer action lists with a valid JSON array this many bytes long, sent chunked (no
   * content-length) at the pace the reader takes it; null to stop. Each such answer is
   * reported in `streamedLists` once the stream ends: written in full, or cut off by the reader.
   */
  setOversizedLists(totalBytes: number | null): void;
  readonly streamedLists: Array<Promise<StreamedList>>;
  close(): Promise<void>;
}

/** http/CorsSettings.scala: on every controller answer. */
const CONTROLLER_CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, DELETE, POST, PUT, HEAD",
  "access-control-allow-headers": "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent",
};

const ACTIVATION_STATUS = ["success", "application error", "action developer error", "whisk internal error"];

function transactionId(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  if (typeof given === "string" && given !== "" && !given.startsWith("sid_")) return given;
  return randomBytes(16).toString("hex");
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...CONTROLLER_CORS_HEADERS,
    ...headers,
  });
  res.end(text);
}

function errorBody(message: string, code: string) {
  return { error: message, code };
}

async function readBody(req: IncomingMessage, limit: number): Promise<{ bytes: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return { bytes: Buffer.concat(chunks), size };
}

function parseListPaging(
  query: URLSearchParams,
  collection: string,
): { limit: number; skip: number } | { error: string } {
  const parse = (name: string, fallback: number, max: number): number | string => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    if (!/^-?\d+$/.test(raw)) return `The value '${raw}' is not an integer for ${collection}.`;
    const value = Number(raw);
    if (value < 0 || value > max)
      return `The value '${raw}' is not in the range of 0 to ${max} for ${collection}.`;
    return value;
  };
  const limit = parse("limit", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT);
  if (typeof limit === "string") return { error: limit };
  const skip = parse("skip", 0, Number.MAX_SAFE_INTEGER);
  if (typeof skip === "string") return { error: skip };
  return { limit: limit === 0 ? LIST_MAX_LIMIT : limit, skip };
}

function actionSummary(a: ActionRecord) {
  return {
    namespace: a.namespace,
    name: a.name,
    version: a.version,
    publish: a.publish,
    annotations: a.annotations,
    updated: a.updated,
    limits: a.limits,
    exec: { binary: a.exec.binary },
  };
}

function activationSummary(a: ActivationRecord) {
  const { response: _r, logs: _l, subject: _s, ...rest } = a;
  return rest;
}

function activationJson(a: ActivationRecord) {
  const { statusCode: _s, ...rest } = a;
  return rest;
}

function bumpVersion(version: string): string {
  const [major, minor, patch] = version.split(".").map(Number);
  return `${major}.${minor}.${(patch ?? 0) + 1}`;
}

interface RunOutcome {
  result: unknown;
  statusCode: 0 | 1 | 2 | 3;
  logs: string[];
  timedOut: boolean;
}

/** Where `console.*` inside an action writes: the logs of the activation running now. */
const activationLogs = new AsyncLocalStorage<string[]>();

function sandboxConsole() {
  const log =
    (stream: string) =>
    (...args: unknown[]) =>
      activationLogs
        .getStore()
        ?.push(
          `${new Date().toISOString()} ${stream}: ${args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")}`,
        );
  return { log: log("stdout"), info: log("stdout"), error: log("stderr"), warn: log("stderr") };
}

/**
 * Like a warm OpenWhisk container, one context per action version is initialised once and
 * reused by later activations (module state survives between them, as it does there).
 */
const warmContainers = new WeakMap<ActionRecord["exec"], unknown>();

function initialise(exec: ActionRecord["exec"]): unknown {
  if (!warmContainers.has(exec)) {
    const sandbox = { console: sandboxConsole(), setTimeout, clearTimeout, Promise };
    warmContainers.set(
      exec,
      runInNewContext(`${exec.code ?? ""}\n;${exec.main ?? "main"}`, sandbox, { timeout: 1000 }),
    );
  }
  return warmContainers.get(exec);
}

/** Runs `main(params)` of the action's code; the action's own time limit turns into a developer error. */
async function runAction(action: ActionRecord, params: Record<string, unknown>): Promise<RunOutcome> {
  const logs: string[] = [];
  const limitMs = action.limits.timeout;
  let timer: NodeJS.Timeout | undefined;
  try {
    const main = initialise(action.exec);
    if (typeof main !== "function") {
      return {
        result: { error: "Initialization has failed due to: main is not a function" },
        statusCode: 2,
        logs,
        timedOut: false,
      };
    }
    const timeLimit = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), limitMs);
    });
    const running = activationLogs.run(logs, () => Promise.resolve().then(() => main(params)));
    const value = await Promise.race([running, timeLimit]);
    if (value === "timeout") {
      return {
        result: { error: `The action exceeded its time limits of ${limitMs} milliseconds.` },
        statusCode: 2,
        logs,
        timedOut: true,
      };
    }
    if (Array.isArray(value)) return { result: value, statusCode: 0, logs, timedOut: false };
    if (value === null || typeof value !== "object") {
      return {
        result: { error: "The action did not return a dictionary." },
        statusCode: 2,
        logs,
        timedOut: false,
      };
    }
    const statusCode = "error" in value ? 1 : 0;
    return { result: value, statusCode, logs, timedOut: false };
  } catch (error) {
    return {
      result: { error: `An error has occurred: ${error instanceof Error ? error.message : String(error)}` },
      statusCode: 2,
      logs,
      timedOut: false,
    };
  } finally {
    clearTimeout(timer);
  }
}

export async function startOpenWhiskDouble(options: OpenWhiskDoubleOptions = {}): Promise<OpenWhiskDouble> {
  const namespace = options.namespace ?? "guest";
  const auth = options.auth ?? `${randomUUID()}:${randomBytes(32).toString("base64url")}`;
  const expectedAuthorization = `Basic ${Buffer.from(auth).toString("base64")}`;
  const calls: RecordedCall[] = [];
  const actions = new Map<string, ActionRecord>();
  const activations = new Map<string, ActivationRecord>();
  const sockets = new Set<Socket>();
  const pending = new Set<Promise<unknown>>();
  let invokeCount = 0;
  let slowMs = 0;
  let answer: 429 | 503 | null = null;
  let oversizedListBytes: number | null = null;
  const streamedLists: Array<Promise<StreamedList>> = [];

  /** `[`, spaces, `]`: valid JSON of any size, written only as fast as the reader drains it. */
  async function streamOversizedList(
    res: ServerResponse,
    rid: string,
    totalBytes: number,
  ): Promise<StreamedList> {
    res.writeHead(200, {
      "content-type": "application/json",
      "x-request-id": rid,
      ...CONTROLLER_CORS_HEADERS,
    });
    const chunk = Buffer.alloc(64 * 1024, " ");
    let bytesWritten = 0;
    const write = async (bytes: Buffer) => {
      bytesWritten += bytes.length;
      if (!res.write(bytes)) await firstEvent(res, ["drain", "close"]);
    };
    await write(Buffer.from("["));
    while (bytesWritten < totalBytes - 1 && !res.destroyed) {
      await write(chunk.subarray(0, Math.min(chunk.length, totalBytes - 1 - bytesWritten)));
    }
    if (res.destroyed) return { bytesWritten, completed: false };
    res.end("]");
    await firstEvent(res, ["finish", "close"]);
    return { bytesWritten: bytesWritten + 1, completed: res.writableFinished };
  }

  async function invoke(
    req: IncomingMessage,
    res: ServerResponse,
    rid: string,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const headers = { "x-request-id": rid };
    const declared = Number(req.headers["content-length"] ?? "0");
    const { bytes, size } = await readBody(req, DOUBLE_MAX_INVOKE_BYTES);
    if (Math.max(declared, size) > DOUBLE_MAX_INVOKE_BYTES) {
      send(
        res,
        413,
        errorBody(
          `Request larger than allowed: ${Math.max(declared, size)} > ${DOUBLE_MAX_INVOKE_BYTES} bytes.`,
          rid,
        ),
        headers,
      );
      return;
    }
    const blocking = query.get("blocking") === "true";
    const resultOnly = query.get("result") === "true";
    const rawTimeout = query.get("timeout");
    let waitMs = DOUBLE_MAX_BLOCKING_WAIT_MS;
    if (rawTimeout !== null) {
      const t = Number(rawTimeout);
      if (!/^\d+$/.test(rawTimeout) || t < 1 || t > DOUBLE_MAX_BLOCKING_WAIT_MS) {
        send(res, 400, errorBody("Timeout must be number of milliseconds up to 60000.", rid), headers);
        return;
      }
      waitMs = t;
    }
    const action = actions.get(path);
    if (!action) {
      send(res, 404, errorBody("The requested resource does not exist.", rid), headers);
      return;
    }
    let params: Record<string, unknown> = {};
    if (bytes.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(bytes.toString("utf8"));
      } catch {
        send(res, 400, errorBody("The request content was malformed.", rid), headers);
        return;
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        send(res, 400, errorBody("The request content was malformed.", rid), headers);
        return;
      }
      params = parsed as Record<string, unknown>;
    }
    invokeCount++;
    const activationId = randomBytes(16).toString("hex");
    const merged = Object.fromEntries(action.parameters.map((p) => [p.key, p.value]));
    const start = Date.now();
    const done = runAction(action, { ...merged, ...params }).then((outcome) => {
      const end = Date.now();
      const record: ActivationRecord = {
        namespace,
        name: action.name,
        subject: namespace,
        activationId,
        start,
        end,
        duration: end - start,
        response: {
          result: outcome.result,
          size: JSON.stringify(outcome.result).length,
          status: ACTIVATION_STATUS[outcome.statusCode] ?? "whisk internal error",
          success: outcome.statusCode === 0,
        },
        logs: outcome.logs,
        version: action.version,
        publish: action.publish,
        annotations: [
          { key: "path", value: `${namespace}/${path}` },
          { key: "waitTime", value: 1 },
          { key: "kind", value: action.exec.kind },
          { key: "timeout", value: outcome.timedOut },
          { key: "limits", value: action.limits },
        ],
        statusCode: outcome.statusCode,
      };
      activations.set(activationId, record);
      return record;
    });
    pending.add(done);
    void done.finally(() => pending.delete(done));
    const activationHeaders = { ...headers, "x-openwhisk-activation-id": activationId };
    if (!blocking) {
      send(res, 202, { activationId }, activationHeaders);
      return;
    }
    let waitTimer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      done,
      new Promise<null>((resolve) => {
        waitTimer = setTimeout(() => resolve(null), waitMs);
      }),
    ]);
    clearTimeout(waitTimer);
    if (waited === null) {
      send(res, 202, { activationId }, activationHeaders);
      return;
    }
    const status = waited.statusCode === 0 ? 200 : waited.statusCode === 3 ? 500 : 502;
    const result = waited.response.result;
    if (Array.isArray(result)) send(res, status, result, activationHeaders);
    else if (resultOnly) send(res, status, result, activationHeaders);
    else send(res, status, { ...activationJson(waited), logs: [] }, activationHeaders);
  }

  async function putAction(
    req: IncomingMessage,
    res: ServerResponse,
    rid: string,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const headers = { "x-request-id": rid };
    const { bytes } = await readBody(req, 64 * 1024 * 1024);
    let body: Record<string, unknown>;
    try {
      body = bytes.length === 0 ? {} : (JSON.parse(bytes.toString("utf8")) as Record<string, unknown>);
    } catch {
      send(res, 400, errorBody("The request content was malformed.", rid), headers);
      return;
    }
    const existing = actions.get(path);
    if (existing && query.get("overwrite") !== "true") {
      send(res, 409, errorBody("resource already exists", rid), headers);
      return;
    }
    const exec = body.exec as ActionRecord["exec"] | undefined;
    if (!existing && !exec) {
      send(res, 400, errorBody("exec undefined", rid), headers);
      return;
    }
    const kind =
      exec?.kind === "nodejs:default" ? "nodejs:20" : (exec?.kind ?? existing?.exec.kind ?? "nodejs:20");
    const pkg = path.includes("/") ? path.slice(0, path.indexOf("/")) : undefined;
    const name = pkg ? path.slice(pkg.length + 1) : path;
    const given =
      (body.annotations as ActionRecord["annotations"] | undefined) ?? existing?.annotations ?? [];
    const record: ActionRecord = {
      namespace: pkg ? `${namespace}/${pkg}` : namespace,
      name,
      version: existing ? bumpVersion(existing.version) : "0.0.1",
      publish: Boolean(body.publish ?? existing?.publish ?? false),
      exec: exec
        ? { kind, code: exec.code, binary: false, ...(exec.main ? { main: exec.main } : {}) }
        : (existing as ActionRecord).exec,
      annotations: [...given.filter((a) => a.key !== "exec"), { key: "exec", value: kind }],
      parameters: (body.parameters as ActionRecord["parameters"] | undefined) ?? existing?.parameters ?? [],
      limits: {
        timeout: DEFAULT_ACTION_TIMEOUT_MS,
        memory: 256,
        logs: 10,
        concurrency: 1,
        ...existing?.limits,
        ...(body.limits as Partial<ActionRecord["limits"]> | undefined),
      },
      updated: Date.now(),
    };
    actions.set(path, record);
    send(res, 200, record, headers);
  }

  function listActions(res: ServerResponse, rid: string, query: URLSearchParams, pkg?: string): void {
    const headers = { "x-request-id": rid };
    const paging = parseListPaging(query, "actions");
    if ("error" in paging) {
      send(res, 400, errorBody(paging.error, rid), headers);
      return;
    }
    const all = [...actions.entries()]
      .filter(([path]) => pkg === undefined || path.startsWith(`${pkg}/`))
      .map(([, a]) => a)
      .sort((a, b) => b.updated - a.updated);
    if (query.get("count") === "true") {
      send(res, 200, { actions: all.length }, headers);
      return;
    }
    send(res, 200, all.slice(paging.skip, paging.skip + paging.limit).map(actionSummary), headers);
  }

  function listActivations(res: ServerResponse, rid: string, query: URLSearchParams): void {
    const headers = { "x-request-id": rid };
    const paging = parseListPaging(query, "activations");
    if ("error" in paging) {
      send(res, 400, errorBody(paging.error, rid), headers);
      return;
    }
    if (query.get("count") === "true" && query.get("docs") === "true") {
      send(res, 400, errorBody("The parameter 'docs' is not permitted with 'count'.", rid), headers);
      return;
    }
    const name = query.get("name");
    const since = Number(query.get("since") ?? "0");
    const upto = Number(query.get("upto") ?? `${Number.MAX_SAFE_INTEGER}`);
    const all = [...activations.values()]
      .filter((a) => (name === null || a.name === name) && a.start >= since && a.start <= upto)
      .sort((a, b) => b.start - a.start);
    if (query.get("count") === "true") {
      send(res, 200, { activations: all.length }, headers);
      return;
    }
    const page = all.slice(paging.skip, paging.skip + paging.limit);
    const docs = query.get("docs") === "true";
    send(
      res,
      200,
      page.map((a) => (docs ? activationJson(a) : activationSummary(a))),
      headers,
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rid = transactionId(req);
    const url = new URL(req.url ?? "/", "http://double");
    const method = req.method ?? "GET";
    calls.push({
      method,
      path: url.pathname,
      query: url.search,
      authorization: req.headers.authorization,
      requestId: req.headers["x-request-id"] as string | undefined,
      headers: req.headers,
    });
    if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
    const headers = { "x-request-id": rid };
    if (url.pathname === "/api/v1" && method === "GET") {
      send(res, 200, {
        description: "OpenWhisk API",
        api_version: "1.0.0",
        api_version_path: "v1",
        build: "double",
        buildno: "0",
        swagger_paths: { ui: "/docs", "api-docs": "/api-docs" },
      });
      return;
    }
    if (!url.pathname.startsWith("/api/v1/namespaces")) {
      send(res, 404, errorBody("The requested resource does not exist.", rid), headers);
      return;
    }
    const authorization = req.headers.authorization;
    const authHeaders = { ...headers, "www-authenticate": 'Basic realm="OpenWhisk secure realm"' };
    if (!authorization) {
      send(
        res,
        401,
        errorBody("The resource requires authentication, which was not supplied with the request", rid),
        authHeaders,
      );
      return;
    }
    if (authorization !== expectedAuthorization) {
      send(res, 401, errorBody("The supplied authentication is invalid", rid), authHeaders);
      return;
    }
    if (answer === 429) {
      send(
        res,
        429,
        errorBody("Too many requests in the last minute (count: 121, allowed: 120).", rid),
        headers,
      );
      return;
    }
    if (answer === 503) {
      send(res, 503, errorBody("There is no capacity available to serve this request.", rid), headers);
      return;
    }
    // /api/v1/namespaces[/{ns}/{collection}[/rest]]
    const segments = url.pathname.split("/").slice(4);
    if (segments.length === 0 || (segments.length === 1 && segments[0] === "")) {
      send(res, 200, [namespace], headers);
      return;
    }
    const ns = decodeURIComponent(segments[0] ?? "");
    if (ns !== "_" && ns !== namespace) {
      send(
        res,
        403,
        errorBody(`The supplied authentication is not authorized to access '${ns}'.`, rid),
        headers,
      );
      return;
    }
    const collection = segments[1];
    const rest = segments.slice(2).map(decodeURIComponent);
    if (collection === "actions") {
      if (rest.length === 0 || (rest.length === 1 && rest[0] === "")) {
        if (method === "GET" && oversizedListBytes !== null) {
          const streamed = streamOversizedList(res, rid, oversizedListBytes);
          streamedLists.push(streamed);
          pending.add(streamed);
          void streamed.finally(() => pending.delete(streamed));
          return;
        }
        if (method === "GET") return listActions(res, rid, url.searchParams);
      } else if (rest.length === 2 && rest[1] === "" && method === "GET") {
        return listActions(res, rid, url.searchParams, rest[0]);
      } else if (rest.length <= 2 && rest.every((s) => ENTITY_NAME.test(s))) {
        const path = rest.join("/");
        const action = actions.get(path);
        if (method === "PUT") return putAction(req, res, rid, path, url.searchParams);
        if (method === "POST") return invoke(req, res, rid, path, url.searchParams);
        if (!action) {
          send(res, 404, errorBody("The requested resource does not exist.", rid), headers);
          return;
        }
        if (method === "GET") {
          const body =
            url.searchParams.get("code") === "false"
              ? { ...action, exec: { ...action.exec, code: undefined } }
              : action;
          send(res, 200, body, headers);
          return;
        }
        if (method === "DELETE") {
          actions.delete(path);
          send(res, 200, action, headers);
          return;
        }
      } else {
        send(res, 400, errorBody("The name of the entity contains illegal characters.", rid), headers);
        return;
      }
    }
    if (collection === "activations" && method === "GET") {
      if (rest.length === 0) return listActivations(res, rid, url.searchParams);
      const id = rest[0] ?? "";
      if (!ACTIVATION_ID.test(id)) {
        send(res, 400, errorBody(`The activation id is not valid: ${id}`, rid), headers);
        return;
      }
      const activation = activations.get(id);
      if (
        !activation ||
        rest.length > 2 ||
        (rest[1] !== undefined && rest[1] !== "result" && rest[1] !== "logs")
      ) {
        send(res, 404, errorBody("The requested resource does not exist.", rid), headers);
        return;
      }
      if (rest[1] === "result") send(res, 200, activation.response, headers);
      else if (rest[1] === "logs") send(res, 200, { logs: activation.logs }, headers);
      else send(res, 200, activationJson(activation), headers);
      return;
    }
    send(res, 404, errorBody("The requested resource does not exist.", rid), headers);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, errorBody(String(error), "double"));
      else res.destroy();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  let down = false;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    auth,
    namespace,
    calls,
    actions,
    activations,
    invocations: () => invokeCount,
    async setDown(value) {
      if (value === down) return;
      down = value;
      if (value) await stopListening();
      else await listen(port);
    },
    setSlowMs(ms) {
      slowMs = ms;
    },
    setAnswer(status) {
      answer = status;
    },
    setOversizedLists(totalBytes) {
      oversizedListBytes = totalBytes;
    },
    streamedLists,
    async close() {
      await stopListening();
      await Promise.allSettled([...pending]);
    },
  };
}
