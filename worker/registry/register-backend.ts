/** Registers an OpenWhisk backend: validates what the admin sent, seals its credentials, records it. */
import {
  type BackendInfo,
  type BackendInput,
  ROUTING_POLICIES,
  type RoutingPolicy,
} from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { assertName } from "../../protocol/names.ts";
import { insertBackend } from "../db/backends.ts";
import { sealCredential } from "../openwhisk/credential-cipher.ts";
import { privateAddressKind } from "./backend-address.ts";

const MAX_APIHOST_CHARS = 2048;
const MAX_AUTH_CHARS = 1024;

export async function registerBackend(
  db: D1Database,
  key: CryptoKey,
  input: BackendInput,
  now: number,
): Promise<BackendInfo> {
  const authSealed = await sealCredential(key, input.auth, input.name);
  const { name, user, apihost, policy } = input;
  return insertBackend(db, { name, user, apihost, authSealed, policy }, now);
}

export function assertRoutingPolicy(value: unknown): RoutingPolicy {
  if (typeof value === "string" && (ROUTING_POLICIES as readonly string[]).includes(value)) {
    return value as RoutingPolicy;
  }
  throw new FlockError("BAD_REQUEST", `policy must be one of ${ROUTING_POLICIES.join(", ")}.`);
}

/** The api host as the `openwhisk` client treats it: no scheme means https; no path, query or fragment. */
export function normaliseApihost(value: unknown): string {
  if (typeof value !== "string" || value === "" || value.length > MAX_APIHOST_CHARS) {
    throw new FlockError("BAD_REQUEST", "apihost must be a URL such as https://openwhisk.example.com.");
  }
  const withScheme = /^https?:\/\//i.test(value) ? value : `https://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new FlockError("BAD_REQUEST", "apihost must be a URL such as https://openwhisk.example.com.");
  }
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== "/" && url.pathname !== "")
  ) {
    throw new FlockError(
      "BAD_REQUEST",
      "apihost must be scheme, host and port only, with no credentials or path.",
    );
  }
  return url.origin;
}

function assertAuth(value: unknown): string {
  if (typeof value !== "string" || value.length > MAX_AUTH_CHARS || !/^[^:\s]+:[^\s]+$/.test(value)) {
    throw new FlockError("BAD_REQUEST", "auth must be the backend's uuid:key.");
  }
  return value;
}

export function parseBackendInput(body: unknown): BackendInput {
  if (body === null || typeof body !== "object")
    throw new FlockError("BAD_REQUEST", "Expected a JSON object.");
  const b = body as Record<string, unknown>;
  const input: BackendInput = {
    name: assertName(b.name, "backend"),
    apihost: normaliseApihost(b.apihost),
    auth: assertAuth(b.auth),
  };
  if (b.user !== undefined && b.user !== null) input.user = assertName(b.user, "user");
  if (b.shared !== undefined && typeof b.shared !== "boolean")
    throw new FlockError("BAD_REQUEST", "shared must be true or false.");
  // A backend without an owner serves every user, who then see each other's actions and
  // activations there: that must be asked for, never the result of a missing field.
  if ((input.user === undefined) === (b.shared !== true)) {
    throw new FlockError(
      "BAD_REQUEST",
      "Give either user (the one user it serves) or shared: true (every user's calls reach it).",
    );
  }
  if (b.shared === true) input.shared = true;
  // Workers' fetch always verifies TLS certificates: a flag claiming otherwise would mislead.
  if (b.insecure !== undefined) {
    throw new FlockError(
      "BAD_REQUEST",
      "insecure is not supported: the worker always verifies a backend's TLS certificate.",
    );
  }
  if (b.allowPrivateAddress !== undefined && typeof b.allowPrivateAddress !== "boolean") {
    throw new FlockError("BAD_REQUEST", "allowPrivateAddress must be true or false.");
  }
  const kind = privateAddressKind(new URL(input.apihost).hostname);
  if (kind !== undefined && b.allowPrivateAddress !== true) {
    throw new FlockError(
      "BACKEND_ADDRESS_PRIVATE",
      `apihost ${input.apihost} is not a public address (${kind}); register it with allowPrivateAddress: true (flock add backend --allow-private-address) if the worker should call it.`,
    );
  }
  if (b.allowPrivateAddress === true) input.allowPrivateAddress = true;
  if (b.policy !== undefined) {
    if (input.user === undefined) {
      throw new FlockError(
        "BAD_REQUEST",
        "policy is per user: give user too, or use the backend-policy endpoint.",
      );
    }
    input.policy = assertRoutingPolicy(b.policy);
  }
  return input;
}
