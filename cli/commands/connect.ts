import type { Readable, Writable } from "node:stream";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import type { Channel, ConnectEvent, ConnectOptions } from "../../client/connect.ts";
import { DEFAULT_CONNECT_DEADLINE_MS, openChannel } from "../../client/connect.ts";
import type { Transport } from "../../client/dial.ts";
import { DEFAULT_TRANSPORT, isTransport, TRANSPORTS } from "../../client/dial.ts";
import type { PartyConfig } from "../../client/identity.ts";
import { PEER_SETUP_SILENCE_MS } from "../../client/setup-silence.ts";
import { DEFAULT_RESUME_DEADLINE_MS } from "../../client/stream/stream-limits.ts";
import { FlockError } from "../../protocol/errors.ts";
import { integerIn } from "../command-group.ts";
import type { IdentityFlags } from "./env.ts";
import { identityFromFlagsOrEnv } from "./env.ts";

/** The longest wait a flag in milliseconds may set: a day. */
const MAX_FLAG_MS = 24 * 3_600_000;

export interface PartyCommandFlags extends IdentityFlags {
  dest?: string;
  channel?: string;
  transport: Transport;
  timeout: number;
  setupSilence: number;
  relay?: string;
  resumeDeadline: number;
  quiet?: boolean;
}

/** Options shared by the party commands that open a channel (`connect`, `ping`). */
export function withChannelOptions(command: Command): Command {
  return command
    .option("--dest <party>", "the peer party (default: $DEST)")
    .option("--channel <channel>", "separates several pairs between the same two parties")
    .option(
      `--transport <${TRANSPORTS.join("|")}>`,
      "how to reach the data plane",
      parseTransport,
      DEFAULT_TRANSPORT,
    )
    .option("--user <user>", "use certs/<user>/<party>/ instead of the environment")
    .option("--party <party>", "use certs/<user>/<party>/ instead of the environment")
    .option("--url <url>", "worker URL (default: $FLOCK_URL or .flock/config.json)")
    .option(
      "--timeout <ms>",
      "give up if no channel is up within this many ms",
      integerIn(1, MAX_FLAG_MS),
      DEFAULT_CONNECT_DEADLINE_MS,
    )
    .option(
      "--setup-silence <ms>",
      "drop and retry an attempt (PEER_SILENT) when the peer side sends nothing this long while the channel is set up",
      integerIn(1, MAX_FLAG_MS),
      PEER_SETUP_SILENCE_MS,
    )
    .option("--relay <host:port>", "direct mode: dial this data plane without a ticket (channel = tag)")
    .option(
      "--resume-deadline <ms>",
      "a broken channel that is not resumed within this many ms fails (STREAM_TRUNCATED, exit 3)",
      integerIn(1, MAX_FLAG_MS),
      DEFAULT_RESUME_DEADLINE_MS,
    )
    .option("--quiet", "no status lines on stderr");
}

function parseTransport(value: string): Transport {
  if (!isTransport(value)) throw new InvalidArgumentError(`expected one of ${TRANSPORTS.join(", ")}.`);
  return value;
}

/** Status lines go to stderr so stdout carries only the peer's bytes. */
export function statusPrinter(quiet: boolean | undefined): (event: ConnectEvent) => void {
  if (quiet) return () => {};
  return (event) => process.stderr.write(`flock: ${statusLine(event)}\n`);
}

function statusLine(event: ConnectEvent): string {
  switch (event.type) {
    case "ticket":
      return `ticket for data plane ${event.relay} (role ${event.role})`;
    case "dialed":
      return `dialled ${event.host}:${event.port} over ${event.transport}`;
    case "waiting":
      return "waiting for the peer";
    case "paired":
      return `paired with ${event.peer}`;
    case "revocations-unavailable":
      return `${event.error.code}: ${event.error.message} — ${event.fetchedAt ? `checking the peer against the revocation list fetched at ${event.fetchedAt}` : "the peer is not checked against a revocation list"}`;
    case "retry":
      return `${event.error.code}: ${event.error.message} — retrying in ${event.delayMs} ms`;
    case "broken":
      return `the channel broke (${event.reason}); resuming`;
    case "resumed":
      return `resumed after ${event.afterMs} ms, ${event.resent} bytes sent again`;
  }
}

/** What `connect` and `ping` ask of openChannel, from their flags. */
export function connectOptionsOf(flags: PartyCommandFlags, identity: PartyConfig): ConnectOptions {
  return {
    identity,
    transport: flags.transport,
    deadlineMs: flags.timeout,
    setupSilenceMs: flags.setupSilence,
    stream: { resumeDeadlineMs: flags.resumeDeadline },
    onEvent: statusPrinter(flags.quiet),
    ...(flags.dest ? { dest: flags.dest } : {}),
    ...(flags.channel ? { channel: flags.channel } : {}),
    ...(flags.relay ? { relay: flags.relay } : {}),
  };
}

export async function openChannelFromFlags(flags: PartyCommandFlags): Promise<Channel> {
  const channel = await openChannel(connectOptionsOf(flags, await identityFromFlagsOrEnv(flags)));
  if (!flags.quiet) {
    process.stderr.write(
      `flock: connected to ${channel.peer} through ${channel.relay} (${channel.transport})\n`,
    );
  }
  return channel;
}

/**
 * Copies `input` to the peer and the peer to `output` until both directions are done.
 * The end of `input` becomes a half-close, so the peer can still answer; `output` is not
 * ended (it is stdout) but flushed before this resolves.
 */
export function relayStdio(channel: Channel, input: Readable, output: Writable): Promise<void> {
  const { socket } = channel;
  return new Promise((resolve, reject) => {
    let failed = false;
    socket.once("error", (error) => {
      failed = true;
      reject(
        error instanceof FlockError
          ? error
          : new FlockError("PEER_CLOSED", `The channel to ${channel.peer} failed: ${error.message}.`),
      );
    });
    // The stream closes once both directions have ended (and, framed, the peer confirmed it
    // has everything); only then is the copy complete.
    socket.once("close", () => {
      if (!failed) output.write("", () => resolve());
    });
    input.pipe(socket);
    socket.pipe(output, { end: false });
  });
}

export function registerConnectCommand(program: Command): void {
  withChannelOptions(
    program
      .command("connect")
      .description(
        "open an end-to-end mTLS channel to a peer party: stdin goes to it, its bytes come out on stdout",
      ),
  ).action(async (flags: PartyCommandFlags) => {
    const channel = await openChannelFromFlags(flags);
    await relayStdio(channel, process.stdin, process.stdout);
  });
}
