import { once } from "node:events";
import type { AddressInfo, Server, Socket } from "node:net";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MAX_CONTROL_LINE_BYTES, parseControlMessage } from "../../cli/tunnel/control-channel.ts";
import { startForwardTunnel } from "../../cli/tunnel/forward-side.ts";
import { startListenTunnel } from "../../cli/tunnel/listen-side.ts";
import type { Tunnel, TunnelLimits, TunnelOptions } from "../../cli/tunnel/tunnel-stream.ts";
import { isStreamChannel, newStreamChannel } from "../../cli/tunnel/tunnel-stream.ts";
import { openChannel } from "../../client/connect.ts";
import { createIdentity } from "../../client/identity.ts";
import { freePort } from "../helpers/free-port.ts";
import { runFlock } from "../helpers/run-flock.ts";
import type { FlockSystem } from "../helpers/system.ts";
import { startSystem } from "../helpers/system.ts";

/** Streams that never pair (cancelled ones) give up after this, so nothing outlives the file for long. */
const STREAM_DEADLINE_MS = 10_000;

describe("flock tunnel", { timeout: 60_000 }, () => {
  let system: FlockSystem;
  let alice: TunnelOptions;
  let bob: TunnelOptions;
  let channelCount = 0;
  const tunnels: Tunnel[] = [];
  const servers: Server[] = [];

  beforeAll(async () => {
    system = await startSystem();
    await system.createUser("acme");
    const options = async (party: string, dest: string): Promise<TunnelOptions> => ({
      identity: createIdentity(await system.party("acme", party, dest)),
      dest,
      channel: "tunnel",
      transport: "tcp",
      deadlineMs: STREAM_DEADLINE_MS,
      log: () => {},
    });
    alice = await options("alice", "bob");
    bob = await options("bob", "alice");
  }, 60_000);
  afterEach(async () => {
    for (const tunnel of tunnels.splice(0)) await tunnel.stop();
    for (const server of servers.splice(0)) server.close();
  });
  afterAll(() => system?.stop());

  /** A listen and a forward end on a control channel of their own, so tests do not see each other's. */
  async function tunnelTo(
    service: (socket: Socket) => void,
    limits: Partial<TunnelLimits> = {},
    log: string[] = [],
    forwardLimits: Partial<TunnelLimits> = {},
    listenHost = "127.0.0.1",
  ): Promise<number> {
    const channel = `t${++channelCount}`;
    // A reset reaching the service is what some tests want; it must not be an unhandled error.
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on("error", () => {});
      service(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    tunnels.push(startForwardTunnel({ ...bob, channel, limits: forwardLimits }, { host: "127.0.0.1", port }));
    const listening = await startListenTunnel(
      { ...alice, channel, limits, log: (line) => log.push(line) },
      { host: listenHost, port: 0 },
    );
    tunnels.push(listening);
    return listening.address.port;
  }

  /** Connects, sends `data`, half-closes; resolves with what came back or the error code. */
  async function exchange(
    port: number,
    data: Buffer,
    host = "127.0.0.1",
  ): Promise<{ received: Buffer; error?: string }> {
    const socket = connect({ host, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.end(data);
    return new Promise((resolve) => {
      socket.once("error", (error: NodeJS.ErrnoException) =>
        resolve({ received: Buffer.concat(chunks), error: error.code ?? error.message }),
      );
      socket.once("close", () => resolve({ received: Buffer.concat(chunks) }));
    });
  }

  it("carries a half-close both ways: the service answers after the program ended its side", async () => {
    const port = await tunnelTo((socket) => {
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("end", () => socket.end(Buffer.concat([Buffer.from("got "), ...chunks])));
    });
    expect((await exchange(port, Buffer.from("hello"))).received.toString()).toBe("got hello");
  });

  it("keeps concurrent connections apart, byte-exact", async () => {
    const port = await tunnelTo((socket) => socket.pipe(socket));
    const payloads = Array.from({ length: 6 }, (_, i) => Buffer.alloc(100_000 + i, i + 1));
    const results = await Promise.all(payloads.map((p) => exchange(port, p)));
    for (const [i, result] of results.entries()) {
      expect(result.received.equals(payloads[i] as Buffer)).toBe(true);
    }
  });

  it("a reset by the service is a reset on the program's socket", async () => {
    const port = await tunnelTo((socket) => socket.once("data", () => socket.resetAndDestroy()));
    expect((await exchange(port, Buffer.from("x"))).error).toBe("ECONNRESET");
  });

  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "[::1]"],
  ])("a program's reset (from %s) is logged by the listen end with its address, is a reset on the service's socket, and ends nothing else", async (host, shown) => {
    const log: string[] = [];
    const serviceErrors: string[] = [];
    const port = await tunnelTo(
      (socket) => {
        socket.on("error", (error: NodeJS.ErrnoException) => serviceErrors.push(error.code ?? error.message));
        socket.pipe(socket);
      },
      {},
      log,
      {},
      host,
    );
    const program = connect({ host, port, allowHalfOpen: true });
    program.write("x");
    await once(program, "data");
    const { localPort } = program;
    program.resetAndDestroy();
    await vi.waitFor(() => expect(serviceErrors).toEqual(["ECONNRESET"]));
    expect(log.filter((line) => line.endsWith(` opening for ${shown}:${localPort}`))).toHaveLength(1);
    expect(log).toContain(`local connection from ${shown}:${localPort} failed: ECONNRESET`);
    expect((await exchange(port, Buffer.from("still here"), host)).received.toString()).toBe("still here");
  });

  it("a service that refuses the connection is a reset on the program's socket", async () => {
    const closedPort = await freePort();
    const channel = `t${++channelCount}`;
    tunnels.push(startForwardTunnel({ ...bob, channel }, { host: "127.0.0.1", port: closedPort }));
    const listening = await startListenTunnel({ ...alice, channel }, { host: "127.0.0.1", port: 0 });
    tunnels.push(listening);
    expect((await exchange(listening.address.port, Buffer.from("x"))).error).toBe("ECONNRESET");
  });

  it("a refused stream the listen end then gives up does not crash the forward end's process", async () => {
    const closedPort = await freePort();
    const channel = `t${++channelCount}`;
    const forwarding = startForwardTunnel({ ...bob, channel }, { host: "127.0.0.1", port: closedPort });
    tunnels.push(forwarding);
    const listening = await startListenTunnel({ ...alice, channel }, { host: "127.0.0.1", port: 0 });
    expect((await exchange(listening.address.port, Buffer.from("x"))).error).toBe("ECONNRESET");
    // The forward end still holds the refused stream (RESET_HOLD_MS); the listen end going
    // away aborts it. An abort with no listener would be an uncaught error in this process.
    await listening.stop();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(forwarding.streams()).toBe(0);
  });

  it("opens at most maxOpeningStreams streams at a time; the others wait their turn", async () => {
    const log: string[] = [];
    const port = await tunnelTo((socket) => socket.pipe(socket), { maxOpeningStreams: 1 }, log);
    const results = await Promise.all([1, 2, 3].map((n) => exchange(port, Buffer.alloc(10, n))));
    for (const [i, result] of results.entries()) expect([...result.received]).toEqual(Array(10).fill(i + 1));
    const steps = log.filter((line) => / (opening|open)\b/.test(line)).map((line) => line.split(" ")[2]);
    expect(steps).toEqual(["opening", "open", "opening", "open", "opening", "open"]);
  });

  it("accepts at most maxStreams connections; one more is closed unanswered", async () => {
    const port = await tunnelTo((socket) => socket.pipe(socket), { maxStreams: 1 });
    const first = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    first.write("a");
    await once(first, "data");
    const second = await exchange(port, Buffer.from("b"));
    expect(second.received.length).toBe(0);
    first.end();
    await once(first, "close");
    expect((await exchange(port, Buffer.from("c"))).received.toString()).toBe("c");
  });

  it("the forward end carries at most maxStreams streams; one more is a reset on the program's socket", async () => {
    const port = await tunnelTo((socket) => socket.pipe(socket), {}, [], { maxStreams: 1 });
    const first = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    first.write("a");
    await once(first, "data");
    expect((await exchange(port, Buffer.from("b"))).error).toBe("ECONNRESET");
    // The refused stream left the listen end at once, not when its own channel gave up.
    expect((tunnels.at(-1) as Tunnel).streams()).toBe(1);
    first.end();
    await once(first, "close");
  });

  it("a stream the listen end gives up on while it opens leaves the forward end at once", async () => {
    const channel = `t${++channelCount}`;
    const forward = startForwardTunnel({ ...bob, channel }, { host: "127.0.0.1", port: 9 });
    tunnels.push(forward);
    // This test plays the listen end on the control channel itself.
    const { socket } = await openChannel({ identity: alice.identity, dest: "bob", channel });
    const say = (message: object) => socket.write(`${JSON.stringify(message)}\n`);
    say({ type: "hello", version: 1, mode: "listen" });
    await once(socket, "data");
    const stream = newStreamChannel(channel);
    say({ type: "open", channel: stream });
    await vi.waitFor(() => expect(forward.streams()).toBe(1));
    say({ type: "reset", channel: stream });
    await vi.waitFor(() => expect(forward.streams()).toBe(0));
    socket.destroy();
  });

  it("closes a stream idle for streamIdleTimeoutMs", async () => {
    const log: string[] = [];
    const port = await tunnelTo(() => {}, { streamIdleTimeoutMs: 300 }, log);
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("close", resolve));
    await vi.waitFor(() => expect(log.some((line) => /idle_timeout/.test(line))).toBe(true));
  });

  it("finds a restarted forward end again: the control channel reopens and new connections work", async () => {
    const echo = createServer((socket) => socket.pipe(socket));
    servers.push(echo);
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const service = { host: "127.0.0.1", port: (echo.address() as AddressInfo).port };
    const channel = `t${++channelCount}`;
    const log: string[] = [];
    const listening = await startListenTunnel(
      { ...alice, channel, log: (line) => log.push(line) },
      { host: "127.0.0.1", port: 0 },
    );
    tunnels.push(listening);
    const first = startForwardTunnel({ ...bob, channel }, service);
    expect((await exchange(listening.address.port, Buffer.from("one"))).received.toString()).toBe("one");
    await first.stop();
    await vi.waitFor(() => expect(log).toContain("control channel down; reopening"));
    tunnels.push(startForwardTunnel({ ...bob, channel }, service));
    expect((await exchange(listening.address.port, Buffer.from("two"))).received.toString()).toBe("two");
  });

  it("both ends listening fail with CONFIG_INVALID instead of waiting forever", async () => {
    const channel = `t${++channelCount}`;
    const log: string[] = [];
    const a = await startListenTunnel(
      { ...alice, channel, log: (line) => log.push(line) },
      { host: "127.0.0.1", port: 0 },
    );
    const b = await startListenTunnel({ ...bob, channel }, { host: "127.0.0.1", port: 0 });
    tunnels.push(a, b);
    await expect(a.failed).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    await expect(b.failed).rejects.toMatchObject({ code: "CONFIG_INVALID" });
    // The failure is final: the dropped control channel is not reopened.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(log).not.toContain("control channel down; reopening");
  });
});

