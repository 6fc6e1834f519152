/**
 * Backend credentials at rest: AES-256-GCM (WebCrypto) under BACKEND_SECRET_KEY, a fresh
 * 96-bit IV per value, and the backend name as additional data so a sealed value copied onto
 * another backend's row does not decrypt.
 */
import { fromBase64Url, toBase64Url } from "../../protocol/encoding.ts";
import { FlockError } from "../../protocol/errors.ts";

export const BACKEND_KEY_BYTES = 32;
/** NIST SP 800-38D: 96-bit IVs, never reused with one key; random ones are fine far below 2^32 values. */
export const CREDENTIAL_IV_BYTES = 12;
const SEALED_PREFIX = "v1";

const imported = new Map<string, Promise<CryptoKey>>();

function decodeStandardBase64(text: string): Uint8Array {
  const binary = atob(text.trim());
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Imports BACKEND_SECRET_KEY (base64 of 32 bytes) once per isolate. */
export function backendKey(secret: string): Promise<CryptoKey> {
  let key = imported.get(secret);
  if (!key) {
    key = (async () => {
      let raw: Uint8Array;
      try {
        raw = decodeStandardBase64(secret);
      } catch {
        raw = new Uint8Array();
      }
      if (raw.length !== BACKEND_KEY_BYTES) {
        throw new FlockError("INTERNAL", "BACKEND_SECRET_KEY must be base64 of 32 bytes.");
      }
      return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    })();
    key.catch(() => imported.delete(secret));
    imported.set(secret, key);
  }
  return key;
}

export async function sealCredential(
  key: CryptoKey,
  plaintext: string,
  backendName: string,
): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(CREDENTIAL_IV_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(backendName) },
    key,
    new TextEncoder().encode(plaintext),
  );
  return `${SEALED_PREFIX}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`;
}

/** Throws INTERNAL (without saying more) when the value was tampered with, moved, or sealed under another key. */
export async function openCredential(key: CryptoKey, sealed: string, backendName: string): Promise<string> {
  const [prefix, iv, ciphertext, extra] = sealed.split(".");
  try {
    if (prefix !== SEALED_PREFIX || iv === undefined || ciphertext === undefined || extra !== undefined) {
      throw new Error("shape");
    }
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: new TextEncoder().encode(backendName) },
      key,
      fromBase64Url(ciphertext),
    );
    return new TextDecoder().decode(plain);
  } catch {
    throw new FlockError("INTERNAL", `The stored credentials of backend ${backendName} do not decrypt.`);
  }
}
