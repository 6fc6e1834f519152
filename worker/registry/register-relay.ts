import type { IssuedCertificate, RelayInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { relayUri } from "../../protocol/names.ts";
import { findRelay, insertRelay } from "../db/relays.ts";
import { assertCsrNames, parseCsr } from "../pki/csr.ts";
import { type Host, parseHost } from "../pki/hosts.ts";
import { issueRelayCertificate, type RelayCa } from "../pki/relay-ca.ts";

/** Enough for a few addresses per transport; every one becomes a SAN in the server certificate. */
export const MAX_RELAY_HOSTS = 16;

export interface RelayRegistration {
  name: string;
  hosts: unknown;
  port: unknown;
  csr: unknown;
}

/** Signs a data plane's server certificate from its CSR and records the relay. The name is already valid. */
export async function registerRelay(
  db: D1Database,
  ca: RelayCa,
  input: RelayRegistration,
  now: number,
): Promise<IssuedCertificate<RelayInfo>> {
  const hosts = parseHosts(input.hosts);
  const port = parsePort(input.port);
  if (await findRelay(db, input.name)) throw new FlockError("RELAY_EXISTS");
  const request = await parseCsr(input.csr);
  assertCsrNames(request.csr, {
    commonName: input.name,
    organizationalUnit: "flock-relay",
    uri: relayUri(input.name),
  });
  const leaf = await issueRelayCertificate(ca, request, input.name, hosts, now);
  const item = await insertRelay(
    db,
    {
      name: input.name,
      hosts: hosts.map((host) => host.value),
      port,
      cert: leaf.pem,
      fingerprint: leaf.fingerprint,
      notAfter: leaf.notAfter,
    },
    now,
  );
  return { item, certificate: leaf.pem, relayCa: ca.pem };
}

/** Valid, canonical, de-duplicated hosts; the registry stores them as the certificate names them. */
export function parseHosts(value: unknown): Host[] {
  const hosts = Array.isArray(value)
    ? value.map((host) => (typeof host === "string" ? parseHost(host) : undefined))
    : [];
  if (hosts.length === 0 || hosts.length > MAX_RELAY_HOSTS || hosts.some((host) => host === undefined)) {
    throw new FlockError(
      "BAD_REQUEST",
      `hosts must be 1-${MAX_RELAY_HOSTS} host names or IP addresses the data plane is reached at.`,
    );
  }
  const byValue = new Map((hosts as Host[]).map((host) => [host.value, host]));
  return [...byValue.values()];
}

export function parsePort(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new FlockError("BAD_REQUEST", "port must be an integer from 1 to 65535.");
  }
  return value;
}
