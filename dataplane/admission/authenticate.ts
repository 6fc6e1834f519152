import { createHash } from "node:crypto";
import { FlockError } from "../../protocol/errors.ts";
import type { ClientFrame, DirectHelloFrame, TicketHelloFrame } from "../../protocol/frames.ts";
import { CHANNEL_PATTERN, isValidName } from "../../protocol/names.ts";
import type { Role } from "../../protocol/ticket.ts";
import { pairId, partyRef, roleFor, splitPartyRef } from "../../protocol/ticket.ts";
import type { Revocations } from "../worker-link/revocations.ts";
import type { ProofOffer, RelayCertificateChecker, RelayPartyIdentity } from "./party-proof.ts";
import type { TicketVerifier } from "./ticket-verifier.ts";

/** Who a side proved to be and whom it wants: what pairing needs, and what revocation names. */
export interface AuthenticatedParty {
  mode: "ticket" | "direct";
  pair: string;
  self: string;
  peer: string;
  user: string;
  role: Role;
  /** x5t#S256 of the relay certificate it proved: a later revocation names it. */
  thumbprint: string;
}

export interface Authority {
  checker: RelayCertificateChecker;
  tickets: TicketVerifier;
  revocations: Revocations;
}

/** Proof material that comes from the transport rather than from the hello. */
export type TransportProof = Pick<ProofOffer, "tlsCertificate" | "nonce">;

export function authenticate(
  hello: ClientFrame,
  proof: TransportProof,
  authority: Authority,
): Promise<AuthenticatedParty> {
  return hello.type === "hello" ? admitTicket(hello, proof, authority) : admitDirect(hello, proof, authority);
}

const userOf = (ref: string) => splitPartyRef(ref)?.user;

/**
 * Ticket mode: the ticket says who may pair with whom; the proof says the presenter is
 * the party the ticket was issued to (its cnf names the relay certificate).
 */
async function admitTicket(
  hello: TicketHelloFrame,
  proof: TransportProof,
  authority: Authority,
): Promise<AuthenticatedParty> {
  const claims = await authority.tickets.verify(hello.ticket);
  // node:crypto in this turn: WebCrypto's digest is a thread-pool job and a turn of the loop per hello.
  const binding = createHash("sha256").update(hello.ticket).digest("base64url");
  const identity = authority.checker.prove({ ...proof, cert: hello.cert, sig: hello.sig, binding });
  if (identity.thumbprint !== claims.cnf["x5t#S256"] || identity.ref !== claims.sub) {
    throw new FlockError("PROOF_INVALID", "The ticket was issued for another relay certificate.");
  }
  const user = userOf(claims.sub);
  if (user === undefined || user !== userOf(claims.peer)) throw new FlockError("CROSS_USER");
  if (authority.revocations.has(identity.thumbprint)) throw new FlockError("PARTY_REVOKED");
  authority.tickets.consume(claims);
  return {
    mode: "ticket",
    pair: claims.pair,
    self: claims.sub,
    peer: claims.peer,
    user,
    role: claims.role,
    thumbprint: identity.thumbprint,
  };
}

/**
 * Seed-compatible direct mode: no ticket; the relay certificate names the party, `dest`
 * names the peer (a party of the same user, or `user/party`) and `tag` tells pairs apart.
 */
function admitDirect(
  hello: DirectHelloFrame,
  proof: TransportProof,
  authority: Authority,
): Promise<AuthenticatedParty> {
  return directParty(hello, authority, () =>
    authority.checker.prove({
      ...proof,
      cert: hello.cert,
      sig: hello.sig,
      binding: `direct:${hello.dest}:${hello.tag}`,
    }),
  );
}

/**
 * Direct mode on either wire form, Flock's frame or the original relay's AuthReq: checks
 * the request, then `prove` says who asks, then the pair is theirs. The pair id depends on
 * the user, both parties and the tag only, so both forms meet in one pair.
 */
export async function directParty(
  request: { dest: string; tag: string },
  authority: Authority,
  prove: () => RelayPartyIdentity,
): Promise<AuthenticatedParty> {
  // No ticket vouches for the party here, so an empty list after a restart must not admit it.
  if (!authority.revocations.known) throw new FlockError("REVOCATIONS_UNKNOWN");
  const dest = request.dest.includes("/")
    ? splitPartyRef(request.dest)
    : { user: undefined, party: request.dest };
  if (!dest || !isValidName(dest.party) || (dest.user !== undefined && !isValidName(dest.user))) {
    throw new FlockError("BAD_FRAME", "direct.dest must be a party name or user/party.");
  }
  if (!CHANNEL_PATTERN.test(request.tag))
    throw new FlockError("BAD_FRAME", "direct.tag must match [A-Za-z0-9_.-]{1,64}.");
  const identity = prove();
  if (dest.user !== undefined && dest.user !== identity.user) throw new FlockError("CROSS_USER");
  if (dest.party === identity.party) throw new FlockError("SAME_PARTY");
  if (authority.revocations.has(identity.thumbprint)) throw new FlockError("PARTY_REVOKED");
  const peer = partyRef(identity.user, dest.party);
  // Prefixed so a direct pair never meets a ticket pair of the same parties and channel.
  const pair = `direct-${await pairId(identity.user, identity.party, dest.party, request.tag)}`;
  return {
    mode: "direct",
    pair,
    self: identity.ref,
    peer,
    user: identity.user,
    role: roleFor(identity.ref, peer),
    thumbprint: identity.thumbprint,
  };
}
