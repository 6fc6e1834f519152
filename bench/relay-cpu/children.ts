/**
 * The bare Node relays of bench/relay-cpu.ts, the yardsticks of the JS path, each alone in
 * a child process so its CPU time is its own. A bare relay does the data plane's work
 * without Flock: both parties dial in (TCP; TLS terminated on both legs; WebSocket on both
 * legs, so neither leg masks) and each two connections in a row are joined with pipe().
 * Started with `fork`; the parent sends one start message and gets back the port.
 */
import type { AddressInfo, Server } from "node:net";
import { createServer as createTcpServer } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer } from "node:tls";

export interface ChildStart {
  kind: "node-tcp" | "node-tls" | "node-ws";
  certPem: string;
  keyPem: string;
}

/** What a child answers once listening. */
export interface ChildReady {
  port: number;
}

function pipeBoth(a: Duplex, b: Duplex): void {
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end).on("close", end);
  b.on("error", end).on("close", end);
  a.pipe(b);
  b.pipe(a);
}

/** Joins each two connections that arrive in a row. */
function rendezvous(): (stream: Duplex) => void {
  let first: Duplex | undefined;
  return (stream) => {
    if (first === undefined) {
      first = stream;
      return;
    }
    pipeBoth(first, stream);
    first = undefined;
  };
}

async function startBareRelay(start: ChildStart): Promise<ChildReady> {
  const join = rendezvous();
  let server: Server;
  if (start.kind === "node-tcp") {
    server = createTcpServer(join);
  } else if (start.kind === "node-tls") {
    server = createTlsServer({ cert: start.certPem, key: start.keyPem }, join);
  } else {
    const { WebSocketServer, createWebSocketStream } = await import("ws");
    const { createServer: createHttpServer } = await import("node:http");
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    const http = createHttpServer();
    http.on("upgrade", (request, socket, head) =>
      wss.handleUpgrade(request, socket, head, (ws) => join(createWebSocketStream(ws))),
    );
    server = http as unknown as Server;
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port };
}

if (process.send) {
  process.once("message", (start: ChildStart) => {
    // A clean exit on "exit", so --cpu-prof (FLOCK_BENCH_CPU_PROF) writes its profile.
    process.on("message", (message) => {
      if (message === "exit") process.exit(0);
    });
    startBareRelay(start).then(
      (ready) => process.send?.(ready),
      (error: unknown) => {
        process.stderr.write(`relay-cpu child failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
