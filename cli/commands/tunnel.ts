import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { formatHostPort, type HostPort, parseHostPort } from "../../protocol/host-port.ts";
import { CHANNEL_PATTERN } from "../../protocol/names.ts";
import { EXIT_USAGE, reportError, UserError } from "../output.ts";
import { startForwardTunnel } from "../tunnel/forward-side.ts";
import { startListenTunnel } from "../tunnel/listen-side.ts";
import type { Tunnel, TunnelOptions } from "../tunnel/tunnel-stream.ts";
import { DEFAULT_TUNNEL_CHANNEL, MAX_TUNNEL_CHANNEL_LENGTH } from "../tunnel/tunnel-stream.ts";
import type { PartyCommandFlags } from "./connect.ts";
import { withChannelOptions } from "./connect.ts";
import { identityFromFlagsOrEnv } from "./env.ts";

interface TunnelFlags extends PartyCommandFlags {
  listen?: HostPort;
  forward?: HostPort;
  debug?: boolean;
}

/** `host:port` or `[v6]:port`; port 0 (any free port) only where a socket listens. */
function addressParser(anyPort: boolean): (value: string) => HostPort {
  return (value) => {
    try {
      return parseHostPort(value, { anyPort });
    } catch {
      throw new InvalidArgumentError(`expected HOST:PORT${anyPort ? " (port 0: any free port)" : ""}.`);
    }
  };
}

/** Checked flags and identity → what both tunnel ends need. */
export async function tunnelOptions(flags: TunnelFlags): Promise<TunnelOptions> {
  if (Boolean(flags.listen) === Boolean(flags.forward)) {
    throw new UserError("Pass one of --listen HOST:PORT or --forward HOST:PORT.", EXIT_USAGE);
  }
  const channel = flags.channel ?? DEFAULT_TUNNEL_CHANNEL;
  if (!CHANNEL_PATTERN.test(channel) || channel.length > MAX_TUNNEL_CHANNEL_LENGTH) {
    throw new UserError(
      `--channel must be 1-${MAX_TUNNEL_CHANNEL_LENGTH} letters, digits, '.', '-' or '_' (each stream adds 13 characters).`,
      EXIT_USAGE,
    );
  }
  const identity = await identityFromFlagsOrEnv(flags);
  const dest = flags.dest ?? identity.dest;
  if (!dest) throw new UserError("No peer party: pass --dest or set DEST.", EXIT_USAGE);
  return {
    identity,
    dest,
    channel,
    transport: flags.transport,
    deadlineMs: flags.timeout,
    setupSilenceMs: flags.setupSilence,
    resumeDeadlineMs: flags.resumeDeadline,
    ...(flags.relay ? { relay: flags.relay } : {}),
    log: flags.quiet ? () => {} : (line) => process.stderr.write(`flock: ${line}\n`),
  };
}

/** Resolves on SIGINT or SIGTERM. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve(signal));
  });
}

export function registerTunnelCommand(program: Command): void {
  withChannelOptions(
    program
      .command("tunnel")
      .description(
        "carry TCP connections to a peer party: --listen turns each local connection into its own end-to-end stream, --forward connects the peer's streams to a local service",
      )
      .option(
        "--listen <host:port>",
        "accept local connections here (port 0: any free port)",
        addressParser(true),
      )
      .option(
        "--forward <host:port>",
        "connect each stream from the peer to this address",
        addressParser(false),
      ),
  ).action(async (flags: TunnelFlags, command: Command) => {
    const options = await tunnelOptions(flags);
    // stdout carries one line once the tunnel runs (with the port, when 0 was asked for);
    // status lines go to stderr.
    let tunnel: Tunnel;
    if (flags.listen) {
      const listening = await startListenTunnel(options, flags.listen);
      tunnel = listening;
      process.stdout.write(
        `listening on ${formatHostPort({ host: listening.address.address, port: listening.address.port })}\n`,
      );
    } else {
      const target = flags.forward as HostPort;
      tunnel = startForwardTunnel(options, target);
      process.stdout.write(`forwarding to ${formatHostPort(target)}\n`);
    }
    // Streams still opening hold timers until their deadline, so the process exits explicitly.
    try {
      const signal = await Promise.race([stopSignal(), tunnel.failed]);
      options.log(`${signal}: stopping`);
      await tunnel.stop();
      process.exit(0);
    } catch (error) {
      await tunnel.stop();
      process.exit(reportError(error, Boolean(command.optsWithGlobals().debug)));
    }
  });
}
