import type { AddressInfo, Server, Socket } from "node:net";
import { createServer } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { connectLocal } from "../../cli/tunnel/forward-side.ts";
import { freePort } from "../helpers/free-port.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function service(): Promise<{ host: string; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server: Server = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const socket of accepted) socket.destroy();
    return new Promise((done) => server.close(() => done()));
  });
  return { host: "127.0.0.1", port: (server.address() as AddressInfo).port, accepted };
}

describe("the forward end's connection to the local service", () => {
  it("is the connected socket when the service accepts", async () => {
    const target = await service();
    const stream = new PassThrough();
    const local = await connectLocal(target, stream);
    expect(Object.keys(local)).toEqual(["socket"]);
    if ("socket" in local) cleanups.push(() => void local.socket.destroy());
  });

  it("is the error's code when the service refuses it", async () => {
    const port = await freePort();
    expect(await connectLocal({ host: "127.0.0.1", port }, new PassThrough())).toEqual({
      refused: "ECONNREFUSED",
    });
  });

  it("is given up, not called a refusal, when the stream dies while the connection is made", async () => {
    const target = await service();
    const stream = new PassThrough();
    const connecting = connectLocal(target, stream);
    // The stream's close comes on the next tick, before the loopback connect can complete.
    stream.destroy();
    expect(await connecting).toEqual({ streamGone: true });
  });

  it("is given up at once for a stream that is gone already", async () => {
    const target = await service();
    const stream = new PassThrough();
    stream.destroy();
    expect(await connectLocal(target, stream)).toEqual({ streamGone: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(target.accepted).toEqual([]);
  });
});
