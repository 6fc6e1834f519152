/**
 * Real loopback TCP for splice tests: a relay listener that accepts two parties, so a test
 * holds both party sockets and the relay's two accepted sockets, and splices the latter.
 */
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";
import type { Duplex } from "node:stream";

export interface RelayedSockets {
  /** The parties' ends. */
  a: Socket;
  b: Socket;
  /** The relay's accepted ends, to be spliced. */
  relayA: Socket;
  relayB: Socket;
}

const servers = new Set<Server>();
const sockets = new Set<Socket>();

function accepted(server: Server): Promise<Socket> {
  return new Promise((resolve) => server.once("connection", resolve));
}

async function dial(port: number): Promise<Socket> {
  const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true, noDelay: true });
  sockets.add(socket);
  socket.on("error", () => {});
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  return socket;
}

/** Two parties connected to one relay listener (allowHalfOpen, as the data plane's). */
export async function relayedSockets(): Promise<RelayedSockets> {
  const server = createServer({ allowHalfOpen: true });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const first = accepted(server);
  const a = await dial(port);
  const relayA = await first;
  const second = accepted(server);
  const b = await dial(port);
  const relayB = await second;
  for (const s of [relayA, relayB]) {
    sockets.add(s);
    s.setNoDelay(true);
  }
  return { a, b, relayA, relayB };
}

/** Stops tracking the relay's two sockets (a test that checks nothing else holds them). */
export function forgetRelaySides(s: RelayedSockets): void {
  sockets.delete(s.relayA);
  sockets.delete(s.relayB);
}

/** Closes every socket and listener the tests opened (afterEach). */
export function closeAllRelayedSockets(): void {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  for (const server of servers) server.close();
  servers.clear();
}

/** `length` bytes of a pattern that differs per seed, so a swapped or shifted byte shows. */
export function pattern(length: number, seed: number): Buffer {
  const cycle = Buffer.alloc(251);
  for (let i = 0; i < cycle.length; i++) cycle[i] = (i * 31 + seed) % 251;
  return Buffer.alloc(length, cycle);
}

/** Writes in pieces, honouring backpressure, then ends unless told not to. */
export async function writeAll(stream: Duplex, bytes: Buffer, end = true): Promise<void> {
  const piece = 64 * 1024;
  for (let at = 0; at < bytes.length; at += piece) {
    if (!stream.write(bytes.subarray(at, at + piece))) {
      await new Promise((resolve) => stream.once("drain", resolve));
    }
  }
  if (end) stream.end();
}

/** Reads to the end (resuming a paused stream), leaving the writing half open. */
export function readToEnd(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.resume();
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("close", () => reject(new Error("closed before its end")));
  });
}

/** Resolves with the error a socket dies of (null when it closes without one). */
export function closedWith(socket: Socket): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    let error: NodeJS.ErrnoException | null = null;
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e;
    });
    socket.once("close", () => resolve(error));
    socket.resume();
  });
}

/** Resolves once `sample()` returns the same value three times in a row, 100 ms apart. */
export async function settled(sample: () => number): Promise<number> {
  let last = sample();
  let same = 0;
  while (same < 3) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = sample();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}
