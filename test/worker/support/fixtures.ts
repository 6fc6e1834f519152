import "reflect-metadata";
import { env, SELF } from "cloudflare:test";
import * as x509 from "@peculiar/x509";
import { CompactSign } from "jose";
import type { IssuedCertificate, PartyInfo, RelayInfo, RelayLoad } from "../../../protocol/api.ts";
import { certificateThumbprint } from "../../../protocol/encoding.ts";
import { SIGNED_REQUEST_CONTENT_TYPE, SIGNED_REQUEST_TYPE } from "../../../protocol/signed-request.ts";

x509.cryptoProvider.set(crypto);

export const BASE = "https://flock.test";

/** Fetch against the worker under test with the admin token. */
export function admin(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${env.ADMIN_TOKEN}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  return SELF.fetch(`${BASE}${path}`, { ...init, headers });
}

export function adminPost(path: string, body: unknown): Promise<Response> {
  return admin(path, { method: "POST", body: JSON.stringify(body) });
}

export type KeyKind = "ec" | "rsa";

export async function generateKeys(kind: KeyKind = "ec"): Promise<CryptoKeyPair> {
  const algorithm =
    kind === "ec"
      ? { name: "ECDSA", namedCurve: "P-256" }
      : {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        };
  return (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
}

export interface CsrOptions {
  subject?: string;
  uris?: string[];
  kind?: KeyKind;
  keys?: CryptoKeyPair;
}

export async function makeCsr(options: CsrOptions = {}): Promise<{ pem: string; keys: CryptoKeyPair }> {
  const kind = options.kind ?? "ec";
  const keys = options.keys ?? (await generateKeys(kind));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject ?? "",
    keys,
    signingAlgorithm: kind === "ec" ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" },
    extensions: options.uris?.length
      ? [
          new x509.SubjectAlternativeNameExtension(
            options.uris.map((value) => ({ type: "url" as const, value })),
          ),
        ]
      : [],
  });
  return { pem: csr.toString("pem"), keys };
}

/** A registered signer: a party or a data plane with its key and certificate. */
export interface Signer {
  keys: CryptoKeyPair;
  kind: KeyKind;
  certificate: string;
  fingerprint: string;
}

export async function createUser(name: string): Promise<void> {
  const res = await adminPost("/v1/users", { name });
  if (res.status !== 201) throw new Error(`create user ${name}: ${res.status} ${await res.text()}`);
}

export async function createParty(
  user: string,
  name: string,
  kind: KeyKind = "ec",
): Promise<Signer & { issued: IssuedCertificate<PartyInfo> }> {
  const { pem, keys } = await makeCsr({ kind });
  const res = await adminPost(`/v1/users/${user}/parties`, { name, csr: pem });
  if (res.status !== 201) throw new Error(`create party ${user}/${name}: ${res.status} ${await res.text()}`);
  const issued = (await res.json()) as IssuedCertificate<PartyInfo>;
  return { keys, kind, certificate: issued.certificate, fingerprint: issued.item.fingerprint, issued };
}

type PartySigner = Awaited<ReturnType<typeof createParty>>;

/** A user and its EC parties, made in order: the parties' signers, one for each name. */
export async function createUserWithParties<const Names extends readonly string[]>(
  user: string,
  ...parties: Names
): Promise<{ -readonly [K in keyof Names]: PartySigner }> {
  await createUser(user);
  const signers: PartySigner[] = [];
  for (const party of parties) signers.push(await createParty(user, party));
  return signers as { -readonly [K in keyof Names]: PartySigner };
}

export async function createRelay(
  name: string,
  hosts: string[] = ["127.0.0.1"],
  port = 6000,
): Promise<Signer & { issued: IssuedCertificate<RelayInfo> }> {
  const { pem, keys } = await makeCsr();
  const res = await adminPost("/v1/relays", { name, hosts, port, csr: pem });
  if (res.status !== 201) throw new Error(`create relay ${name}: ${res.status} ${await res.text()}`);
  const issued = (await res.json()) as IssuedCertificate<RelayInfo>;
  return { keys, kind: "ec", certificate: issued.certificate, fingerprint: issued.item.fingerprint, issued };
}

export interface SignOptions {
  iat?: number;
  jti?: string;
  htm?: string;
  htu?: string;
  kid?: string;
}

/** Builds a signed request by hand so tests can bend any field (iat, htu, kid...). */
export async function signAs(
  signer: Signer,
  path: string,
  body: unknown,
  options: SignOptions = {},
): Promise<string> {
  const payload = {
    htm: options.htm ?? "POST",
    htu: options.htu ?? path,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    jti: options.jti ?? crypto.randomUUID(),
    body,
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({
      alg: signer.kind === "ec" ? "ES256" : "RS256",
      typ: SIGNED_REQUEST_TYPE,
      kid: options.kid ?? signer.fingerprint,
    })
    .sign(signer.keys.privateKey);
}

export function postSigned(path: string, jws: string): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "content-type": SIGNED_REQUEST_CONTENT_TYPE },
    body: jws,
  });
}

export const IDLE_LOAD: RelayLoad = { activePairs: 0, waitingSides: 0, bytesPerSecond: 0, capacity: 1000 };

export async function reportLoad(relay: Signer, load: RelayLoad = IDLE_LOAD): Promise<Response> {
  return postSigned("/v1/relays/report", await signAs(relay, "/v1/relays/report", load));
}

export async function requestTicket(party: Signer, dest: string, channel?: string): Promise<Response> {
  const body = channel === undefined ? { dest } : { dest, channel };
  return postSigned("/v1/tickets", await signAs(party, "/v1/tickets", body));
}

export async function thumbprintOfPem(pem: string): Promise<string> {
  return certificateThumbprint(new Uint8Array(new x509.X509Certificate(pem).rawData));
}

export async function expectError(res: Response, status: number, code: string): Promise<void> {
  const body = (await res.json()) as { code?: string; error?: string };
  if (res.status !== status || body.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${JSON.stringify(body)}`);
  }
  if (typeof body.error !== "string" || body.error.length === 0)
    throw new Error("error body has no sentence");
}
