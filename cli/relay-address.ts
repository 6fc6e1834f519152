import type { PartyConfig } from "../client/identity.ts";
import { fetchTicket } from "../client/ticket-client.ts";
import { formatHostPort, parseHostPort } from "../protocol/host-port.ts";
import { DEFAULT_CHANNEL, isValidName } from "../protocol/names.ts";
import type { ApiClient } from "./api-client.ts";
import { UserError } from "./output.ts";

/**
 * The data plane a party dials directly (`RELAY`): a `host:port` as given, a registered
 * relay by name (its first host), or — with `pick` — the one the worker picks for the
 * party's pair with `dest`, by asking for a ticket as the party.
 */
export async function relayAddress(
  relay: string | true,
  identity: PartyConfig,
  admin: () => Promise<ApiClient>,
): Promise<string> {
  if (relay === true) {
    const dest = identity.dest;
    if (dest === undefined) throw new UserError("Pass --dest: the worker picks the data plane for a pair.");
    const ticket = await fetchTicket(identity, { dest, channel: DEFAULT_CHANNEL });
    const [host] = ticket.relay.hosts;
    if (host === undefined) throw new UserError(`Relay ${ticket.relay.name} has no address.`);
    return formatHostPort({ host, port: ticket.relay.port });
  }
  // Relay names have no colon.
  if (relay.includes(":")) return formatHostPort(parseHostPort(relay));
  if (!isValidName(relay)) throw new UserError(`--relay ${relay} is neither host:port nor a relay name.`);
  const found = (await (await admin()).listRelays()).find((r) => r.name === relay);
  const host = found?.hosts[0];
  if (!found || host === undefined) {
    throw new UserError(`No relay named ${relay}; \`flock list relays\` shows the registered ones.`);
  }
  return formatHostPort({ host, port: found.port });
}
