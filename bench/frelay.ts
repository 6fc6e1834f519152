/**
 * The original Flock relay's protocol (docs/coming-from-frelay.md) on a data plane in a
 * child process, beside Flock's own tls transport (SDK direct mode), in one run:
 * - pair setup, relay handshake to end-to-end TLS done on both sides (p50/p99);
 * - one pair's end-to-end throughput (frelay is raw TCP under the end-to-end TLS; Flock's
 *   tls transport encrypts twice);
 * - completed concurrent sessions per second: N per side at once, each replaying the
 *   original client_func's TEST=signing trace (25 small writes and reads);
 * - what the TLS record gate costs a TLS engine that stays on it (Flock's protocol from a
 *   client the data plane cannot tell apart from the C client), on a local echo.
 * FLOCK_BENCH_SETUPS (default 100), FLOCK_BENCH_BYTES (default 256 MiB),
 * FLOCK_BENCH_FRELAY_SESSIONS (default 500 per side).
 */
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import { percentile } from "../cli/commands/ping.ts";
import { openChannel } from "../client/connect.ts";
import type { IdentityMaterials } from "../client/identity.ts";
import { TlsRecordGate } from "../dataplane/tls-record-gate.ts";
import { frelaySession, MODE_CLIENT } from "../test/helpers/frelay-client.ts";
import { startSystem } from "../test/helpers/system.ts";
import { stream as streamMbps } from "./relay-throughput.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "frelay";
/** client_func's serverOps and clientOps: bytes to write, or 0 for one read. */
const SERVER_OPS = [
  0, 0, 1208, 1150, 108, 0, 0, 0, 2874, 4053, 108, 0, 0, 279, 0, 108, 0, 483, 0, 108, 0, 244, 0, 108, 0,
];
const CLIENT_OPS = [
  1208, 1150, 0, 0, 0, 108, 2874, 4053, 0, 0, 0, 108, 279, 0, 108, 0, 483, 0, 108, 0, 244, 0, 108, 0, 1,
];

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * The trace as client_func plays it. Go's tls.Conn.Read returns one record and each Write is
 * one record, so each read takes one of the peer's writes; here a read waits for the bytes of
 * the peer's next write (Node may hand two records over as one chunk).
 */
async function replaySigning(channel: Duplex, mode: number): Promise<void> {
  const [own, peer] = mode === MODE_CLIENT ? [CLIENT_OPS, SERVER_OPS] : [SERVER_OPS, CLIENT_OPS];
  const peerWrites = peer.filter((op) => op > 0);
  let arrived = 0;
  let wanted = 0;
  let wake: (() => void) | undefined;
  channel.on("data", (chunk: Buffer) => {
    arrived += chunk.length;
    if (arrived >= wanted) wake?.();
  });
  let reads = 0;
  for (const op of own) {
    if (op > 0) {
      channel.write(Buffer.alloc(op));
      continue;
    }
    wanted += peerWrites[reads++] ?? 0;
    if (arrived < wanted) await new Promise<void>((resolve) => (wake = resolve));
  }
}

