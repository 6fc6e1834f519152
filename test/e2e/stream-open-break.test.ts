import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ConnectEvent, StreamOptions } from "../../client/connect.ts";
import { openChannel } from "../../client/connect.ts";
import type { IdentityMaterials } from "../../client/identity.ts";
import { encodeControl } from "../../client/stream/control-frames.ts";
import { DEFAULT_WINDOW_BYTES } from "../../client/stream/stream-limits.ts";
import { pairId } from "../../protocol/ticket.ts";
import type { OpenCut, OpenCutProxy } from "../helpers/open-cut-proxy.ts";
import { startOpenCutProxy } from "../helpers/open-cut-proxy.ts";
import { digestToEnd, sha256 } from "../helpers/stream-digest.ts";
import { useDataPlaneProxy, useSystemWithPair } from "../helpers/system-suite.ts";

/**
 * A transport break at each point of the opening of a version-2 stream, between alice (the
 * end-to-end TLS client, whose connection the proxy cuts) and bob: before either verdict
 * (alice's OPEN left with hers), after one side's OPEN left but before the peer even had the verdict, after both OPENs left
 * and neither arrived, after one arrived, after both. Whatever the point, both sides meet
 * again (on the session's resume channel or the pair's own) and the bytes of both
 * directions arrive exactly once, with no CONNECT_TIMEOUT on the way (docs/stream.md "Resume").
 * The same points as a dead path (nothing more gets through, no FIN), which the setup's silence
 * bound ends before the OPENs have crossed, and the stream's own silence after.
 */
const PAYLOAD_BYTES = 256 * 1024;
const stream: StreamOptions = { resumeDeadlineMs: 15_000, openResumeMs: 2_000 };
/** Short, so a dead path is noticed in two seconds rather than PEER_SETUP_SILENCE_MS; a cut with a FIN never waits for it. */
const SETUP_SILENCE_MS = 2_000;

const fx = useSystemWithPair();
const proxy = useDataPlaneProxy<OpenCutProxy>(fx);
let channels = 0;

interface Side {
  sent: string;
  got: string;
  events: ConnectEvent[];
}

/** Each side writes its payload as soon as its own channel is open and reads the peer's to the end. */
async function exchange(
  cut: OpenCut,
  options: StreamOptions = stream,
): Promise<{ alice: Side; bob: Side; channel: string }> {
  const channel = `open-break-${++channels}`;
  proxy.current = await startOpenCutProxy(proxy.dataPlane(), {
    dest: "bob",
    cut,
    openBytes: await openFrameBytes(channel),
  });
  const side = async (identity: IdentityMaterials): Promise<Side> => {
    const events: ConnectEvent[] = [];
    const c = await openChannel({
      identity,
      channel,
      relay: `127.0.0.1:${proxy.current?.port}`,
      deadlineMs: 20_000,
      setupSilenceMs: SETUP_SILENCE_MS,
      stream: options,
      onEvent: (e) => events.push(e),
    });
    fx.sockets.push(c.socket);
    const payload = randomBytes(PAYLOAD_BYTES);
    const got = digestToEnd(c.socket);
    c.socket.end(payload);
    return { sent: sha256(payload), got: await got, events };
  };
  const [a, b] = await Promise.all([side(fx.alice), side(fx.bob)]);
  return { alice: a, bob: b, channel };
}

/** What the proxy knows an OPEN frame of this channel by: its length. */
async function openFrameBytes(channel: string): Promise<number> {
  const frame = encodeControl({
    type: "open",
    pair: await pairId("acme", "alice", "bob", channel),
    channel,
    from: "acme/alice",
    to: "acme/bob",
    window: DEFAULT_WINDOW_BYTES,
    resume: true,
  });
  return frame.length;
}

const resumed = (s: Side) => s.events.filter((e) => e.type === "resumed").length;

/** Cuts as told, checks the proxy saw the opening go as planned, and that both directions arrived whole. */
async function expectMeeting(
  cut: OpenCut,
  reached: Partial<OpenCutProxy["reached"]>,
  resumes: [number, number],
  options: StreamOptions = stream,
): Promise<void> {
  const run = await exchange(cut, options);
  expect(proxy.current?.cut).toBe(true);
  expect(proxy.current?.reached).toMatchObject(reached);
  expect(run.alice.got).toBe(run.bob.sent);
  expect(run.bob.got).toBe(run.alice.sent);
  expect([resumed(run.alice), resumed(run.bob)]).toEqual(resumes);
}

/** Where the proxy cuts, the milestones it must have seen (see open-cut-proxy.ts), and how many `resumed` events each side has. */
const interleavings: [string, OpenCut, Partial<OpenCutProxy["reached"]>, [number, number]][] = [
  // Alice, the TLS client, sends her OPEN right behind her verdict (docs/stream.md "Binding:
  // OPEN"), so she is in doubt and looks on the resume channel; bob never had her verdict and
  // sent no OPEN: both start over.
  [
    "before either verdict",
    { up: { pass: 0, await: 2 }, down: { pass: 0, await: 1 } },
    { up: 2, down: 1 },
    [0, 0],
  ],
  // Alice is in doubt and looks on the resume channel; bob never sent an OPEN: both start over.
  [
    "after alice's OPEN left, before bob had her verdict",
    { up: { pass: 0, await: 2 }, down: { pass: 1, await: 1 } },
    { up: 2, down: 1 },
    [0, 0],
  ],
  // Bob had alice's verdict, not her OPEN, and sent his; alice's went out with her verdict:
  // both in doubt, though alice never had bob's verdict, so they meet on the resume channel.
  [
    "after bob's OPEN left, before alice had his verdict",
    { up: { pass: 1, await: 2 }, down: { pass: 0, await: 2 } },
    { up: 2, down: 2 },
    [1, 1],
  ],
  // Both in doubt: they meet on the resume channel and resume from 0.
  [
    "after both OPENs left and neither arrived",
    { up: { pass: 1, await: 2 }, down: { pass: 1, await: 2 } },
    { up: 2, down: 2 },
    [1, 1],
  ],
  // Alice has the session open (and may send DATA at once); bob is in doubt and meets her.
  [
    "after only alice received the peer's OPEN",
    { up: { pass: 1, await: 2 }, down: { pass: 2, await: 2 } },
    { down: 2 },
    [1, 1],
  ],
  // Bob has it open (his first DATA frame says so); alice is in doubt and meets him.
  [
    "after only bob received the peer's OPEN",
    { up: { pass: 2, await: 2 }, down: { pass: 1, await: 3 } },
    { up: 2, down: 3 },
    [1, 1],
  ],
  [
    "after both OPENs arrived",
    { up: { pass: 2, await: 3 }, down: { pass: 2, await: 3 } },
    { up: 3, down: 3 },
    [1, 1],
  ],
];

describe("a break while a version-2 stream opens", () => {
  it.each(
    interleavings,
  )("%s: both sides meet again, every byte arrives once", async (_name, cut, reached, resumes) => {
    await expectMeeting(cut, reached, resumes);
  });
});

/** Short, so a dead path after the opening is noticed in a second. */
const deadPathStream: StreamOptions = { ...stream, heartbeatMs: 200, silenceMs: 1_000 };

describe("a dead path while a version-2 stream opens (nothing more gets through, no FIN)", () => {
  it.each(
    interleavings,
  )("%s: both notice, meet again, every byte arrives once", async (_name, cut, reached, resumes) => {
    await expectMeeting({ ...cut, silent: true }, reached, resumes, deadPathStream);
  });
});
