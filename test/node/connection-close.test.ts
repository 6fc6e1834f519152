import { PassThrough } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Connection } from "../../dataplane/connection.ts";
import { closeAllRelayedSockets, relayedSockets } from "../helpers/socket-pairs.ts";

afterEach(closeAllRelayedSockets);

const closed = (connection: Connection) => new Promise<void>((resolve) => connection.onClose(resolve));

describe("Connection.onClose", () => {
  it("runs each listener once when the socket closes, but not one cancelled before", async () => {
    const { relayA } = await relayedSockets();
    const connection = new Connection(relayA, pino({ level: "silent" }));
    const calls: string[] = [];
    connection.onClose(() => calls.push("kept"));
    const cancel = connection.onClose(() => calls.push("cancelled"));
    cancel();
    const done = closed(connection);
    relayA.destroy();
    await done;
    expect(calls).toEqual(["kept"]);
    expect(connection.isClosed).toBe(true);
  });

  it("runs a listener at once on a connection already closed", async () => {
    const { relayA } = await relayedSockets();
    const connection = new Connection(relayA, pino({ level: "silent" }));
    const done = closed(connection);
    relayA.destroy();
    await done;
    let ran = false;
    connection.onClose(() => {
      ran = true;
    });
    expect(ran).toBe(true);
  });

  it("counts a layer's close as the connection's", async () => {
    const { relayA } = await relayedSockets();
    const connection = new Connection(relayA, pino({ level: "silent" }));
    const layer = new PassThrough();
    connection.addLayer(layer);
    const done = closed(connection);
    layer.destroy();
    await done;
    expect(connection.isClosed).toBe(true);
  });
});
