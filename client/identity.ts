import type { KeyObject } from "node:crypto";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { toBase64Url } from "../protocol/encoding.ts";
import { FlockError } from "../protocol/errors.ts";
import { isValidName, parsePartyUri } from "../protocol/names.ts";
import { parsedCache } from "./parsed-cache.ts";

/**
 * What a function needs to reach its peers, as PEM text (never paths: a function's
 * filesystem is often read-only or empty). The user and party names are not part of it:
 * they are read from the certificates, so they can never disagree with them.
 */
export interface IdentityMaterials {
  url: string;
  relayCa: string;
  relayCert: string;
  relayKey: string;
  userCa: string;
  partyCert: string;
  partyKey: string;
  /** Default peer party name. */
  dest?: string;
}

/**
 * A party's checked configuration: every PEM parsed, keys matching certificates, and the
 * user and party names read from the SAN URI.
 */
export interface PartyConfig extends IdentityMaterials {
  user: string;
  party: string;
}

/** Environment variable of each field, as the function sees it (names kept from the original Flock relay). */
export const IDENTITY_ENV = {
  url: "FLOCK_URL",
  relayCa: "RELAY_CA",
  relayCert: "RELAY_CERT",
  relayKey: "RELAY_KEY",
  userCa: "USER_CA",
  partyCert: "PARTY_CERT",
  partyKey: "PARTY_KEY",
  dest: "DEST",
} as const satisfies Record<keyof IdentityMaterials, string>;

export const BUNDLE_ENV = "FLOCK_PARTY";

type Field = keyof IdentityMaterials;
type Namer = (field: Field) => string;

const REQUIRED_FIELDS = [
  "url",
  "relayCa",
  "relayCert",
  "relayKey",
  "userCa",
  "partyCert",
  "partyKey",
] as const satisfies readonly Field[];

function invalid(what: string, problem: string, cause?: unknown): FlockError {
  return new FlockError("CONFIG_INVALID", `${what} ${problem}.`, cause === undefined ? undefined : { cause });
}

/**
 * Reads the identity from `FLOCK_PARTY` (one base64url JSON bundle) or from the separate
 * variables. `DEST` overrides the bundle's default peer, so one bundle serves a function
 * deployed several times against different peers.
 */
export function loadIdentity(env: NodeJS.ProcessEnv = process.env): PartyConfig {
  const bundle = env[BUNDLE_ENV];
  if (bundle !== undefined && bundle !== "") {
    const materials = decodeIdentityBundle(bundle);
    const dest = env[IDENTITY_ENV.dest];
    return checkIdentity(dest ? { ...materials, dest } : materials, (f) =>
      f === "dest" && dest ? IDENTITY_ENV.dest : `${BUNDLE_ENV}.${f}`,
    );
  }
  const materials: Partial<Record<Field, string>> = {};
  for (const field of Object.keys(IDENTITY_ENV) as Field[]) {
    const value = env[IDENTITY_ENV[field]];
    if (value !== undefined && value !== "") materials[field] = value;
  }
  for (const field of REQUIRED_FIELDS) {
    if (materials[field] === undefined) {
      throw invalid(
        IDENTITY_ENV[field],
        `is not set (or set ${BUNDLE_ENV} to the bundle from \`flock env --bundle\`)`,
      );
    }
  }
  return checkIdentity(materials as IdentityMaterials, (f) => IDENTITY_ENV[f]);
}

/** Checks an identity given in code (e.g. read from a secret manager); errors name the field. */
export function createIdentity(materials: IdentityMaterials): PartyConfig {
  for (const field of REQUIRED_FIELDS) {
    if (typeof materials[field] !== "string" || materials[field] === "") {
      throw invalid(`identity.${field}`, "is missing");
    }
  }
  return checkIdentity(materials, (f) => `identity.${f}`);
}

export function encodeIdentityBundle(materials: IdentityMaterials): string {
  const fields: IdentityMaterials = {
    url: materials.url,
    relayCa: materials.relayCa,
    relayCert: materials.relayCert,
    relayKey: materials.relayKey,
    userCa: materials.userCa,
    partyCert: materials.partyCert,
    partyKey: materials.partyKey,
    ...(materials.dest ? { dest: materials.dest } : {}),
  };
  return toBase64Url(new TextEncoder().encode(JSON.stringify(fields)));
}

