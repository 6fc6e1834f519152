/**
 * A party of the original Flock relay, for tests: it does on the wire what the original Go
 * client (`pkg/client`) and C client (`clib/client.h`) do, as docs/coming-from-frelay.md
 * describes, so a data plane that passes these tests serves those clients unchanged.
 *
 *   TCP connect → TLS (Go: SNI `flockrelay` and Go's name check; C: no SNI, no check) →
 *   one application record `{"DestParty":..,"Tag":..}` → read Ready with no deadline →
 *   one more read, 500 ms at most, that must be the relay's close_notify → raw TCP →
 *   end-to-end TLS as Mode 1 (server) or Mode 2 (client) with the user CA.
 */
import { X509Certificate } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import { createServer, connect as netConnect } from "node:net";
import type { ConnectionOptions, PeerCertificate } from "node:tls";
import * as tls from "node:tls";
import { TlsRecordGate, tlsRecordLength } from "../../dataplane/tls-record-gate.ts";

/** Go's client: `readDeadline` for the read after Ready; a timeout there fails the session. */
export const CLOSE_NOTIFY_DEADLINE_MS = 500;
/** `api.TLSModeServer` and `api.TLSModeClient`. */
export const MODE_SERVER = 1;
export const MODE_CLIENT = 2;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

export type FrelayVariant = "go" | "c";

export interface RelayCredentials {
  relayCa: string;
  relayCert: string;
  relayKey: string;
}

export interface PartyCredentials {
  userCa: string;
  partyCert: string;
  partyKey: string;
}

export interface RelayAuthOptions extends RelayCredentials {
  port: number;
  host?: string;
  variant?: FrelayVariant;
  dest: string;
  tag: string;
  /** The first application record, instead of the AuthReq JSON (garbage, oversized...). */
  authRecord?: string | Buffer;
  /** Sends no AuthReq at all. */
  silent?: boolean;
  /** Raw bytes written on the TCP socket right after the AuthReq, before any Ready. */
  rawAfterAuth?: Buffer;
  /** Gets the raw TCP socket once the AuthReq is out, for tests that misbehave later. */
  afterAuth?: (raw: Socket) => void;
}

/** What StartRelayAuthWithCerts hands back: the raw TCP socket and the relay's Ready. */
export interface RelaySession {
  raw: Socket;
  mode: number;
  /** The relay TLS session, abandoned; kept for tests that look at it. */
  relayTls: tls.TLSSocket;
}

const opened = new Set<Socket>();

/** Destroys every connection this client opened (afterEach), whatever state it is in. */
export function closeAllFrelaySessions(): void {
  for (const socket of opened) socket.destroy();
  opened.clear();
}

/** Why a frelay session failed, as a test wants to assert it. */
export class FrelayRefused extends Error {
  constructor(
    readonly step: "tls" | "ready" | "close_notify" | "e2e",
    detail: string,
  ) {
    super(`${step}: ${detail}`);
    this.name = "FrelayRefused";
  }
}

/**
 * Go checks the relay certificate as any TLS client does: chain to RELAY_CA, serverAuth,
 * and a DNS SAN matching the ServerName (Go never falls back to the subject CN).
 */
export function goNameCheck(name: string, usage: string) {
  return (_host: string, peer: PeerCertificate): Error | undefined => {
    const cert = new X509Certificate(peer.raw);
    if (cert.checkHost(name, { subject: "never" }) === undefined) {
      return new Error(`x509: certificate is not valid for any names, but wanted to match ${name}`);
    }
    if (cert.keyUsage && !cert.keyUsage.includes(usage)) {
      return new Error("x509: certificate specifies an incompatible key usage");
    }
    return undefined;
  };
}

