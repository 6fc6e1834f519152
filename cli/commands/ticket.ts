import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Command } from "commander";
import { decodeJwt, type JWTPayload } from "jose";
import type { TicketRequestBody, TicketResponse } from "../../protocol/api.ts";
import { certificateThumbprint } from "../../protocol/encoding.ts";
import { assertName, CHANNEL_PATTERN } from "../../protocol/names.ts";
import { signRequest } from "../../protocol/signed-request.ts";
import { TICKETS_PATH } from "../../protocol/wire.ts";
import { ApiClient } from "../api-client.ts";
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
 * Fetches a ticket exactly as a function would: no admin token, only a request signed with
 * the party's relay key, whose certificate thumbprint names the party to the worker.
 */
export async function fetchTicket(workerUrl: string, request: TicketRequest): Promise<FetchedTicket> {
  const paths = partyPaths(request.certsDir ?? certsRoot(), request.user, request.party);
  const howToCreate = `create the party with \`flock create party --user ${request.user} --name ${request.party}\`.`;
  const certPem = await readPemFile(paths.relayCert, howToCreate);
  const keyPem = await readPemFile(paths.relayKey, howToCreate);
  const key = createPrivateKey(keyPem);
  const alg = key.asymmetricKeyType === "rsa" ? "RS256" : "ES256";
  const kid = await certificateThumbprint(new Uint8Array(new X509Certificate(certPem).raw));
  const body: TicketRequestBody = { dest: assertName(request.dest, "destination party") };
  if (request.channel !== undefined) {
    if (!CHANNEL_PATTERN.test(request.channel)) {
      throw new UserError("--channel must be 1-64 characters of letters, digits, '.', '-' and '_'.");
    }
    body.channel = request.channel;
  }
  const jws = await signRequest(key, alg, kid, "POST", TICKETS_PATH, body);
  const response = await new ApiClient({ url: workerUrl }).requestTicket(jws);
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
