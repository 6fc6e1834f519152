import { X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import { FlockError } from "../protocol/errors.ts";
import type { PeerProtocol } from "../protocol/frames.ts";
import { partyUri } from "../protocol/names.ts";
import type { Role } from "../protocol/ticket.ts";
import { partyOf } from "./identity.ts";
import { parsedCache } from "./parsed-cache.ts";
import type { SetupSilence } from "./setup-silence.ts";
import { STREAM_ALPN } from "./stream/frames.ts";

/** Credentials of the end-to-end TLS: the party certificate and the user CA, never the relay's. */
export interface PeerCredentials {
  userCa: string;
  partyCert: string;
  partyKey: string;
}

/**
 * The verified channel and the certificate that was checked. Kept here because Node was
 * seen returning `{}` from getPeerCertificate() on a client socket once TLS 1.3 session
 * tickets had arrived.
 */
export interface SecuredPeer {
  socket: tls.TLSSocket;
  peerCertificate: X509Certificate;
  /** Both ends agreed on SDK wire version 2 (framing, docs/stream.md); else the socket is the raw stream. */
  framed: boolean;
}

export interface ExpectedPeer {
  user: string;
  party: string;
}

/**
 * After its own check each side sends one byte inside the TLS channel, and hands the
 * socket out only when the peer's byte says "accepted". TLS 1.3 finishes the client's
 * handshake before the server has looked at the client certificate, so without this a
 * client could resolve and then see a bare close; with it both sides learn the verdict,
 * and a refusal is PEER_IDENTITY_MISMATCH on both, not a retryable hang-up. The relay
 * cannot forge the byte: it travels inside the end-to-end TLS.
 */
const VERDICT_ACCEPTED = 0x01;
const VERDICT_REFUSED = 0x00;
/** A refused peer gets this long to receive the refusal before the socket is destroyed. */
export const REFUSAL_LINGER_MS = 2_000;

/** Parsing the PEMs into a TLS context took milliseconds of every pair's setup; one per party suffices. */
const peerContexts = parsedCache<{ secureContext: tls.SecureContext; userCa: X509Certificate }>();
/**
 * Whether a peer certificate is signed by a user CA, by the SHA-256 of both DERs: a party meets
 * the same peers again and again, and the signature check was a sixth of a millisecond of each
 * setup. The answer for two exact DERs never changes; the validity period and the names are
 * checked on every connection.
 */
const signedByUserCa = parsedCache<boolean>();

/**
 * End-to-end mutual TLS over a paired relay stream. Both roles request and verify the
 * peer certificate against the user CA and require the SAN URI `urn:flock:party:<user>:<dest>`;
 * the relay's certificates play no part. TLS 1.3 only: both ends are this SDK.
 *
 * `rejectUnauthorized` is off so that the check (chain *and* name) happens here and the
 * verdict can be told to the peer; no application byte is read or written before it.
 */
export function securePeerChannel(
  stream: Duplex,
  role: Role,
  credentials: PeerCredentials,
  expected: ExpectedPeer,
  {
    offerFraming = true,
    peerProtocol = "flock",
    firstFrame,
    silence,
  }: {
    offerFraming?: boolean;
    /** A client of the original relay knows no verdict byte (docs/coming-from-frelay.md "Mixed pairs"). */
    peerProtocol?: PeerProtocol;
    /**
     * The TLS client's first wire-version-2 frame, written right behind its accepting verdict
     * instead of after the server's verdict arrives: the server has proven its identity by then,
     * and a server that refuses this side discards it unread (docs/stream.md "Binding: OPEN").
     * Called once, only when both ends chose version 2; from then on the frame is out.
     */
    firstFrame?: (socket: tls.TLSSocket) => Buffer;
    /** Bounds the peer's silence during the handshake and the verdicts: PEER_SILENT past it. */
    silence?: SetupSilence;
  } = {},
): Promise<SecuredPeer> {
  const { secureContext, userCa } = peerContexts.get(
    `${credentials.userCa}\n${credentials.partyCert}\n${credentials.partyKey}`,
    () => ({
      secureContext: tls.createSecureContext({
        cert: credentials.partyCert,
        key: credentials.partyKey,
        // OpenSSL trusts nothing here (an empty list, not the default roots): peerProblem()
        // is the chain and name check on both sides, and its verdict was never OpenSSL's.
        // When OpenSSL's own check passed, Node's client also built the whole peer chain
        // as JS objects for a host name check that cannot apply to a party certificate,
        // about 2 ms of every pair's setup. The handshake still proves the peer holds the
        // key of the certificate it sent (CertificateVerify).
        ca: [],
        minVersion: "TLSv1.3",
      }),
      userCa: new X509Certificate(credentials.userCa),
    }),
  );
  // Wire version 2 is chosen by ALPN: inside the handshake transcript, so the relay cannot
  // strip it. A peer that offers nothing (SDK version 1, frelay clients) stays raw; one that
  // offers only other protocols is answered with its first, so it too stays raw, not refused.
  const socket =
    role === "client"
      ? tls.connect({
          socket: stream,
          secureContext,
          servername: expected.party,
          rejectUnauthorized: false,
          ...(offerFraming ? { ALPNProtocols: [STREAM_ALPN] } : {}),
        })
      : new tls.TLSSocket(stream, {
          isServer: true,
          requestCert: true,
          rejectUnauthorized: false,
          secureContext,
          ...(offerFraming
            ? {
                ALPNCallback: ({ protocols }: { protocols: string[] }) =>
                  protocols.includes(STREAM_ALPN) ? STREAM_ALPN : protocols[0],
              }
            : {}),
        });
  // A server-side TLSSocket over a stream takes half-open from the stream; say it here for both.
  socket.allowHalfOpen = true;
  let peerCertificate: X509Certificate | undefined;
  const checkPeer = () => {
    peerCertificate = socket.getPeerX509Certificate();
    return peerProblem(peerCertificate, userCa, expected);
  };
  // A client of the original relay knows no verdict byte: each side's own check is all there is.
  const verdicts = peerProtocol === "flock";
  // The server gains nothing from it: the client's verdict comes in the flight that ends its
  // handshake, so the server's OPEN already leaves as soon as the server has checked it.
  const ahead =
    role === "client" && firstFrame
      ? () => (socket.alpnProtocol === STREAM_ALPN ? firstFrame(socket) : undefined)
      : () => undefined;
  const secureEvent = role === "client" ? "secureConnect" : "secure";
  return exchangeVerdicts(socket, secureEvent, checkPeer, verdicts, ahead, silence).then((secured) => ({
    socket: secured,
    peerCertificate: peerCertificate as X509Certificate,
    framed: secured.alpnProtocol === STREAM_ALPN,
  }));
}

function exchangeVerdicts(
  socket: tls.TLSSocket,
  secureEvent: "secureConnect" | "secure",
  checkPeer: () => string | undefined,
  verdicts: boolean,
  ahead: () => Buffer | undefined,
  silence: SetupSilence | undefined,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let ownCheckPassed = false;

    const finish = (error?: FlockError, options: { keepSocket?: boolean } = {}) => {
      if (settled) return;
      settled = true;
      stopWaiting?.();
      socket
        .off(secureEvent, onSecure)
        .off("readable", onReadable)
        .off("error", onError)
        .off("end", onEnd)
        .off("close", onEnd);
      if (error) {
        // Node may still emit an error on a socket given up mid-handshake (its own
        // "disconnected before secure TLS connection" after an end): with no listener left,
        // that would crash the process.
        socket.on("error", () => {});
        if (!options.keepSocket) socket.destroy();
        reject(error);
      } else {
        resolve(socket);
      }
    };

    const onSecure = () => {
      const problem = checkPeer();
      if (problem) {
        if (verdicts) refuse(socket);
        finish(new FlockError("PEER_IDENTITY_MISMATCH", problem), { keepSocket: verdicts });
        return;
      }
      if (!verdicts) {
        finish();
        return;
      }
      ownCheckPassed = true;
      socket.write(Buffer.from([VERDICT_ACCEPTED]));
      let first: Buffer | undefined;
      try {
        first = ahead();
      } catch (error) {
        // The exporter fails on a socket that broke under it: in an event handler, a throw would end the process.
        finish(
          new FlockError("PEER_CLOSED", "The peer connection broke as the handshake finished.", {
            cause: error,
          }),
        );
        return;
      }
      if (first) socket.write(first);
      onReadable();
    };

    const onReadable = () => {
      if (!ownCheckPassed || settled) return;
      const verdict = socket.read(1) as Buffer | null;
      if (verdict === null) return;
      if (verdict[0] === VERDICT_ACCEPTED) finish();
      else
        finish(
          new FlockError("PEER_IDENTITY_MISMATCH", "The peer refused this party's end-to-end certificate."),
        );
    };

    const onError = (error: Error & { code?: string }) => {
      // A TLS alert or garbage where TLS was expected means the other end is not a Flock
      // peer of this user (a relay standing in for it, or another user's CA); a reset is a
      // peer that went away and may come back.
      if (error.code?.startsWith("ERR_SSL_") || error.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
        finish(
          new FlockError("PEER_IDENTITY_MISMATCH", `The end-to-end TLS handshake failed: ${error.message}.`, {
            cause: error,
          }),
        );
      } else {
        finish(
          new FlockError("PEER_CLOSED", `The peer connection failed: ${error.message}.`, { cause: error }),
        );
      }
    };
    const onEnd = () =>
      finish(
        new FlockError(
          "PEER_CLOSED",
          "The peer closed the connection before the end-to-end handshake finished.",
        ),
      );

    socket
      .once(secureEvent, onSecure)
      .on("readable", onReadable)
      .on("error", onError)
      .on("end", onEnd)
      .on("close", onEnd);
    const stopWaiting = silence?.whileWaiting((error) => finish(error));
  });
}

