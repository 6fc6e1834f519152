import { X509Certificate } from "node:crypto";
import {
  type RevocationList,
  readRevocationList,
  signRevocationList,
  verifyRevocationList,
} from "../../protocol/revocation-list.ts";
import type { ApiClient } from "../api-client.ts";
import { loadKey } from "./keys.ts";
import { certsRoot, readPemFile, userPaths } from "./layout.ts";

export interface PublishedRevocations {
  list: RevocationList;
  /**
   * The list the worker held did not verify with this user CA, so none of its names were
   * carried over (only its seq); the worker's registry still supplied every revoked party.
   */
  replacedForeignList: boolean;
}

/**
 * Signs the user's revocation list with the user CA and publishes it: every party the worker
 * has revoked, and every party on the list published before (a list only grows), one seq
 * above it. Only where certs/<user>/user-ca-key.pem lives can this run, which is the point:
 * the worker stores the list but cannot make one (docs/sdk.md, "Revocation").
 */
export async function publishRevocations(
  client: ApiClient,
  user: string,
  certsDir: string = certsRoot(),
): Promise<PublishedRevocations> {
  const paths = userPaths(certsDir, user);
  const where = `the revocation list is signed with the user CA, so run \`flock publish revocations --user ${user}\` where certs/${user}/ lives.`;
  const caCert = new X509Certificate(await readPemFile(paths.caCert, where));
  const caKey = await loadKey(await readPemFile(paths.caKey, where), paths.caKey);
  const [stored, parties] = await Promise.all([client.revocationList(user), client.listParties(user)]);

  let seq = 0;
  let carried: string[] = [];
  let replacedForeignList = false;
  if (stored !== null) {
    seq = readRevocationList(stored, user).seq;
    try {
      carried = (await verifyRevocationList(stored, caCert.publicKey, user)).parties;
    } catch {
      replacedForeignList = true;
    }
  }
  const revoked = parties.filter((p) => p.status === "revoked").map((p) => p.name);
  const jws = await signRevocationList(caKey.keys.privateKey, caKey.type === "rsa" ? "RS256" : "ES256", {
    user,
    seq: seq + 1,
    iat: Math.floor(Date.now() / 1000),
    parties: [...carried, ...revoked],
  });
  await client.publishRevocationList(user, jws);
  return { list: readRevocationList(jws, user), replacedForeignList };
}
