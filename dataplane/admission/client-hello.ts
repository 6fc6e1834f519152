/** What a TLS ClientHello says before any key is exchanged (RFC 8446 §4.1.2). */
export interface ClientHelloNames {
  /** server_name (RFC 6066 §3), when the client sent one. */
  serverName: string | undefined;
  /** application_layer_protocol_negotiation (RFC 7301): what the client offers, in order. */
  alpn: string[];
}

const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
const SERVER_NAME_EXTENSION = 0;
const ALPN_EXTENSION = 16;
const HOST_NAME_TYPE = 0;

/** A cursor over a buffer that reads big-endian lengths and length-prefixed vectors; undefined past the end. */
class Reader {
  #offset = 0;
  constructor(readonly bytes: Buffer) {}

  get done(): boolean {
    return this.#offset >= this.bytes.length;
  }

  uint(size: 1 | 2 | 3): number | undefined {
    if (this.#offset + size > this.bytes.length) return undefined;
    const value = this.bytes.readUIntBE(this.#offset, size);
    this.#offset += size;
    return value;
  }

  take(length: number): Buffer | undefined {
    if (this.#offset + length > this.bytes.length) return undefined;
    const out = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  vector(lengthSize: 1 | 2 | 3): Reader | undefined {
    const length = this.uint(lengthSize);
    const body = length === undefined ? undefined : this.take(length);
    return body && new Reader(body);
  }
}

/**
 * The server name and ALPN offers of the ClientHello in the first TLS record, or undefined
 * when the record is no ClientHello or is cut short (a hello longer than one record is not
 * something the clients this serves send; the TLS engine judges such a hello on its own).
 */
export function parseClientHello(record: Buffer): ClientHelloNames | undefined {
  const outer = new Reader(record);
  if (outer.uint(1) !== HANDSHAKE_RECORD) return undefined;
  outer.uint(2);
  const fragment = outer.vector(2);
  if (!fragment || fragment.uint(1) !== CLIENT_HELLO) return undefined;
  const hello = fragment.vector(3);
  // legacy_version and random
  if (!hello?.take(2 + 32)) return undefined;
  if (!hello.vector(1) || !hello.vector(2) || !hello.vector(1)) return undefined;
  const names: ClientHelloNames = { serverName: undefined, alpn: [] };
  if (hello.done) return names;
  const extensions = hello.vector(2);
  if (!extensions) return undefined;
  while (!extensions.done) {
    const type = extensions.uint(2);
    const body = extensions.vector(2);
    if (type === undefined || !body) return undefined;
    if (type === SERVER_NAME_EXTENSION) {
      const list = body.vector(2);
      while (list && !list.done) {
        const nameType = list.uint(1);
        const name = list.vector(2);
        if (!name) return undefined;
        if (nameType === HOST_NAME_TYPE) names.serverName = name.bytes.toString("latin1");
      }
    } else if (type === ALPN_EXTENSION) {
      const list = body.vector(2);
      while (list && !list.done) {
        const protocol = list.vector(1);
        if (!protocol) return undefined;
        names.alpn.push(protocol.bytes.toString("latin1"));
      }
    }
  }
  return names;
}
