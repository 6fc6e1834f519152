import { createPrivateKey, sign, X509Certificate } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_CHECKED_CERTIFICATES, RelayCertificateChecker } from "../../dataplane/admission/party-proof.ts";
import { toBase64Url } from "../../protocol/encoding.ts";
import { helloProofInput } from "../../protocol/frames.ts";
import { issuePartyCertificate, makeCa, type TestCa } from "../helpers/system.ts";

let relayCa: TestCa;
let party: { der: string; key: string; validTo: number };
let stranger: { der: string; key: string };

async function relayCertificate(ca: TestCa, name: string) {
  const { cert, key } = await issuePartyCertificate(ca, "acme", name);
  const parsed = new X509Certificate(cert);
  return { der: parsed.raw.toString("base64"), key, validTo: Date.parse(parsed.validTo) };
}

/** A hello's proof: the certificate as sent and a signature over the nonce and the binding. */
function offer(cert: { der: string; key: string }, nonce: string, signedNonce = nonce) {
  const sig = sign("sha256", helloProofInput(signedNonce, "ticket-hash"), createPrivateKey(cert.key));
  return { cert: cert.der, sig: toBase64Url(sig), nonce, binding: "ticket-hash" };
}

beforeAll(async () => {
  relayCa = await makeCa("relay-ca");
  party = await relayCertificate(relayCa, "alice");
  stranger = await relayCertificate(await makeCa("other-ca"), "mallory");
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("RelayCertificateChecker.prove (hello certificates)", () => {
  it("checks a certificate's chain once, and the proof signature on every hello", () => {
    const checker = new RelayCertificateChecker(relayCa.pem);
    const chainChecks = vi.spyOn(X509Certificate.prototype, "verify");
    expect(checker.prove(offer(party, "nonce-1"))).toMatchObject({ user: "acme", party: "alice" });
    expect(checker.prove(offer(party, "nonce-2"))).toMatchObject({ user: "acme", party: "alice" });
    expect(chainChecks).toHaveBeenCalledTimes(1);
    // A signature over another connection's nonce fails, certificate remembered or not.
    expect(() => checker.prove(offer(party, "nonce-3", "nonce-2"))).toThrow(
      expect.objectContaining({ code: "PROOF_INVALID" }),
    );
  });

  it("refuses a remembered certificate once it is outside its validity period", () => {
    const checker = new RelayCertificateChecker(relayCa.pem);
    checker.prove(offer(party, "before"));
    vi.useFakeTimers({ now: party.validTo + 1000 });
    expect(() => checker.prove(offer(party, "after"))).toThrow(
      expect.objectContaining({ code: "CERT_INVALID", message: expect.stringContaining("validity") }),
    );
  });

  it("remembers no certificate that failed a check", () => {
    const checker = new RelayCertificateChecker(relayCa.pem);
    const issuerChecks = vi.spyOn(X509Certificate.prototype, "checkIssued");
    for (let i = 0; i < 2; i++) {
      expect(() => checker.prove(offer(stranger, `n${i}`))).toThrow(
        expect.objectContaining({ code: "CERT_INVALID" }),
      );
    }
    expect(issuerChecks).toHaveBeenCalledTimes(2);
  });

  it(`remembers at most MAX_CHECKED_CERTIFICATES (${MAX_CHECKED_CERTIFICATES}) certificates, dropping the oldest`, () => {
    const checker = new RelayCertificateChecker(relayCa.pem);
    // One certificate sent with more and more trailing newlines, which base64 decoding skips:
    // distinct texts, all the same valid DER.
    const sent = (i: number) => ({ ...party, der: `${party.der}${"\n".repeat(i)}` });
    for (let i = 0; i <= MAX_CHECKED_CERTIFICATES; i++) checker.prove(offer(sent(i), `n${i}`));
    const chainChecks = vi.spyOn(X509Certificate.prototype, "verify");
    checker.prove(offer(sent(MAX_CHECKED_CERTIFICATES), "newest"));
    expect(chainChecks).toHaveBeenCalledTimes(0);
    checker.prove(offer(sent(0), "oldest"));
    expect(chainChecks).toHaveBeenCalledTimes(1);
  });
});
