import "reflect-metadata";
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, webcrypto } from "node:crypto";
import { promisify } from "node:util";
import { cryptoProvider } from "@peculiar/x509";
import { UserError } from "../output.ts";

// @peculiar/x509 signs through WebCrypto; Node's is complete, so use it everywhere in the CLI.
cryptoProvider.set(webcrypto);

export const KEY_TYPES = ["ec", "rsa"] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const RSA_MODULUS_BITS = 2048;
export const EC_CURVE = "P-256";

/** A key pair both as PEM (for files) and as WebCrypto keys (for @peculiar/x509). */
export interface KeyMaterial {
  type: KeyType;
  privateKeyPem: string;
  keys: webcrypto.CryptoKeyPair;
  signingAlgorithm: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

const generate = promisify(generateKeyPair);

function webAlgorithms(type: KeyType) {
  return type === "ec"
    ? { key: { name: "ECDSA", namedCurve: EC_CURVE }, signing: { name: "ECDSA", hash: "SHA-256" } }
    : {
        key: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        signing: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      };
}

async function toKeyMaterial(type: KeyType, privateKey: KeyObject): Promise<KeyMaterial> {
  const algorithms = webAlgorithms(type);
  const subtle = webcrypto.subtle;
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const keys = {
    privateKey: await subtle.importKey("pkcs8", pkcs8, algorithms.key, true, ["sign"]),
    publicKey: await subtle.importKey("spki", spki, algorithms.key, true, ["verify"]),
  };
  return {
    type,
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    keys,
    signingAlgorithm: algorithms.signing,
  };
}

/** A fresh key made by Node (EC P-256 by default, RSA-2048 on request). */
export async function generateKey(type: KeyType = "ec"): Promise<KeyMaterial> {
  const { privateKey } =
    type === "ec"
      ? await generate("ec", { namedCurve: EC_CURVE })
      : await generate("rsa", { modulusLength: RSA_MODULUS_BITS });
  return toKeyMaterial(type, privateKey);
}

/** Loads a PKCS#8 (or SEC1/PKCS#1) PEM key written earlier. */
export async function loadKey(pem: string, where: string): Promise<KeyMaterial> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new UserError(`${where} is not a PEM private key.`);
  }
  const type = key.asymmetricKeyType;
  if (type !== "ec" && type !== "rsa")
    throw new UserError(`${where} holds a ${type} key; Flock uses ec or rsa.`);
  return toKeyMaterial(type, key);
}
