/**
 * The two parties of bench/relay-cpu.ts, in the bench process: how they reach each relay
 * (Flock's handshake in direct mode; two plain clients in a row for a bare relay; or one
 * client whose proxy, haproxy, dials the receiver here), and the bulk transfer whose relay
 * CPU is measured. Every party socket has Nagle off, as the SDK's.
 */
import type { AddressInfo, Server } from "node:net";
import { createServer as createTcpServer, connect as tcpConnect } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer, connect as tlsConnect } from "node:tls";
import { createWebSocketStream, WebSocket } from "ws";
import { TestParty } from "../../test/helpers/dataplane-client.ts";
import type { Issued, Party } from "../../test/helpers/dataplane-fixtures.ts";

/** The SDK sends at most 64 KiB per WebSocket message, and the data plane caps one there. */
export const WRITE_BYTES = 64 * 1024;

export type Transport = "tcp" | "tls" | "ws";

/** Both parties of one Flock pair, in direct mode; on tls the client certificate is the proof. */
export async function flockPair(
  port: number,
  transport: Transport,
  relayCaPem: string,
  a: Party,
  b: Party,
  tag: string,
): Promise<[Duplex, Duplex]> {
  const dial = async (self: Party, peer: Party) => {
    const tls = transport === "tls";
    const party = await TestParty.dial({ transport, port, relayCaPem, tlsIdentity: tls ? self : undefined });
    await party.sendDirect(peer.party, tag, tls ? undefined : self);
    return party;
  };
  const parties = await Promise.all([dial(a, b), dial(b, a)]);
  await Promise.all(parties.map((p) => p.paired()));
  return [parties[0].dataStream(), parties[1].dataStream()];
}

async function dial(port: number, transport: Transport): Promise<Duplex> {
  const to = { host: "127.0.0.1", port, noDelay: true };
  if (transport === "tcp") {
    const socket = tcpConnect(to);
    await new Promise((resolve) => socket.once("connect", resolve));
    return socket.on("error", () => {});
  }
  if (transport === "tls") {
    const socket = tlsConnect({ ...to, rejectUnauthorized: false });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    return socket.on("error", () => {});
  }
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise((resolve) => socket.once("open", resolve));
  return createWebSocketStream(socket).on("error", () => {});
}

/** Two parties of a bare relay, which joins connections in the order they arrive. */
export async function rendezvousPair(port: number, transport: Transport): Promise<[Duplex, Duplex]> {
  const first = await dial(port, transport);
  return [first, await dial(port, transport)];
}

/** The receiving ends haproxy dials (tcp, tls), in this process. */
export class Receivers {
  readonly #servers: Server[] = [];
  readonly #waiting = new Map<Transport, Array<(stream: Duplex) => void>>();
  readonly ports = new Map<Transport, number>();

  async start(tls: Issued): Promise<void> {
    const tcp = createTcpServer({ noDelay: true }, (socket) => this.#accepted("tcp", socket));
    const secure = createTlsServer({ cert: tls.certPem, key: tls.keyPem }, (socket) => {
      socket.setNoDelay(true);
      this.#accepted("tls", socket);
    });
    for (const [transport, server] of [
      ["tcp", tcp],
      ["tls", secure],
    ] as const) {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      this.ports.set(transport, (server.address() as AddressInfo).port);
      this.#servers.push(server);
    }
  }

  #accepted(transport: Transport, stream: Duplex): void {
    stream.on("error", () => {});
    this.#waiting.get(transport)?.shift()?.(stream);
  }

  /** Dials `proxyPort` on `transport`; resolves with the client end and the end the proxy reached here. */
  async pair(proxyPort: number, transport: Transport): Promise<[Duplex, Duplex]> {
    const accepted = new Promise<Duplex>((resolve) => {
      const queue = this.#waiting.get(transport) ?? [];
      queue.push(resolve);
      this.#waiting.set(transport, queue);
    });
    const client = await dial(proxyPort, transport);
    return [client, await accepted];
  }

  stop(): void {
    for (const server of this.#servers) server.close();
  }
}

/** Sends `bytes` from `from` to `to` in WRITE_BYTES writes; resolves once all arrived. */
export async function transfer(from: Duplex, to: Duplex, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(WRITE_BYTES, 0x5a);
  const received = new Promise<void>((resolve, reject) => {
    let count = 0;
    to.on("data", (c: Buffer) => {
      count += c.length;
      if (count >= bytes) resolve();
    });
    to.once("close", () => reject(new Error(`closed after ${count} of ${bytes} bytes`)));
  });
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!from.write(bytes - sent < chunk.length ? chunk.subarray(0, bytes - sent) : chunk)) {
      await new Promise((resolve) => from.once("drain", resolve));
    }
  }
  await received;
}
