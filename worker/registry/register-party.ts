import type { IssuedCertificate, PartyInfo } from "../../protocol/api.ts";
import { FlockError } from "../../protocol/errors.ts";
import { partyUri } from "../../protocol/names.ts";
import { findParty, insertParty } from "../db/parties.ts";
import { getUser } from "../db/users.ts";
import { assertCsrNames, parseCsr } from "../pki/csr.ts";
import { issuePartyCertificate, type RelayCa } from "../pki/relay-ca.ts";

export interface PartyRegistration {
  user: string;
  name: string;
  csr: unknown;
}

/** Signs the party's relay certificate from its CSR and records the party. Names are already valid. */
export async function registerParty(
  db: D1Database,
  ca: RelayCa,
  input: PartyRegistration,
  now: number,
): Promise<IssuedCertificate<PartyInfo>> {
  await getUser(db, input.user);
  // Checked before signing so a duplicate costs no signature; the insert re-checks under the key.
  if (await findParty(db, input.user, input.name)) throw new FlockError("PARTY_EXISTS");
  const request = await parseCsr(input.csr);
  assertCsrNames(request.csr, {
    commonName: input.name,
    organization: input.user,
    organizationalUnit: "flock-party",
    uri: partyUri(input.user, input.name),
  });
  const leaf = await issuePartyCertificate(ca, request, input.user, input.name, now);
  const item = await insertParty(
    db,
    {
      user: input.user,
      name: input.name,
      relayCert: leaf.pem,
      fingerprint: leaf.fingerprint,
      notAfter: leaf.notAfter,
    },
    now,
  );
  return { item, certificate: leaf.pem, relayCa: ca.pem };
}
