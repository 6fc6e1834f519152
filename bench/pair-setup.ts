/**
 * `npm run bench pair-setup`: the time from a party's first call to an open end-to-end channel
 * (ticket → dial → hello → paired → end-to-end mTLS → OPEN), both sides of a pair starting at
 * once on tcp, through the real data plane in a child process and the local worker; where the
 * time goes, per phase, and the CPU each process spent per pair; then an MPC party's tickets for
 * its 9 peers, one request against 9.
 *
 * Phases, per side, from the SDK's own events: `ticket` (call → ticket in hand: signing, HTTP,
 * the worker), `dial` (→ TCP connected), `paired` (→ PAIRED: MAGIC, challenge, hello, the
 * data plane's checks, and the wait for the other side), `secure` (→ channel open: end-to-end
 * TLS 1.3, verdicts, OPEN). `second_ticket` is when the later of the two sides had its ticket:
 * the worker serves both requests on one thread, so it bounds the pair; `after_second_ticket`
 * is the rest of the pair's setup, the part the SDK and the data plane decide. The end-to-end TLS and
 * the OPEN exchange are also timed alone, over one loopback TCP connection with no relay.
 *
 * Every row is also written, with the run's date and load, to FLOCK_BENCH_PAIR_SETUP_JSON
 * (default bench/results/pair-setup.json; docs/benchmarks.md "Pair setup").
 * FLOCK_BENCH_SETUPS (default 200 pairs), FLOCK_BENCH_TICKET_ROUNDS (default 200 per variant).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { percentile } from "../cli/commands/ping.ts";
import type { ConnectEvent } from "../client/connect.ts";
import { openChannel } from "../client/connect.ts";
import type { IdentityMaterials } from "../client/identity.ts";
import { createIdentity } from "../client/identity.ts";
import { securePeerChannel } from "../client/peer-tls.ts";
import { PEER_SETUP_SILENCE_MS, SetupSilence } from "../client/setup-silence.ts";
import { openSession } from "../client/stream/session-start.ts";
import { DEFAULT_WINDOW_BYTES } from "../client/stream/stream-limits.ts";
import { fetchTicket, fetchTickets } from "../client/ticket-client.ts";
import { pairId } from "../protocol/ticket.ts";
import { startSystem } from "../test/helpers/system.ts";
import { childrenCpuSeconds, ownCpuSeconds } from "./lib/child-cpu.ts";
import { envNumber } from "./lib/env.ts";
import type { Bench, BenchResult } from "./types.ts";

const BENCH = "pair-setup";
const USER = "bench";
/** N = 10 parties: each has 9 peers. */
const MPC_PEERS = 9;
const WARM_UP = 20;
const DEFAULT_JSON = fileURLToPath(new URL("./results/pair-setup.json", import.meta.url));

const PHASES = ["ticket", "dial", "paired", "secure"] as const;
type Phase = (typeof PHASES)[number];

interface SideTimes {
  phases: Record<Phase, number>;
  ticketAt: number;
}

/** One side's openChannel, its phase durations from the events it reports. */
async function timedSide(identity: IdentityMaterials, channel: string, started: number) {
  const at: Partial<Record<ConnectEvent["type"], number>> = {};
  const opened = await openChannel({
    identity,
    channel,
    onEvent: (event) => {
      at[event.type] ??= performance.now() - started;
    },
  });
  const done = performance.now() - started;
  const ticket = at.ticket ?? Number.NaN;
  const dialed = at.dialed ?? Number.NaN;
  const paired = at.paired ?? Number.NaN;
  const times: SideTimes = {
    phases: { ticket, dial: dialed - ticket, paired: paired - dialed, secure: done - paired },
    ticketAt: ticket,
  };
  return { opened, times };
}

interface Processes {
  clients: number;
  dataPlane: number;
  worker: number;
}

function processCpu(): Processes {
  return {
    clients: ownCpuSeconds(),
    dataPlane: childrenCpuSeconds("node"),
    worker: childrenCpuSeconds("workerd"),
  };
}

async function pairSetups(alice: IdentityMaterials, bob: IdentityMaterials, count: number) {
  const totals: number[] = [];
  const secondTicket: number[] = [];
  const phases = new Map<Phase, number[]>(PHASES.map((p) => [p, []]));
  const one = async (n: number) => {
    const started = performance.now();
    const [a, b] = await Promise.all([
      timedSide(alice, `setup-${n}`, started),
      timedSide(bob, `setup-${n}`, started),
    ]);
    const total = performance.now() - started;
    a.opened.socket.destroy();
    b.opened.socket.destroy();
    return { total, sides: [a.times, b.times] };
  };
  for (let n = 0; n < WARM_UP; n++) await one(-1 - n);
  const before = processCpu();
  for (let n = 0; n < count; n++) {
    const { total, sides } = await one(n);
    totals.push(total);
    secondTicket.push(Math.max(...sides.map((s) => s.ticketAt)));
    for (const side of sides) for (const p of PHASES) phases.get(p)?.push(side.phases[p]);
  }
  const after = processCpu();
  const cpuMs = (k: keyof Processes) => ((after[k] - before[k]) * 1000) / count;
  return {
    totals,
    secondTicket,
    phases,
    cpu: { clients: cpuMs("clients"), dataPlane: cpuMs("dataPlane"), worker: cpuMs("worker") },
  };
}

