import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { certificateThumbprint } from "../../protocol/encoding.ts";
import type { ApiClient } from "../api-client.ts";
import { fileExists, relayPaths } from "../certs/layout.ts";
import { createRelay } from "../commands/create.ts";
import { UserError } from "../output.ts";

export const LOCAL_RELAY_NAME = "local";

export interface LocalRelaySpec {
  certsDir: string;
  name?: string;
  host: string;
  port: number;
}

export interface LocalRelayIdentity {
  name: string;
  certPem: string;
  keyPem: string;
  relayCaPem: string;
  /** True when this call registered the relay (a fresh worker state). */
  registered: boolean;
}

/**
 * The identity `flock dev` runs its data plane with: registered with the worker on the first
 * run (certs/_relays/local/), reused afterwards. Files left from another worker state are
 * replaced only when this worker has never heard of the relay, so nothing registered is lost.
 */
export async function ensureLocalRelay(client: ApiClient, spec: LocalRelaySpec): Promise<LocalRelayIdentity> {
  const name = spec.name ?? LOCAL_RELAY_NAME;
  const paths = relayPaths(spec.certsDir, name);
  const shown = relative(process.cwd(), paths.dir) || paths.dir;
  const registeredRelay = (await client.listRelays()).find((r) => r.name === name);
  let registered = false;
  if (registeredRelay) {
    if (!(await fileExists(paths.cert)) || !(await fileExists(paths.key))) {
      throw new UserError(
        `Relay ${name} is registered with this worker but ${shown}/ lacks its key; restore it, or run with --no-relay.`,
      );
    }
    const cert = new X509Certificate(await readFile(paths.cert, "utf8"));
    if ((await certificateThumbprint(new Uint8Array(cert.raw))) !== registeredRelay.fingerprint) {
      throw new UserError(
        `${shown}/cert.pem is not the certificate registered for relay ${name}; it belongs to another worker state. Restore the matching files, or run with --no-relay.`,
      );
    }
    const wanted = `${spec.host}:${spec.port}`;
    const known = `${registeredRelay.hosts.join(",")}:${registeredRelay.port}`;
    if (known !== wanted) {
      throw new UserError(
        `Relay ${name} is registered at ${known}, not ${wanted}; pass --relay-port ${registeredRelay.port}.`,
      );
    }
  } else {
    // This worker state never saw the relay: any files there are from an older state and useless.
    await createRelay(
      { client, certsDir: spec.certsDir, force: true },
      { name, hosts: [spec.host], port: spec.port },
    );
    registered = true;
  }
  return {
    name,
    certPem: await readFile(paths.cert, "utf8"),
    keyPem: await readFile(paths.key, "utf8"),
    relayCaPem: await client.relayCa(),
    registered,
  };
}
