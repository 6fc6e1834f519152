/**
 * Everything a data plane test needs instead of the real worker, made at test start:
 * a relay CA (and a second, foreign one), a relay server certificate, party relay
 * certificates, an Ed25519 ticket key, and a tiny worker stand-in on 127.0.0.1:0 that
 * serves the JWKS and answers load reports. Nothing here is a mock of the data plane.
 */
import "reflect-metadata";
import { createPrivateKey, KeyObject, sign, webcrypto, X509Certificate } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as x509 from "@peculiar/x509";
import type { CryptoKey as JoseKey, JWK } from "jose";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import pino from "pino";
import type { DataPlaneConfigInput, DataPlaneLimits } from "../../dataplane/config.ts";
import type { DataPlane } from "../../dataplane/server.ts";
import { startDataPlane } from "../../dataplane/server.ts";
import type { RelayReportResponse } from "../../protocol/api.ts";
import { toBase64Url } from "../../protocol/encoding.ts";
import { helloProofInput } from "../../protocol/frames.ts";
import { FRELAY_SERVER_NAME } from "../../protocol/frelay.ts";
import { partyUri, relayUri } from "../../protocol/names.ts";
import { verifySignedRequest } from "../../protocol/signed-request.ts";
import type { TicketClaims } from "../../protocol/ticket.ts";
import { pairId, partyRef, TICKET_ISSUER, TICKET_TYPE } from "../../protocol/ticket.ts";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

export interface Ca {
  certPem: string;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

export interface Issued {
  certPem: string;
  keyPem: string;
  /** x5t#S256 of the certificate. */
  thumbprint: string;
}

export interface Party extends Issued {
  user: string;
  party: string;
  ref: string;
}

const pemOfKey = (key: webcrypto.CryptoKey) =>
  KeyObject.from(key).export({ type: "pkcs8", format: "pem" }).toString();

export async function makeCa(name: string): Promise<Ca> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 30 * DAY_MS),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), cert, keys };
}

async function issue(
  ca: Ca,
  subject: string,
  names: x509.JsonGeneralName[],
  usages: string[],
  validity: { notBefore: Date; notAfter: Date },
): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    ...validity,
    signingAlgorithm: EC,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: pemOfKey(keys.privateKey),
    thumbprint: toBase64Url(new Uint8Array(await webcrypto.subtle.digest("SHA-256", cert.rawData))),
  };
}

export async function issueParty(
  ca: Ca,
  user: string,
  party: string,
  validity = { notBefore: new Date(Date.now() - DAY_MS), notAfter: new Date(Date.now() + 30 * DAY_MS) },
): Promise<Party> {
  const issued = await issue(
    ca,
    `CN=${party}, O=${user}, OU=flock-party`,
    [{ type: "url", value: partyUri(user, party) }],
    [x509.ExtendedKeyUsage.clientAuth],
    validity,
  );
  return { ...issued, user, party, ref: partyRef(user, party) };
}

export function issueRelay(ca: Ca, name: string): Promise<Issued> {
  return issue(
    ca,
    `CN=${name}, OU=flock-relay`,
    [
      { type: "url", value: relayUri(name) },
      { type: "dns", value: FRELAY_SERVER_NAME },
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
    ],
    [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    { notBefore: new Date(Date.now() - DAY_MS), notAfter: new Date(Date.now() + 30 * DAY_MS) },
  );
}

const certFields = new Map<string, string>();
const signingKeys = new Map<string, KeyObject>();

/** hello.cert: base64 DER of a party's relay certificate (memoised: benches dial thousands of times). */
export function certField(party: Issued): string {
  let field = certFields.get(party.certPem);
  if (field === undefined) {
    field = Buffer.from(new X509Certificate(party.certPem).raw).toString("base64");
    certFields.set(party.certPem, field);
  }
  return field;
}

/** hello.sig: what a party signs with its relay key to prove it holds it. */
export function proofSignature(party: Issued, nonce: string, binding: string): string {
  let key = signingKeys.get(party.keyPem);
  if (key === undefined) {
    key = createPrivateKey(party.keyPem);
    signingKeys.set(party.keyPem, key);
  }
  return toBase64Url(sign("sha256", helloProofInput(nonce, binding), key));
}

export interface TicketKey {
  kid: string;
  privateKey: JoseKey;
  publicJwk: JWK;
}

export async function makeTicketKey(kid: string): Promise<TicketKey> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" } };
}

