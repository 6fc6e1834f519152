import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { toBase64Url } from "../../../protocol/encoding.ts";
import { backendKey, openCredential, sealCredential } from "../../../worker/openwhisk/credential-cipher.ts";

const AUTH = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:secret-key-value";

function otherSecret(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

describe("backend credential sealing", () => {
  it("round-trips and never shows the plaintext", async () => {
    const key = await backendKey(env.BACKEND_SECRET_KEY);
    const sealed = await sealCredential(key, AUTH, "a");
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("secret-key-value");
    expect(await openCredential(key, sealed, "a")).toBe(AUTH);
  });

  it("uses a fresh IV for every value", async () => {
    const key = await backendKey(env.BACKEND_SECRET_KEY);
    const first = await sealCredential(key, AUTH, "a");
    const second = await sealCredential(key, AUTH, "a");
    expect(first.split(".")[1]).not.toBe(second.split(".")[1]);
    expect(first).not.toBe(second);
  });

  it("refuses a value moved to another backend name (additional data)", async () => {
    const key = await backendKey(env.BACKEND_SECRET_KEY);
    const sealed = await sealCredential(key, AUTH, "a");
    await expect(openCredential(key, sealed, "b")).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("refuses a tampered value and one sealed under another key", async () => {
    const key = await backendKey(env.BACKEND_SECRET_KEY);
    const sealed = await sealCredential(key, AUTH, "a");
    const [prefix, iv, ciphertext] = sealed.split(".") as [string, string, string];
    const flipped = `${prefix}.${iv}.${ciphertext.slice(0, -2)}${ciphertext.endsWith("A") ? "B" : "A"}${ciphertext.slice(-1)}`;
    await expect(openCredential(key, flipped, "a")).rejects.toMatchObject({ code: "INTERNAL" });
    await expect(openCredential(key, "v1.only-two", "a")).rejects.toMatchObject({ code: "INTERNAL" });
    const other = await backendKey(otherSecret());
    await expect(openCredential(other, sealed, "a")).rejects.toMatchObject({ code: "INTERNAL" });
  });

  it("refuses a BACKEND_SECRET_KEY that is not 32 bytes", async () => {
    await expect(backendKey(toBase64Url(new Uint8Array(16)))).rejects.toMatchObject({ code: "INTERNAL" });
    await expect(backendKey("not base64 !")).rejects.toMatchObject({ code: "INTERNAL" });
  });
});