function once<T>(emitter: NodeJS.EventEmitter, ok: string, step: FrelayRefused["step"]): Promise<T> {
  return new Promise((resolve, reject) => {
    const onOk = (value: T) => {
      emitter.off("error", onError).off("close", onClose);
      resolve(value);
    };
    const onError = (error: Error) => {
      emitter.off(ok, onOk).off("close", onClose);
      reject(new FrelayRefused(step, error.message));
    };
    const onClose = () => {
      emitter.off(ok, onOk).off("error", onError);
      reject(new FrelayRefused(step, "connection closed"));
    };
    emitter.once(ok, onOk).once("error", onError).once("close", onClose);
  });
}

/**
 * The first TLS record (the ClientHello) Node's client sends with these options, as a data
 * plane receives it: for tests that write a client's bytes themselves.
 */
export async function clientHelloRecord(options: ConnectionOptions): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const received = new Promise<Buffer>((resolve) => {
    server.once("connection", (socket) => {
      let bytes = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        const length = tlsRecordLength(bytes);
        if (length !== undefined && bytes.length >= length) {
          resolve(bytes.subarray(0, length));
          socket.destroy();
        }
      });
    });
  });
  const client = tls.connect({ port: (server.address() as AddressInfo).port, host: "127.0.0.1", ...options });
  client.on("error", () => {});
  try {
    return await received;
  } finally {
    client.destroy();
    server.close();
  }
}

/** The relay half: TLS, AuthReq, Ready, close_notify; resolves with the raw socket. */
export async function startRelayAuth(options: RelayAuthOptions): Promise<RelaySession> {
  const variant = options.variant ?? "go";
  const raw = netConnect({ host: options.host ?? "127.0.0.1", port: options.port, allowHalfOpen: true });
  raw.setNoDelay(true);
  raw.on("error", () => {});
  opened.add(raw);
  raw.once("close", () => opened.delete(raw));
  await once(raw, "connect", "tls");
  // The TLS runs over a gate so it can be left at the close_notify with nothing after it lost.
  const gate = new TlsRecordGate(raw);
  const tlsOptions: ConnectionOptions = {
    socket: gate,
    cert: options.relayCert,
    key: options.relayKey,
    minVersion: "TLSv1.2",
    // Never answer the relay's close_notify with one of ours (Go does not either).
    ...{ allowHalfOpen: true },
    ...(variant === "go"
      ? {
          servername: "flockrelay",
          ca: options.relayCa,
          checkServerIdentity: goNameCheck("flockrelay", SERVER_AUTH),
        }
      : { rejectUnauthorized: false }),
  };
  const relayTls = tls.connect(tlsOptions);
  gate.watch(relayTls);
  relayTls.on("error", () => {});
  try {
    await once(relayTls, "secureConnect", "tls");
  } catch (error) {
    raw.destroy();
    throw error;
  }
  if (!options.silent) {
    const record = options.authRecord ?? JSON.stringify({ DestParty: options.dest, Tag: options.tag });
    const { rawAfterAuth } = options;
    // Once the record is on the socket, so the raw bytes follow it rather than overtake it.
    relayTls.write(record, () => {
      if (rawAfterAuth) raw.write(rawAfterAuth);
    });
  }
  options.afterAuth?.(raw);

  const fail = (step: FrelayRefused["step"], detail: string): never => {
    relayTls.destroy();
    raw.destroy();
    throw new FrelayRefused(step, detail);
  };
  // Ready: one read, no deadline (the first arriver blocks until its peer comes).
  const ready = await new Promise<Buffer | null>((resolve) => {
    const take = () => {
      const chunk = relayTls.read() as Buffer | null;
      if (chunk === null) return;
      relayTls.off("readable", take).off("end", gone).off("close", gone);
      resolve(chunk);
    };
    const gone = () => {
      relayTls.off("readable", take).off("end", gone).off("close", gone);
      resolve(null);
    };
    relayTls.on("readable", take).once("end", gone).once("close", gone);
    take();
  });
  if (ready === null) return fail("ready", "the relay closed the connection");
  let mode: number;
  try {
    // Go's json.Unmarshal matches field names without regard to case.
    const parsed = JSON.parse(ready.toString("utf8")) as Record<string, unknown>;
    const key = Object.keys(parsed).find((k) => k.toLowerCase() === "mode");
    mode = Number(key === undefined ? Number.NaN : parsed[key]);
  } catch {
    return fail("ready", `not JSON: ${JSON.stringify(ready.toString("latin1"))}`);
  }
  if (mode !== MODE_SERVER && mode !== MODE_CLIENT) return fail("ready", `no mode in ${ready.toString()}`);

  // The one read with a deadline: stricter than Go, which also accepts data here, this
  // client wants exactly the close_notify.
  gate.feedOne();
  const closed = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(
      () => done("no close_notify within the read deadline"),
      CLOSE_NOTIFY_DEADLINE_MS,
    );
    const onData = () => done("data after Ready instead of close_notify");
    const onEnd = () => done(undefined);
    const onClose = () => done("the relay closed TCP");
    const done = (problem: string | undefined) => {
      clearTimeout(timer);
      relayTls.off("data", onData).off("end", onEnd).off("close", onClose);
      resolve(problem);
    };
    relayTls.once("data", onData).once("end", onEnd).once("close", onClose);
    relayTls.resume();
  });
  if (closed !== undefined) return fail("close_notify", closed);
  const rest = gate.detach();
  if (rest.length > 0) raw.unshift(rest);
  return { raw, mode, relayTls };
}