export function decodeIdentityBundle(bundle: string): IdentityMaterials {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bundle.trim(), "base64url").toString("utf8"));
  } catch (error) {
    throw invalid(BUNDLE_ENV, "is not base64url JSON", error);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(BUNDLE_ENV, "is not a JSON object");
  }
  const record = value as Record<string, unknown>;
  for (const field of REQUIRED_FIELDS) {
    if (typeof record[field] !== "string" || record[field] === "") {
      throw invalid(`${BUNDLE_ENV}.${field}`, "is missing");
    }
  }
  if (record.dest !== undefined && typeof record.dest !== "string") {
    throw invalid(`${BUNDLE_ENV}.dest`, "is not a string");
  }
  return record as unknown as IdentityMaterials;
}

/** Owner names of identities that passed the check, by their texts (the field namer only shapes errors). */
const checkedOwners = parsedCache<{ user: string; party: string }>();

function checkIdentity(materials: IdentityMaterials, name: Namer): PartyConfig {
  const text = JSON.stringify(REQUIRED_FIELDS.map((f) => materials[f]).concat(materials.dest ?? ""));
  const owner = checkedOwners.get(text, () => checkIdentityTexts(materials, name));
  return { ...materials, user: owner.user, party: owner.party };
}

function checkIdentityTexts(materials: IdentityMaterials, name: Namer): { user: string; party: string } {
  let url: URL;
  try {
    url = new URL(materials.url);
  } catch (error) {
    throw invalid(name("url"), "is not a URL", error);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw invalid(name("url"), "is not an http(s) URL");
  if (materials.dest !== undefined && !isValidName(materials.dest)) {
    throw invalid(name("dest"), "is not a valid party name");
  }

  const relayCa = parseCertificate(materials.relayCa, name("relayCa"));
  const relayCert = parseCertificate(materials.relayCert, name("relayCert"));
  const userCa = parseCertificate(materials.userCa, name("userCa"));
  const partyCert = parseCertificate(materials.partyCert, name("partyCert"));
  matchKey(
    relayCert,
    parsePrivateKey(materials.relayKey, name("relayKey")),
    name("relayKey"),
    name("relayCert"),
  );
  matchKey(
    partyCert,
    parsePrivateKey(materials.partyKey, name("partyKey")),
    name("partyKey"),
    name("partyCert"),
  );
  if (!issuedBy(relayCert, relayCa)) throw invalid(name("relayCert"), `is not signed by ${name("relayCa")}`);
  if (!issuedBy(partyCert, userCa)) throw invalid(name("partyCert"), `is not signed by ${name("userCa")}`);

  const owner = partyOf(partyCert);
  if (!owner) throw invalid(name("partyCert"), "has no urn:flock:party:<user>:<party> SAN URI");
  const relayOwner = partyOf(relayCert);
  if (!relayOwner || relayOwner.user !== owner.user || relayOwner.party !== owner.party) {
    throw invalid(
      name("relayCert"),
      `does not name the same party as ${name("partyCert")} (${owner.user}/${owner.party})`,
    );
  }
  return owner;
}

function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw invalid(what, "is not a PEM certificate", error);
  }
}

function parsePrivateKey(pem: string, what: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw invalid(what, "is not a PEM private key", error);
  }
}

function matchKey(cert: X509Certificate, key: KeyObject, keyName: string, certName: string): void {
  if (!cert.checkPrivateKey(key)) throw invalid(keyName, `is not the key of ${certName}`);
}

function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** The party a certificate names in its SAN URI, if it names exactly one. */
export function partyOf(
  cert: X509Certificate | { subjectaltname?: string },
): { user: string; party: string } | undefined {
  const san = cert instanceof X509Certificate ? cert.subjectAltName : cert.subjectaltname;
  const parties = sanUris(san)
    .map(parsePartyUri)
    .filter((p) => p !== undefined);
  return parties.length === 1 ? parties[0] : undefined;
}

/** URIs in Node's SAN text form (`URI:urn:..., DNS:...`); our names never contain ", ". */
export function sanUris(san: string | undefined): string[] {
  return (san ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
}
