import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ConnectEvent, StreamOptions } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import type { FlockError } from "../../protocol/errors.ts";
import type { Attack, AttackerProxy } from "../helpers/attacker-proxy.ts";
import { startAttackerProxy } from "../helpers/attacker-proxy.ts";
import { sha256 } from "../helpers/stream-digest.ts";
import { useDataPlaneProxy, useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * A relay-side attacker between bob (the receiver) and the data plane cuts bob's connection
 * the ways a relay can: a FIN at a TLS record boundary (which Node's TLS alone takes for a
 * clean end), a FIN mid-record, a FIN right after the end-to-end handshake, a reset, one
 * direction dropped. Every case ends byte-exact (resumed) or with STREAM_TRUNCATED at bob,
 * never with a short clean end. A relay that pairs and then forwards nothing, while the
 * connection is set up or resumed, costs an attempt of the setup's silence bound, not the deadline.
 */
const PAYLOAD_BYTES = 4 * 1024 * 1024;
/** About a quarter of the payload in 16 KiB records: the cut lands mid-stream. */
const MID_STREAM_RECORDS = 64;
/** ClientHello, ChangeCipherSpec and alice's encrypted handshake flight: then bob's TLS is up. */
const HANDSHAKE_RECORDS = 3;
/**
 * Short, so a dropped direction is noticed in a second rather than PEER_SILENCE_TIMEOUT_MS, and
 * a side left in doubt by a cut as the session opens starts over after 2 s rather than 10.
 */
const fastStream: StreamOptions = {
  heartbeatMs: 200,
  silenceMs: 1_000,
  resumeDeadlineMs: 15_000,
  openResumeMs: 2_000,
};
/** Short, so a stalled setup is dropped in two seconds rather than PEER_SETUP_SILENCE_MS. */
const SETUP_SILENCE_MS = 2_000;

const fx = useSystemWithPair();
const proxy = useDataPlaneProxy<AttackerProxy>(fx);
let channels = 0;

interface Received {
  sha256: string;
  bytes: number;
  ended: boolean;
  error: FlockError | undefined;
}

/** Alice sends the payload and ends; bob reads to the end (or an error) and ends his side. */
async function transfer(
  attacks: Attack[],
  stream: StreamOptions,
): Promise<{ sent: string; atBob: Received; events: ConnectEvent[] }> {
  proxy.current = await startAttackerProxy(proxy.dataPlane(), { attacks, dest: "alice" });
  const channel = `attack-${++channels}`;
  const events: ConnectEvent[] = [];
  const open = (identity: IdentityMaterials) =>
    openChannel({
      identity,
      channel,
      relay: `127.0.0.1:${proxy.current?.port}`,
      deadlineMs: 20_000,
      setupSilenceMs: SETUP_SILENCE_MS,
      stream,
      onEvent: (e) => events.push(e),
    });
  const [toBob, toAlice] = await Promise.all([open(fx.alice), open(fx.bob)]);
  fx.sockets.push(toBob.socket, toAlice.socket);
  for (const c of [toBob, toAlice]) c.socket.on("error", () => {});
  const payload = randomBytes(PAYLOAD_BYTES);
  const atBob = new Promise<Received>((resolve) => {
    const hash = createHash("sha256");
    let bytes = 0;
    let ended = false;
    toAlice.socket.on("data", (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    toAlice.socket.once("end", () => {
      ended = true;
      toAlice.socket.end();
    });
    let error: FlockError | undefined;
    toAlice.socket.once("error", (e) => {
      error = e as FlockError;
    });
    toAlice.socket.once("close", () => resolve({ sha256: hash.digest("hex"), bytes, ended, error }));
  });
  toBob.socket.resume();
  toBob.socket.end(payload);
  return { sent: sha256(payload), atBob: await atBob, events };
}

const attacks: [string, Attack][] = [
  ["a FIN at a TLS record boundary", { kind: "fin-at-boundary", records: MID_STREAM_RECORDS }],
  ["a FIN in the middle of a record", { kind: "fin-mid-record", records: MID_STREAM_RECORDS }],
  ["a FIN right after the end-to-end handshake", { kind: "fin-at-boundary", records: HANDSHAKE_RECORDS }],
  ["a reset", { kind: "reset", records: MID_STREAM_RECORDS }],
  ["one direction dropped (a dead path)", { kind: "drop", records: MID_STREAM_RECORDS }],
];

describe.each(attacks)("%s towards the receiver", (_name, attack) => {
  it("heals: the receiver gets every byte and a clean end", async () => {
    const { sent, atBob, events } = await transfer([attack], fastStream);
    expect(proxy.current?.attacked).toBe(1);
    expect(atBob).toEqual({ sha256: sent, bytes: PAYLOAD_BYTES, ended: true, error: undefined });
    // Healed by a resume once the session was open, or by a retried connect before that.
    expect(events.some((e) => e.type === "resumed" || e.type === "retry")).toBe(true);
  });

  it("without resume: the receiver gets STREAM_TRUNCATED with its byte count, or (cut before the session opened) everything", async () => {
    const { sent, atBob, events } = await transfer([attack], { ...fastStream, resume: false });
    expect(proxy.current?.attacked).toBe(1);
    if (atBob.ended && atBob.error === undefined) {
      expect(atBob).toMatchObject({ sha256: sent, bytes: PAYLOAD_BYTES });
      // The cut did land, before the session opened, and a new attempt carried the stream.
      expect(events.some((e) => e.type === "resumed" || e.type === "retry")).toBe(true);
      return;
    }
    expect(atBob.ended).toBe(false);
    expect(atBob.bytes).toBeLessThan(PAYLOAD_BYTES);
    expect(atBob.error?.code).toBe("STREAM_TRUNCATED");
    expect(atBob.error?.message).toContain(
      `${atBob.bytes} bytes from the peer arrived without its end-of-stream frame`,
    );
  });
});

const silentFor = (events: ConnectEvent[]) =>
  events.filter((e) => e.type === "retry" && e.error.code === "PEER_SILENT").length;

describe("a relay that pairs, then forwards nothing while the connection is set up", () => {
  it.each([
    ["in the end-to-end TLS handshake", { kind: "drop", records: 0 }],
    ["after the handshake, during the verdicts", { kind: "drop", records: HANDSHAKE_RECORDS }],
  ] as [
    string,
    Attack,
  ][])("%s: the attempt is dropped with PEER_SILENT and retried, byte-exact", async (_name, attack) => {
    const { sent, atBob, events } = await transfer([attack], fastStream);
    expect(proxy.current?.attacked).toBe(1);
    expect(atBob).toEqual({ sha256: sent, bytes: PAYLOAD_BYTES, ended: true, error: undefined });
    expect(silentFor(events)).toBeGreaterThan(0);
  });

  it("in a resume attempt: that attempt is dropped with PEER_SILENT, and the next one heals the stream", async () => {
    const { sent, atBob, events } = await transfer(
      [
        { kind: "drop", records: MID_STREAM_RECORDS },
        { kind: "drop", records: 0 },
      ],
      fastStream,
    );
    expect(proxy.current?.attacked).toBe(2);
    expect(atBob).toEqual({ sha256: sent, bytes: PAYLOAD_BYTES, ended: true, error: undefined });
    const afterBreak = events.slice(events.findIndex((e) => e.type === "broken"));
    expect(silentFor(afterBreak)).toBeGreaterThan(0);
    expect(afterBreak.some((e) => e.type === "resumed")).toBe(true);
  });
});
