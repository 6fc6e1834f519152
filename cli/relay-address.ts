import type { PartyConfig } from "../client/identity.ts";
import { formatHostPort, parseHostPort } from "../protocol/host-port.ts";
import { DEFAULT_CHANNEL, isValidName } from "../protocol/names.ts";
import { highestRandomWeight } from "../protocol/rendezvous.ts";
import { pairId } from "../protocol/ticket.ts";
import type { ApiClient } from "./api-client.ts";
import { UserError } from "./output.ts";

/**
 * The data plane a party dials directly (`RELAY`, as the original Flock relay's clients read
 * it): a `host:port` as given, a registered relay by name (its first host), or — with `pick` —
 * the live relay rendezvous hashing picks for the party's pair with `dest`. The pick is a read
 * of the relay list, not a ticket: a ticket would spend the party's rate-limit token and write
 * an audit row only to learn an address. Direct pairs never meet ticket pairs, so the worker's
 * pair assignments do not matter here; both sides get the same relay while the live set is
 * the same (docs/cli.md "Party commands").
 */
export async function relayAddress(
  relay: string | true,
  identity: PartyConfig,
  admin: () => Promise<ApiClient>,
): Promise<string> {
  if (relay === true) {
    const dest = identity.dest;
    if (dest === undefined) throw new UserError("Pass --dest: the relay is picked for a pair.");
    const live = (await (await admin()).listRelays()).filter((r) => r.live);
    const pair = await pairId(identity.user, identity.party, dest, DEFAULT_CHANNEL);
    return firstAddress(await highestRandomWeight(pair, live));
  }
  // Relay names have no colon.
  if (relay.includes(":")) return formatHostPort(parseHostPort(relay));
  if (!isValidName(relay)) throw new UserError(`--relay ${relay} is neither host:port nor a relay name.`);
  const found = (await (await admin()).listRelays()).find((r) => r.name === relay);
  if (!found)
    throw new UserError(`No relay named ${relay}; \`flock list relays\` shows the registered ones.`);
  return firstAddress(found);
}

function firstAddress(relay: { name: string; hosts: string[]; port: number }): string {
  const [host] = relay.hosts;
  if (host === undefined) throw new UserError(`Relay ${relay.name} has no address.`);
  return formatHostPort({ host, port: relay.port });
}
