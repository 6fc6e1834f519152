import { toBase64Url } from "../../protocol/encoding.ts";
import { TICKET_ALG, TICKET_TYPE, type TicketClaims } from "../../protocol/ticket.ts";

const encoder = new TextEncoder();

const segment = (value: unknown) => toBase64Url(encoder.encode(JSON.stringify(value)));

/**
 * The ticket as a compact JWS (RFC 7515 section 7.1) signed with the Ed25519 ticket key, in
 * one WebCrypto call. Not jose's SignJWT: it deep-copies (structuredClone) and re-validates
 * claims that issueTickets builds itself, on every ticket. Data planes still verify with jose,
 * which pins the algorithm and the type (dataplane/admission/ticket-verifier.ts).
 */
export async function signTicketJws(
  signing: { kid: string; key: CryptoKey },
  claims: TicketClaims,
): Promise<string> {
  const input = `${segment({ alg: TICKET_ALG, typ: TICKET_TYPE, kid: signing.kid })}.${segment(claims)}`;
  const signature = await crypto.subtle.sign(signing.key.algorithm, signing.key, encoder.encode(input));
  return `${input}.${toBase64Url(new Uint8Array(signature))}`;
}