describe("flock tunnel flags", () => {
  it.each([
    [["tunnel", "--dest", "bob"], "Pass one of --listen HOST:PORT or --forward HOST:PORT."],
    [
      ["tunnel", "--dest", "bob", "--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1"],
      "Pass one of --listen HOST:PORT or --forward HOST:PORT.",
    ],
    [["tunnel", "--dest", "bob", "--forward", "127.0.0.1:0"], "expected HOST:PORT."],
    [["tunnel", "--dest", "bob", "--listen", "nowhere"], "expected HOST:PORT (port 0: any free port)."],
    [
      ["tunnel", "--dest", "bob", "--listen", "127.0.0.1:0", "--channel", "x".repeat(52)],
      "--channel must be 1-51",
    ],
  ])("%j exits 2 before any identity is read", async (args, message) => {
    const run = await runFlock(args, tmpdir());
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("tunnel control messages and stream channels", () => {
  it("stream channels are the control channel plus 12 hex digits, and only those are accepted", () => {
    const channel = newStreamChannel("tunnel");
    expect(channel).toMatch(/^tunnel\.[0-9a-f]{12}$/);
    expect(isStreamChannel("tunnel", channel)).toBe(true);
    expect(isStreamChannel("other", channel)).toBe(false);
    expect(isStreamChannel("tunnel", "tunnel")).toBe(false);
    expect(isStreamChannel("tunnel", "tunnel.xyz")).toBe(false);
  });

  it("parses known messages, ignores unknown or malformed ones and lines over MAX_CONTROL_LINE_BYTES", () => {
    expect(parseControlMessage('{"type":"open","channel":"tunnel.0123456789ab"}')).toEqual({
      type: "open",
      channel: "tunnel.0123456789ab",
    });
    expect(parseControlMessage('{"type":"hello","version":1,"mode":"listen"}')).toEqual({
      type: "hello",
      version: 1,
      mode: "listen",
    });
    expect(parseControlMessage('{"type":"later"}')).toBeUndefined();
    expect(parseControlMessage('{"type":"open"}')).toBeUndefined();
    expect(parseControlMessage("not json")).toBeUndefined();
    const long = JSON.stringify({ type: "open", channel: "x".repeat(MAX_CONTROL_LINE_BYTES) });
    expect(parseControlMessage(long)).toBeUndefined();
  });
});
