import { MAGIC } from "../../protocol/frames.ts";

/**
 * What the first bytes of a connection say it speaks. TLS records start with 0x16
 * (handshake); a Flock client starts with MAGIC; a WebSocket client with an HTTP GET.
 */
export type Sniffed = "tls" | "flock" | "http" | "unknown";

const TLS_HANDSHAKE_RECORD = 0x16;
const PREFIXES: Array<[Sniffed, Uint8Array]> = [
  ["flock", MAGIC],
  ["http", new TextEncoder().encode("GET ")],
];
/** Both prefixes are this long: the most a sniff ever reads. */
export const SNIFF_BYTES = 4;

export interface SniffResult {
  kind: Sniffed;
  /** Every byte read while sniffing: the caller gives back what the next layer must see. */
  bytes: Buffer;
}

/** A `take` for readUntil: decides as soon as the bytes so far allow, even one byte at a time. */
export function transportSniffer(): (chunk: Buffer) => SniffResult | undefined {
  let bytes = Buffer.alloc(0);
  return (chunk) => {
    bytes = Buffer.concat([bytes, chunk]);
    if (bytes[0] === TLS_HANDSHAKE_RECORD) return { kind: "tls", bytes };
    const seen = Math.min(bytes.length, SNIFF_BYTES);
    const candidates = PREFIXES.filter(([, prefix]) =>
      bytes.subarray(0, seen).equals(prefix.subarray(0, seen)),
    );
    const [match] = candidates;
    if (!match) return { kind: "unknown", bytes };
    return seen === SNIFF_BYTES ? { kind: match[0], bytes } : undefined;
  };
}
