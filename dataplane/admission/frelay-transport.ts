import type { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { FRELAY_SERVER_NAME } from "../../protocol/frelay.ts";
import type { TlsRecordGate } from "../tls-record-gate.ts";
import { tlsRecordLength } from "../tls-record-gate.ts";
import type { ClientHelloNames } from "./client-hello.ts";
import { parseClientHello } from "./client-hello.ts";
import { readUntil } from "./read-until.ts";

/**
 * A connection of the original Flock relay's protocol: a TLS session over a gate that has
 * let exactly the client's first application record through (docs/coming-from-frelay.md).
 */
export interface FrelayTransport {
  name: "frelay";
  tls: TLSSocket;
  gate: TlsRecordGate;
  tlsCertificate: X509Certificate | undefined;
}

/**
 * The original relay's Go client asks for the name `flockrelay`, its C client for none,
 * and neither offers ALPN. Flock's SDK offers ALPN on every TLS connection, so it never
 * goes through the gate and keeps the native TLS path.
 */
export function mayBeFrelay(hello: ClientHelloNames): boolean {
  return (
    hello.alpn.length === 0 && (hello.serverName === undefined || hello.serverName === FRELAY_SERVER_NAME)
  );
}

const JSON_OBJECT = 0x7b; // "{"

/** Flock's own protocol starts with MAGIC; the original relay's AuthReq is a JSON object. */
export function startsFrelay(firstCleartext: Buffer): boolean {
  return firstCleartext[0] === JSON_OBJECT;
}

/**
 * Reads the first TLS record (the ClientHello) and gives every byte back to the socket:
 * the TLS engine reads it next. Undefined when the record is no ClientHello this parses.
 */
export async function readClientHello(
  raw: Socket,
  signal: AbortSignal,
): Promise<ClientHelloNames | undefined> {
  let bytes = Buffer.alloc(0);
  const record = await readUntil(
    raw,
    (chunk) => {
      bytes = Buffer.concat([bytes, chunk]);
      const length = tlsRecordLength(bytes);
      return length !== undefined && bytes.length >= length ? bytes.subarray(0, length) : undefined;
    },
    signal,
  );
  raw.unshift(bytes);
  return parseClientHello(record);
}
