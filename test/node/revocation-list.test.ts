import { generateKeyPairSync } from "node:crypto";
import { CompactSign } from "jose";
import { describe, expect, it } from "vitest";
import {
  MAX_REVOCATION_LIST_BYTES,
  REVOCATION_LIST_TYPE,
  readRevocationList,
  signRevocationList,
  verifyRevocationList,
} from "../../protocol/revocation-list.ts";

const userCa = generateKeyPairSync("ec", { namedCurve: "P-256" });
const otherCa = generateKeyPairSync("ec", { namedCurve: "P-256" });
const list = { user: "acme", seq: 3, iat: 1_800_000_000, parties: ["p2", "p0", "p2"] };

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("revocation lists", () => {
  it("verify with the user CA's key: names sorted and each once", async () => {
    const jws = await signRevocationList(userCa.privateKey, "ES256", list);
    expect(await verifyRevocationList(jws, userCa.publicKey, "acme")).toEqual({
      ...list,
      parties: ["p0", "p2"],
    });
  });

  it("verify with RS256 for an RSA user CA", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jws = await signRevocationList(rsa.privateKey, "RS256", list);
    expect((await verifyRevocationList(jws, rsa.publicKey, "acme")).seq).toBe(3);
  });

  it("refuse a list signed by another key with BAD_SIGNATURE", async () => {
    const jws = await signRevocationList(otherCa.privateKey, "ES256", list);
    await expect(verifyRevocationList(jws, userCa.publicKey, "acme")).rejects.toMatchObject({
      code: "BAD_SIGNATURE",
      message: "The revocation list of acme is not signed by its user CA.",
    });
  });

  it("refuse another user's list, even one signed by the same key", async () => {
    const jws = await signRevocationList(userCa.privateKey, "ES256", { ...list, user: "other" });
    await expect(verifyRevocationList(jws, userCa.publicKey, "acme")).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: "The revocation list is the list of user other, not of acme.",
    });
  });

  it("refuse an edited payload: the signature covers every name", async () => {
    const [header, , signature] = (await signRevocationList(userCa.privateKey, "ES256", list)).split(".");
    const edited = `${header}.${encode({ ...list, parties: ["p0"] })}.${signature}`;
    await expect(verifyRevocationList(edited, userCa.publicKey, "acme")).rejects.toMatchObject({
      code: "BAD_SIGNATURE",
    });
  });

  it.each([
    ["another typ", { alg: "ES256", typ: "flock-request+jwt" }, list],
    ["alg none", { alg: "none", typ: REVOCATION_LIST_TYPE }, list],
    ["seq 0", { alg: "ES256", typ: REVOCATION_LIST_TYPE }, { ...list, seq: 0 }],
    ["a fractional iat", { alg: "ES256", typ: REVOCATION_LIST_TYPE }, { ...list, iat: 1.5 }],
    ["a bad party name", { alg: "ES256", typ: REVOCATION_LIST_TYPE }, { ...list, parties: ["a/b"] }],
    ["unsorted names", { alg: "ES256", typ: REVOCATION_LIST_TYPE }, { ...list, parties: ["p2", "p0"] }],
    ["a repeated name", { alg: "ES256", typ: REVOCATION_LIST_TYPE }, { ...list, parties: ["p0", "p0"] }],
  ])("refuse a list with %s as BAD_REQUEST, before any signature check", async (_what, header, payload) => {
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ ...header, alg: "ES256" })
      .sign(userCa.privateKey)
      .then((signed) => (header.alg === "ES256" ? signed : `${encode(header)}.${signed.split(".")[1]}.`));
    expect(() => readRevocationList(jws, "acme")).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
  });

  it("are at most MAX_REVOCATION_LIST_BYTES: too many names cannot be signed, a longer text is not read", async () => {
    const many = Array.from({ length: 400 }, (_, i) => `party-${String(i).padStart(40, "0")}`);
    await expect(
      signRevocationList(userCa.privateKey, "ES256", { ...list, parties: many }),
    ).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining(`over the ${MAX_REVOCATION_LIST_BYTES} a list may have`),
    });
    const jws = await signRevocationList(userCa.privateKey, "ES256", list);
    expect(() => readRevocationList(`${jws}${"A".repeat(MAX_REVOCATION_LIST_BYTES)}`, "acme")).toThrow(
      `The revocation list is not a string of at most ${MAX_REVOCATION_LIST_BYTES} bytes.`,
    );
  });
});