/**
 * Tells the peer it was refused, so it raises the same code instead of seeing a bare hang-up,
 * and destroys the socket once the byte is out (or after a linger, if the peer stalls).
 * Errors on this abandoned socket are expected and ignored.
 */
function refuse(socket: tls.TLSSocket): void {
  socket.on("error", () => {});
  const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  linger.unref();
  socket.end(Buffer.from([VERDICT_REFUSED]), () => {
    clearTimeout(linger);
    socket.destroy();
  });
}

/**
 * Why the peer's certificate is not acceptable, or undefined when it is. The chain is checked
 * here, not through `socket.authorized`: a server-side TLSSocket made over a stream (not by a
 * tls.Server) never sets it. Party certificates are signed by the user CA directly, so the
 * chain is one link; OpenSSL has already checked that the peer holds the certificate's key.
 */
function peerProblem(
  cert: X509Certificate | undefined,
  userCa: X509Certificate,
  expected: ExpectedPeer,
): string | undefined {
  const want = partyUri(expected.user, expected.party);
  if (!cert) return `The peer presented no end-to-end certificate; expected ${want}.`;
  const signed = signedByUserCa.get(
    `${userCa.fingerprint256}\n${cert.fingerprint256}`,
    () => cert.checkIssued(userCa) && cert.verify(userCa.publicKey),
  );
  if (!signed) {
    return `The peer's end-to-end certificate is not signed by this user's CA; expected ${want}.`;
  }
  const now = Date.now();
  for (const c of [cert, userCa]) {
    if (now < Date.parse(c.validFrom) || now > Date.parse(c.validTo)) {
      return `The peer's end-to-end certificate or the user CA is outside its validity period; expected ${want}.`;
    }
  }
  const named = partyOf(cert);
  if (!named || named.user !== expected.user || named.party !== expected.party) {
    const got = named ? partyUri(named.user, named.party) : "no party URI";
    return `The peer's end-to-end certificate names ${got}; expected ${want}.`;
  }
  return undefined;
}