/** GetSessionE2EGoWithCerts (go) or GetSessionE2EWithCerts (c) on the raw socket. */
export async function startEndToEnd(
  session: RelaySession,
  credentials: PartyCredentials & { dest: string; variant?: FrelayVariant },
): Promise<tls.TLSSocket> {
  const go = (credentials.variant ?? "go") === "go";
  const context = tls.createSecureContext({
    cert: credentials.partyCert,
    key: credentials.partyKey,
    minVersion: "TLSv1.2",
    ...(go ? { ca: credentials.userCa } : {}),
  });
  if (session.mode === MODE_CLIENT) {
    const socket = tls.connect({
      socket: session.raw,
      secureContext: context,
      ...{ allowHalfOpen: true },
      ...(go
        ? { servername: credentials.dest, checkServerIdentity: goNameCheck(credentials.dest, SERVER_AUTH) }
        : { rejectUnauthorized: false }),
    });
    socket.on("error", () => {});
    await once(socket, "secureConnect", "e2e");
    return socket;
  }
  const socket = new tls.TLSSocket(session.raw, {
    isServer: true,
    secureContext: context,
    // The C client's server context never asks for a client certificate.
    requestCert: go,
    rejectUnauthorized: false,
  });
  socket.allowHalfOpen = true;
  socket.on("error", () => {});
  await once(socket, "secure", "e2e");
  if (go) {
    // RequireAndVerifyClientCert: chain to the user CA, clientAuth; the name is not checked.
    const problem = clientCertificateProblem(socket.getPeerX509Certificate(), credentials.userCa);
    if (problem) {
      socket.destroy();
      throw new FrelayRefused("e2e", problem);
    }
  }
  return socket;
}

function clientCertificateProblem(cert: X509Certificate | undefined, userCaPem: string): string | undefined {
  if (!cert) return "tls: client didn't provide a certificate";
  const ca = new X509Certificate(userCaPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    return "x509: certificate signed by unknown authority";
  const now = Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo))
    return "x509: certificate has expired";
  if (cert.keyUsage && !cert.keyUsage.includes(CLIENT_AUTH)) return "x509: incompatible key usage";
  return undefined;
}

/** A whole client_func session: relay auth, then end-to-end TLS. */
export async function frelaySession(
  options: RelayAuthOptions & PartyCredentials,
): Promise<{ session: RelaySession; channel: tls.TLSSocket }> {
  const session = await startRelayAuth(options);
  const channel = await startEndToEnd(session, options);
  return { session, channel };
}
