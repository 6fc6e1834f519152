/**
 * The whole Flock system for end-to-end tests and benches: the real worker (workerd via
 * startLocalWorker, temp state dir, port 0), the real data plane registered as a relay and
 * reporting, and users and parties made the way `flock create` makes them (keys and CSRs
 * here, relay certificates from the worker, party certificates from a user CA that is
 * never uploaded). The PKI helpers at the top need no worker, for unit tests.
 */
import type { KeyMaterial } from "../../cli/certs/keys.ts";
import { generateKey } from "../../cli/certs/keys.ts";
import { createUserCa, signPartyCertificate } from "../../cli/certs/user-ca.ts";
import type { IdentityMaterials } from "../../client/identity.ts";

export interface TestCa {
  name: string;
  pem: string;
  key: KeyMaterial;
}

/** A CA like a user's; unit tests also use one as a stand-in relay CA. */
export async function makeCa(name: string): Promise<TestCa> {
  const key = await generateKey("ec");
  return { name, pem: await createUserCa(key, name), key };
}

/** A leaf with SAN `urn:flock:party:<user>:<party>` signed by `ca`: a party certificate, or a relay one. */
export async function issuePartyCertificate(
  ca: TestCa,
  user: string,
  party: string,
  keyType: "ec" | "rsa" = "ec",
): Promise<{ cert: string; key: string }> {
  const key = await generateKey(keyType);
  return { cert: await signPartyCertificate(ca.pem, ca.key, key, user, party), key: key.privateKeyPem };
}

/** An identity with no worker behind it: for identity parsing and handshake tests. */
export async function offlineIdentity(
  user: string,
  party: string,
  cas: { relayCa: TestCa; userCa: TestCa },
  extra: { url?: string; dest?: string } = {},
): Promise<IdentityMaterials> {
  const relay = await issuePartyCertificate(cas.relayCa, user, party);
  const end = await issuePartyCertificate(cas.userCa, user, party);
  return {
    url: extra.url ?? "http://127.0.0.1:9",
    relayCa: cas.relayCa.pem,
    relayCert: relay.cert,
    relayKey: relay.key,
    userCa: cas.userCa.pem,
    partyCert: end.cert,
    partyKey: end.key,
    ...(extra.dest ? { dest: extra.dest } : {}),
  };
}

/** Identity materials as the environment variables `flock env` prints. */
export function identityEnv(materials: IdentityMaterials): Record<string, string> {
  return {
    FLOCK_URL: materials.url,
    RELAY_CA: materials.relayCa,
    RELAY_CERT: materials.relayCert,
    RELAY_KEY: materials.relayKey,
    USER_CA: materials.userCa,
    PARTY_CERT: materials.partyCert,
    PARTY_KEY: materials.partyKey,
    ...(materials.dest ? { DEST: materials.dest } : {}),
  };
}
