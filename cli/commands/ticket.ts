import type { Command } from "commander";
import { decodeJwt, type JWTPayload } from "jose";
import { fetchTicket as requestTicket } from "../../client/ticket-client.ts";
import type { TicketRequestBody, TicketResponse } from "../../protocol/api.ts";
import { assertName, CHANNEL_PATTERN } from "../../protocol/names.ts";
import { certsRoot, partyPaths, readPemFile } from "../certs/layout.ts";
import { resolveWorkerUrl } from "../config.ts";
import { printJson, UserError } from "../output.ts";

export interface TicketRequest {
  user: string;
  party: string;
  dest: string;
  channel?: string;
  /** The `certs/` directory; defaults to `certs/` under the working directory. */
  certsDir?: string;
}

export interface FetchedTicket {
  response: TicketResponse;
  claims: JWTPayload;
}

/**
 * Fetches a ticket exactly as a function would (the SDK's own request): no admin token, only
 * a request signed with the party's relay key, whose certificate thumbprint names the party.
 */
export async function fetchTicket(workerUrl: string, request: TicketRequest): Promise<FetchedTicket> {
  const paths = partyPaths(request.certsDir ?? certsRoot(), request.user, request.party);
  const howToCreate = `create the party with \`flock create party --user ${request.user} --name ${request.party}\`.`;
  const relayCert = await readPemFile(paths.relayCert, howToCreate);
  const relayKey = await readPemFile(paths.relayKey, howToCreate);
  const body: TicketRequestBody = { dest: assertName(request.dest, "destination party") };
  if (request.channel !== undefined) {
    if (!CHANNEL_PATTERN.test(request.channel)) {
      throw new UserError("--channel must be 1-64 characters of letters, digits, '.', '-' and '_'.");
    }
    body.channel = request.channel;
  }
  const response = await requestTicket({ url: workerUrl, relayCert, relayKey }, body);
  return { response, claims: decodeJwt(response.ticket) };
}

function printTicket({ response, claims }: FetchedTicket): void {
  const relay = response.relay;
  const lines: Array<[string, string]> = [
    ["peer", response.peer],
    ["role", response.role],
    ["pair", response.pair],
    ["relay", `${relay.name} at ${relay.hosts.join(",")}:${relay.port}`],
    ["expires", response.expiresAt],
  ];
  for (const [label, value] of lines) process.stdout.write(`${label.padEnd(8)} ${value}\n`);
  process.stdout.write(`claims   ${JSON.stringify(claims, null, 2).replace(/\n/g, "\n         ")}\n`);
  process.stdout.write(`ticket   ${response.ticket}\n`);
}

export function registerTicketCommand(program: Command): void {
  program
    .command("ticket")
    .description("fetch a ticket as a function would, signed with certs/<user>/<party>/relay-key.pem")
    .requiredOption("--user <user>", "the party's user")
    .requiredOption("--party <party>", "the party asking")
    .requiredOption("--dest <party>", "the party to pair with")
    .option("--channel <channel>", "separates several pairs between the same two parties")
    .option("--url <url>", "worker URL (default: $FLOCK_URL or .flock/config.json)")
    .option("--json", "print the raw ticket response")
    .action(async (flags: TicketRequest & { url?: string; json?: boolean }) => {
      const fetched = await fetchTicket(await resolveWorkerUrl({ url: flags.url }), flags);
      if (flags.json) printJson(fetched.response);
      else printTicket(fetched);
    });
}
