import "reflect-metadata";
import { isIP } from "node:net";
import {
  type JsonGeneralName,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
} from "@peculiar/x509";
import { partyUri, relayUri } from "../../protocol/names.ts";
import type { KeyMaterial } from "./keys.ts";

/**
 * CSRs carry the same subject and SAN the worker will put in the certificate
 * (contract.md "Certificates"); the worker refuses one that names anyone else.
 */
export async function partyCsr(key: KeyMaterial, user: string, party: string): Promise<string> {
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: `CN=${party}, O=${user}, OU=flock-party`,
    keys: key.keys,
    signingAlgorithm: key.signingAlgorithm,
    extensions: [new SubjectAlternativeNameExtension([{ type: "url", value: partyUri(user, party) }])],
  });
  return csr.toString("pem");
}

/** A relay's hosts become DNS or IP SANs so clients can check the name they dialled. */
export function hostNames(hosts: string[]): JsonGeneralName[] {
  return hosts.map((host) => ({ type: isIP(host) ? "ip" : "dns", value: host }));
}

export async function relayCsr(key: KeyMaterial, relay: string, hosts: string[]): Promise<string> {
  const csr = await Pkcs10CertificateRequestGenerator.create({
    name: `CN=${relay}, OU=flock-relay`,
    keys: key.keys,
    signingAlgorithm: key.signingAlgorithm,
    extensions: [
      new SubjectAlternativeNameExtension([{ type: "url", value: relayUri(relay) }, ...hostNames(hosts)]),
    ],
  });
  return csr.toString("pem");
}
