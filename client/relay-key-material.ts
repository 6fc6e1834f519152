import type { KeyObject } from "node:crypto";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { certificateThumbprint } from "../protocol/encoding.ts";
import { parsedCache } from "./parsed-cache.ts";

/** The party's relay key and certificate in the forms the ticket request and the hello proof use. */
export interface RelayKeyMaterial {
  key: KeyObject;
  certDer: Uint8Array;
  /** x5t#S256 of the relay certificate: the `kid` of signed ticket requests. */
  kid: Promise<string>;
}

const parsed = parsedCache<RelayKeyMaterial>();

/** Parsed once per distinct key and certificate text. */
export function relayKeyMaterial(identity: { relayKey: string; relayCert: string }): RelayKeyMaterial {
  return parsed.get(`${identity.relayCert}\n${identity.relayKey}`, () => {
    const certDer = new Uint8Array(new X509Certificate(identity.relayCert).raw);
    return { key: createPrivateKey(identity.relayKey), certDer, kid: certificateThumbprint(certDer) };
  });
}