/** The end-to-end mTLS and the OPEN exchange alone: the same code over one TCP connection, no relay. */
async function directTlsAndOpen(alice: IdentityMaterials, bob: IdentityMaterials, count: number) {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const pair = await pairId(USER, "alice", "bob", "direct");
  const binding = (self: string, peer: string) => ({ pair, channel: "direct", self, peer });
  const own = { window: DEFAULT_WINDOW_BYTES, resume: true };
  const tls: number[] = [];
  const open: number[] = [];
  try {
    for (let n = 0; n < WARM_UP + count; n++) {
      const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
      const raw = netConnect(port, "127.0.0.1");
      raw.setNoDelay(true);
      const peer = await accepted;
      const started = performance.now();
      const [a, b] = await Promise.all([
        securePeerChannel(raw, "client", alice, { user: USER, party: "bob" }),
        securePeerChannel(peer, "server", bob, { user: USER, party: "alice" }),
      ]);
      const secured = performance.now();
      const silence = {
        a: new SetupSilence(() => a.socket.bytesRead, PEER_SETUP_SILENCE_MS),
        b: new SetupSilence(() => b.socket.bytesRead, PEER_SETUP_SILENCE_MS),
      };
      await Promise.all([
        openSession(a.socket, binding(`${USER}/alice`, `${USER}/bob`), own, silence.a),
        openSession(b.socket, binding(`${USER}/bob`, `${USER}/alice`), own, silence.b),
      ]);
      silence.a.stop();
      silence.b.stop();
      if (n >= WARM_UP) {
        tls.push(secured - started);
        open.push(performance.now() - secured);
      }
      a.socket.destroy();
      b.socket.destroy();
    }
  } finally {
    server.close();
  }
  return { tls, open };
}

/** Wall time and worker CPU per ticket for `rounds` runs of `call`, each getting `tickets` tickets. */
async function ticketRounds(rounds: number, tickets: number, call: () => Promise<unknown>) {
  for (let n = 0; n < WARM_UP; n++) await call();
  const times: number[] = [];
  const before = childrenCpuSeconds("workerd");
  for (let n = 0; n < rounds; n++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  const cpuMsPerTicket = ((childrenCpuSeconds("workerd") - before) * 1000) / rounds / tickets;
  return { times, cpuMsPerTicket };
}

export const run: Bench = async () => {
  const setups = envNumber("FLOCK_BENCH_SETUPS", 200);
  const ticketRuns = envNumber("FLOCK_BENCH_TICKET_ROUNDS", 200);
  const load = loadavg()[0] ?? 0;
  const system = await startSystem({ dataPlane: "child-process" });
  const rows: BenchResult[] = [];
  const row = (variant: string, metric: string, value: number, unit: string) =>
    rows.push({ bench: BENCH, variant, metric, value, unit });
  const spread = (variant: string, prefix: string, values: number[]) => {
    row(variant, `${prefix}p50_ms`, percentile(values, 50), "ms");
    row(variant, `${prefix}p99_ms`, percentile(values, 99), "ms");
  };
  try {
    await system.createUser(USER);
    const alice = await system.party(USER, "alice", "bob");
    const bob = await system.party(USER, "bob", "alice");
    const peers = Array.from({ length: MPC_PEERS }, (_, i) => `peer-${i}`);
    for (const peer of peers) await system.party(USER, peer);

    const setup = await pairSetups(alice, bob, setups);
    spread("tcp", "", setup.totals);
    spread("tcp", "second_ticket_", setup.secondTicket);
    spread(
      "tcp",
      "after_second_ticket_",
      setup.totals.map((total, i) => total - (setup.secondTicket[i] ?? Number.NaN)),
    );
    for (const [phase, values] of setup.phases)
      row("tcp", `phase_${phase}_p50_ms`, percentile(values, 50), "ms");
    row("tcp", "cpu_ms_clients", setup.cpu.clients, "ms per pair");
    row("tcp", "cpu_ms_data_plane", setup.cpu.dataPlane, "ms per pair");
    row("tcp", "cpu_ms_worker", setup.cpu.worker, "ms per pair");

    const direct = await directTlsAndOpen(alice, bob, setups);
    spread("e2e-tls-alone", "", direct.tls);
    spread("open-alone", "", direct.open);

    const signer = createIdentity(alice);
    const oneRequest = await ticketRounds(ticketRuns, MPC_PEERS, () =>
      fetchTickets(signer, { dests: peers }),
    );
    const perPeer = await ticketRounds(ticketRuns, MPC_PEERS, () =>
      Promise.all(peers.map((dest) => fetchTicket(signer, { dest }))),
    );
    for (const [variant, result] of [
      [`tickets-x${MPC_PEERS}-one-request`, oneRequest],
      [`tickets-x${MPC_PEERS}-${MPC_PEERS}-requests`, perPeer],
    ] as const) {
      spread(variant, "", result.times);
      row(variant, "cpu_ms_worker_per_ticket", result.cpuMsPerTicket, "ms");
    }
    row(
      `tickets-x${MPC_PEERS}-one-request`,
      "p50_ratio_to_separate_requests",
      percentile(oneRequest.times, 50) / percentile(perPeer.times, 50),
      "ratio",
    );
  } finally {
    await system.stop();
  }
  const jsonPath = process.env.FLOCK_BENCH_PAIR_SETUP_JSON ?? DEFAULT_JSON;
  mkdirSync(dirname(jsonPath), { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, load_average: load, setups };
  writeFileSync(jsonPath, `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
  process.stderr.write(`pair-setup: results in ${jsonPath}\n`);
  return rows;
};