/** A ticket as the worker would sign it; any claim or header field can be overridden to forge one. */
export async function mintTicket(
  key: TicketKey,
  claims: Omit<TicketClaims, "iss" | "iat" | "nbf" | "exp" | "jti"> & Partial<TicketClaims>,
  header: { kid?: string; typ?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const full: TicketClaims = {
    iss: TICKET_ISSUER,
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: crypto.randomUUID(),
    ...claims,
  };
  return new SignJWT({ ...full })
    .setProtectedHeader({ alg: "EdDSA", typ: header.typ ?? TICKET_TYPE, kid: header.kid ?? key.kid })
    .sign(key.privateKey);
}

/** The worker's part in the data plane's life: JWKS and load reports. */
export class WorkerStandIn {
  readonly keys: TicketKey[] = [];
  revokedFingerprints: string[] = [];
  /** Load reports received, after their signature verified against the relay certificate. */
  readonly reports: unknown[] = [];
  jwksFetches = 0;
  /** What the answer to a load report asks for; the data plane adopts it. */
  reportIntervalSeconds = 10;
  /** When true every request is cut off, as if the worker were unreachable. */
  unreachable = false;
  /** When true requests get no answer at all, as if the worker hung. */
  hanging = false;
  readonly #server: Server;
  #relayCertPem = "";

  private constructor() {
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(relayCertPem: string): Promise<WorkerStandIn> {
    const worker = new WorkerStandIn();
    worker.#relayCertPem = relayCertPem;
    await new Promise<void>((resolve) => worker.#server.listen(0, "127.0.0.1", resolve));
    return worker;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.unreachable) {
      req.socket.destroy();
      return;
    }
    if (this.hanging) return;
    if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
      this.jwksFetches++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: this.keys.map((k) => k.publicJwk) }));
      return;
    }
    if (req.method === "POST" && req.url === "/v1/relays/report") {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const key = new X509Certificate(this.#relayCertPem).publicKey;
      const payload = await verifySignedRequest(
        Buffer.concat(chunks).toString(),
        key,
        "POST",
        "/v1/relays/report",
      );
      this.reports.push(payload.body);
      const answer: RelayReportResponse = {
        revokedFingerprints: this.revokedFingerprints,
        ticketKids: this.keys.map((k) => k.kid),
        reportIntervalSeconds: this.reportIntervalSeconds,
      };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer));
      return;
    }
    res.writeHead(404).end();
  }

  stop(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

export const RELAY_NAME = "relay-test";

/** The whole cast, made once per test file. */
export interface DataPlaneFixtures {
  relayCa: Ca;
  foreignCa: Ca;
  relay: Issued;
  ticketKey: TicketKey;
  worker: WorkerStandIn;
  /** alice/a and alice/b pair; bob/c and bob/d are another user's parties. */
  a: Party;
  b: Party;
  c: Party;
  d: Party;
  /** Signed by the foreign CA, named alice/a. */
  foreignA: Party;
  /** alice/a with a certificate that expired yesterday. */
  expiredA: Party;
  /** Tickets from `from` to `to`, bound to `from`'s relay certificate. */
  ticket(
    from: Party,
    to: Party,
    overrides?: Partial<TicketClaims>,
    header?: { kid?: string; typ?: string },
  ): Promise<string>;
  /**
   * Starts a data plane and, unless `firstReport` is false, sends one load report so it
   * knows the revocation list (direct mode is refused until it does).
   */
  start(
    limits?: Partial<DataPlaneLimits>,
    more?: Partial<DataPlaneConfigInput>,
    options?: { firstReport?: boolean },
  ): Promise<DataPlane>;
  close(): Promise<void>;
}

export async function makeDataPlaneFixtures(): Promise<DataPlaneFixtures> {
  const relayCa = await makeCa("Test Flock Relay CA");
  const foreignCa = await makeCa("Someone Else's CA");
  const relay = await issueRelay(relayCa, RELAY_NAME);
  const ticketKey = await makeTicketKey("test-key-1");
  const worker = await WorkerStandIn.start(relay.certPem);
  worker.keys.push(ticketKey);
  const [a, b, c, d, foreignA, expiredA] = await Promise.all([
    issueParty(relayCa, "alice", "a"),
    issueParty(relayCa, "alice", "b"),
    issueParty(relayCa, "bob", "c"),
    issueParty(relayCa, "bob", "d"),
    issueParty(foreignCa, "alice", "a"),
    issueParty(relayCa, "alice", "a", {
      notBefore: new Date(Date.now() - 3 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    }),
  ]);
  const started: DataPlane[] = [];
  return {
    relayCa,
    foreignCa,
    relay,
    ticketKey,
    worker,
    a,
    b,
    c,
    d,
    foreignA,
    expiredA,
    async ticket(from, to, overrides = {}, header = {}) {
      return mintTicket(
        ticketKey,
        {
          aud: RELAY_NAME,
          sub: from.ref,
          peer: to.ref,
          pair: await pairId(from.user, from.party, to.party, "default"),
          chn: "default",
          role: from.party < to.party ? "client" : "server",
          cnf: { "x5t#S256": from.thumbprint },
          ...overrides,
        },
        header,
      );
    },
    async start(limits = {}, more = {}, { firstReport = true } = {}) {
      const dataPlane = await startDataPlane({
        name: RELAY_NAME,
        host: "127.0.0.1",
        port: 0,
        workerUrl: worker.url,
        certPem: relay.certPem,
        keyPem: relay.keyPem,
        relayCaPem: relayCa.certPem,
        metricsPort: 0,
        reportIntervalMs: null,
        logger: pino({ level: "silent" }),
        limits,
        ...more,
      });
      started.push(dataPlane);
      if (firstReport) await dataPlane.reportNow();
      return dataPlane;
    },
    async close() {
      await Promise.all(started.splice(0).map((d) => d.stop()));
    },
  };
}
