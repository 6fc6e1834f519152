import { createHmac, timingSafeEqual } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { Role } from "../../protocol/ticket.ts";

/**
 * Secrets of one stream session, from the first end-to-end TLS handshake (RFC 8446 section
 * 7.5 exporters): both sides compute the same values, and the relay, which holds no key of
 * that TLS, cannot. A resumed transport proves it belongs to the session with them.
 */
const SESSION_EXPORTER_LABEL = "EXPORTER-flock-stream-v2";
/** Each resumed transport has its own exporter value, so a proof is good on that transport only. */
const RESUME_EXPORTER_LABEL = "EXPORTER-flock-resume-v2";
const EXPORTER_BYTES = 32;
const NO_CONTEXT = Buffer.alloc(0);
/** Characters of the resume channel's label taken from its HMAC (base64url: 126 bits). */
const RESUME_LABEL_CHARS = 21;

export interface SessionKeys {
  /** Never sent: proofs are HMACs under it. */
  resumeSecret: Buffer;
  /**
   * The channel a resume meets on: both sides derive it alone, it is fresh for every session
   * (a new session of the same two parties never meets an old one's resume), and it fits
   * the channel name rules (letters, digits, '.', '-', '_').
   */
  resumeChannel: string;
}

function hmac(key: Buffer, ...parts: (string | Buffer)[]): Buffer {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

export function sessionKeys(socket: TLSSocket): SessionKeys {
  const exported = socket.exportKeyingMaterial(EXPORTER_BYTES, SESSION_EXPORTER_LABEL, NO_CONTEXT);
  const label = hmac(exported, "flock resume channel").toString("base64url").slice(0, RESUME_LABEL_CHARS);
  return { resumeSecret: hmac(exported, "flock resume secret"), resumeChannel: `resume.${label}` };
}

/**
 * Who a proof comes from and what its sender means to be connected to: `from`/`to` as the
 * sender sees them. The binding is part of the proof because a side whose transport broke
 * before the peer's OPEN arrived resumes without ever having compared OPEN frames
 * (docs/stream.md "Resume"): the proof is then the only check that both mean the same pair,
 * channel and parties.
 */
export interface ProofSubject {
  role: Role;
  pair: string;
  channel: string;
  from: string;
  to: string;
}

/** What a side sends in its RESUME frame on `socket`: bound to the session, the binding and this transport. */
export function resumeProof(keys: SessionKeys, subject: ProofSubject, socket: TLSSocket): string {
  const transport = socket.exportKeyingMaterial(EXPORTER_BYTES, RESUME_EXPORTER_LABEL, NO_CONTEXT);
  // JSON: no field can run into the next whatever the names hold.
  const binding = JSON.stringify([subject.role, subject.pair, subject.channel, subject.from, subject.to]);
  return hmac(keys.resumeSecret, "flock resume proof\0", binding, "\0", transport).toString("base64url");
}

export function isResumeProof(
  keys: SessionKeys,
  subject: ProofSubject,
  socket: TLSSocket,
  proof: string,
): boolean {
  const want = Buffer.from(resumeProof(keys, subject, socket));
  const got = Buffer.from(proof);
  return got.length === want.length && timingSafeEqual(got, want);
}