/** The gate's cost to a TLS engine kept on it: server TLS CPU seconds per GB, native vs gated. */
async function gateCost(bytes: number): Promise<Record<"native" | "gated", number>> {
  const { makeCa, issueRelay } = await import("../test/helpers/dataplane-fixtures.ts");
  const ca = await makeCa("bench CA");
  const relay = await issueRelay(ca, "bench");
  const context = tls.createSecureContext({ cert: relay.certPem, key: relay.keyPem });
  const out = { native: 0, gated: 0 };
  for (const variant of ["native", "gated"] as const) {
    // The engine runs in this process; the client in a child would be fairer, but both variants pay alike.
    const server = createServer({ allowHalfOpen: true }, (raw) => {
      const gate = variant === "gated" ? new TlsRecordGate(raw) : undefined;
      const socket = new tls.TLSSocket(gate ?? raw, { isServer: true, secureContext: context });
      if (gate) {
        gate.watch(socket);
        socket.once("secure", () => gate.open());
      }
      // The echo must not end before it has sent back all it got.
      socket.allowHalfOpen = true;
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = tls.connect({
      port: (server.address() as AddressInfo).port,
      host: "127.0.0.1",
      rejectUnauthorized: false,
      ...{ allowHalfOpen: true },
    });
    await new Promise((resolve) => client.once("secureConnect", resolve));
    const cpu = process.cpuUsage();
    await streamMbps(client, client, bytes);
    const used = process.cpuUsage(cpu);
    out[variant] = (used.user + used.system) / 1e6 / (bytes / 1e9);
    client.destroy();
    server.close();
  }
  return out;
}

export const run: Bench = async () => {
  const setups = envNumber("FLOCK_BENCH_SETUPS", 100);
  const bytes = envNumber("FLOCK_BENCH_BYTES", 256 * 1024 * 1024);
  const sessions = envNumber("FLOCK_BENCH_FRELAY_SESSIONS", 500);
  const system = await startSystem({ dataPlane: false });
  const rows: BenchResult[] = [];
  const row = (variant: string, metric: string, value: number, unit: string) =>
    rows.push({ bench: BENCH, variant, metric, value, unit });
  try {
    // Room for `sessions` sides of one party waiting and handshaking at once, all from
    // 127.0.0.1, and time for a thousand TLS handshakes queued at once on two cores: what an
    // operator sets (flock relay start flags) for one host that opens them all together.
    const room = sessions + 64;
    await system.startDataPlaneProcess("frelay-bench", {
      magicDeadlineMs: 60_000,
      helloDeadlineMs: 60_000,
      maxWaitingPerParty: room,
      maxHandshakingPerPrefix: 2 * room,
      maxHandshakingConnections: 2 * room,
    });
    const port = (await system.admin.listRelays()).find((r) => r.name === "frelay-bench")?.port as number;
    await system.createUser("bench");
    const alice: IdentityMaterials = await system.party("bench", "alice", "bob");
    const bob: IdentityMaterials = await system.party("bench", "bob", "alice");
    const frelay = (from: IdentityMaterials, dest: string, tag: string) =>
      frelaySession({ ...from, port, dest, tag });
    const flockTls = (from: IdentityMaterials, channel: string) =>
      openChannel({ identity: from, relay: `127.0.0.1:${port}`, transport: "tls", channel });
    const setupTimes = { frelay: [] as number[], "flock-tls": [] as number[] };
    for (let i = 0; i < setups; i++) {
      let started = performance.now();
      const [a, b] = await Promise.all([
        frelay(alice, "bob", `setup${i}`),
        frelay(bob, "alice", `setup${i}`),
      ]);
      setupTimes.frelay.push(performance.now() - started);
      a.channel.destroy();
      b.channel.destroy();
      started = performance.now();
      const [c, d] = await Promise.all([flockTls(alice, `setup${i}`), flockTls(bob, `setup${i}`)]);
      setupTimes["flock-tls"].push(performance.now() - started);
      c.socket.destroy();
      d.socket.destroy();
    }
    for (const [variant, times] of Object.entries(setupTimes)) {
      row(`pair-setup-${variant}`, "p50_ms", percentile(times, 50), "ms");
      row(`pair-setup-${variant}`, "p99_ms", percentile(times, 99), "ms");
    }
    const [a, b] = await Promise.all([frelay(alice, "bob", "bulk"), frelay(bob, "alice", "bulk")]);
    row("one-pair-frelay", "mb_per_second", await streamMbps(a.channel, b.channel, bytes), "MB/s");
    a.channel.destroy();
    b.channel.destroy();
    const [c, d] = await Promise.all([flockTls(alice, "bulk"), flockTls(bob, "bulk")]);
    row("one-pair-flock-tls", "mb_per_second", await streamMbps(c.socket, d.socket, bytes), "MB/s");
    c.socket.destroy();
    d.socket.destroy();
    // TEST=signing with OPS=sessions on both sides at once.
    const started = performance.now();
    const one = async (from: IdentityMaterials, dest: string, i: number) => {
      const { session, channel } = await frelay(from, dest, `TAG${i}`);
      await replaySigning(channel, session.mode);
      channel.destroy();
    };
    const all = [];
    for (let i = 0; i < sessions; i++) all.push(one(alice, "bob", i), one(bob, "alice", i));
    const results = await Promise.allSettled(all);
    const seconds = (performance.now() - started) / 1000;
    const completed = results.filter((r) => r.status === "fulfilled").length / 2;
    const failures = new Map<string, number>();
    for (const r of results) {
      if (r.status === "rejected") {
        const why = r.reason instanceof Error ? r.reason.message : String(r.reason);
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    }
    for (const [why, n] of failures) process.stderr.write(`  ${n} sessions failed: ${why}\n`);
    row(`signing-${sessions}-per-side`, "sessions_per_second", completed / seconds, "sessions/s");
    row(`signing-${sessions}-per-side`, "completed", completed, "sessions");
    const gate = await gateCost(Math.min(bytes, 512 * 1024 * 1024));
    row("tls-engine-native", "cpu_s_per_gb", gate.native, "s/GB");
    row("tls-engine-gated", "cpu_s_per_gb", gate.gated, "s/GB");
    row("tls-engine-gated", "ratio_to_native", gate.gated / gate.native, "ratio");
    return rows;
  } finally {
    await system.stop();
  }
};
