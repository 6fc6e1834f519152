import { KeyObject, sign } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_TICKET_LIFETIME_SECONDS } from "../../dataplane/config.ts";
import { pairId, TICKET_TTL_SECONDS } from "../../protocol/ticket.ts";
import type { Transport } from "../helpers/dataplane-client.ts";
import { TestParty } from "../helpers/dataplane-client.ts";
import type { Issued, Party } from "../helpers/dataplane-fixtures.ts";
import { certField, makeTicketKey, mintTicket, proofSignature } from "../helpers/dataplane-fixtures.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();
afterEach(() => {
  fx.worker.revokedFingerprints = [];
  fx.worker.unreachable = false;
  fx.worker.hanging = false;
  fx.worker.keys.splice(1);
});

async function dial(port: number, transport: Transport = "tcp", tlsIdentity?: Issued): Promise<TestParty> {
  return TestParty.dial({ transport, port, relayCaPem: fx.relayCa.certPem, tlsIdentity });
}

/** The code the relay answers a ticket hello with (WAITING counts as acceptance). */
async function answerTo(port: number, ticket: string, prover?: Issued): Promise<string> {
  const party = await dial(port);
  await party.sendTicket(ticket, prover);
  const frame = await party.frame();
  party.abort();
  return frame.type === "error" ? frame.code : frame.type;
}

/** The ERROR code the relay answers a ticket with over TLS, where the client certificate is the proof. */
async function answerOverTls(
  port: number,
  transport: Transport,
  tlsIdentity: Issued,
  ticket: string,
): Promise<string> {
  const party = await dial(port, transport, tlsIdentity);
  await party.sendTicket(ticket);
  return party.errorCode();
}

describe("ticket checks", () => {
  it("accept what the worker issues: its ticket lifetime is within the data plane's maximum", () => {
    expect(TICKET_TTL_SECONDS).toBeLessThanOrEqual(MAX_TICKET_LIFETIME_SECONDS);
  });

  it("accepts a valid ticket with a valid proof", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.a)).toBe("waiting");
  });

  it("refuses a ticket signed by another key under a known kid", async () => {
    const dp = await fx.start();
    const forger = await makeTicketKey(fx.ticketKey.kid);
    const forged = await mintTicket(forger, {
      aud: "relay-test",
      sub: fx.a.ref,
      peer: fx.b.ref,
      pair: "p",
      chn: "default",
      role: "client",
      cnf: { "x5t#S256": fx.a.thumbprint },
    });
    expect(await answerTo(dp.port, forged, fx.a)).toBe("TICKET_INVALID");
  });

  it("refuses a ticket whose signature was tampered with", async () => {
    const dp = await fx.start();
    const ticket = await fx.ticket(fx.a, fx.b);
    const [h, p] = ticket.split(".");
    const claims = JSON.parse(Buffer.from(p as string, "base64url").toString());
    claims.peer = "alice/zed";
    const tampered = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${ticket.split(".")[2]}`;
    expect(await answerTo(dp.port, tampered, fx.a)).toBe("TICKET_INVALID");
  });

  it("refuses an expired ticket with TICKET_EXPIRED", async () => {
    const dp = await fx.start();
    const past = Math.floor(Date.now() / 1000) - 600;
    const ticket = await fx.ticket(fx.a, fx.b, { iat: past, nbf: past, exp: past + 60 });
    expect(await answerTo(dp.port, ticket, fx.a)).toBe("TICKET_EXPIRED");
  });

  it("refuses a ticket for another data plane with TICKET_WRONG_AUDIENCE", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b, { aud: "other-relay" }), fx.a)).toBe(
      "TICKET_WRONG_AUDIENCE",
    );
  });

  it("refuses a ticket of the wrong type", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b, {}, { typ: "JWT" }), fx.a)).toBe(
      "TICKET_INVALID",
    );
  });

  /** A ticket of the worker's, its header or claims changed, signed again with the real ticket key. */
  const resigned = async (header: Record<string, unknown>, claims: Record<string, unknown> = {}) => {
    const parts = (await fx.ticket(fx.a, fx.b)).split(".");
    const [h, p] = [header, claims].map((change, i) => {
      const was = JSON.parse(Buffer.from(parts[i] as string, "base64url").toString());
      return Buffer.from(JSON.stringify({ ...was, ...change })).toString("base64url");
    });
    const signature = sign(null, Buffer.from(`${h}.${p}`), KeyObject.from(fx.ticketKey.privateKey));
    return `${h}.${p}.${signature.toString("base64url")}`;
  };

  it.each([
    ["another algorithm", { alg: "HS256" }],
    ["a crit extension", { crit: ["exp2"], exp2: 0 }],
    ["no kid", { kid: null }],
  ])("refuses a ticket whose header names %s, though the ticket key signed it", async (_what, change) => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await resigned(change), fx.a)).toBe("TICKET_INVALID");
  });

  it("refuses a ticket that is no well-formed JWT with TICKET_INVALID, whatever part is broken", async () => {
    const dp = await fx.start();
    const [h, p, sig] = (await fx.ticket(fx.a, fx.b)).split(".") as [string, string, string];
    const part = (json: string) => Buffer.from(json).toString("base64url");
    for (const ticket of [
      `${h}.${p}`,
      `${h}.${p}.${sig}.${sig}`,
      `${h}.${p}.`,
      `${h}!.${p}.${sig}`,
      `${part("[]")}.${p}.${sig}`,
      `${part("not json")}.${p}.${sig}`,
      `${h}.${part("null")}.${sig}`,
      `${h}.${p}.${sig.slice(0, 10)}`,
    ]) {
      expect(await answerTo(dp.port, ticket, fx.a)).toBe("TICKET_INVALID");
    }
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.a)).toBe("waiting");
  });

  it("refuses a ticket whose time claims are not finite numbers, though the ticket key signed it", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await resigned({}, {}), fx.a)).toBe("waiting");
    for (const claims of [{ exp: "9999999999" }, { nbf: null }, { iat: "0" }]) {
      expect(await answerTo(dp.port, await resigned({}, claims), fx.a)).toBe("TICKET_INVALID");
    }
  });

  it(`refuses a ticket living longer than MAX_TICKET_LIFETIME_SECONDS (${MAX_TICKET_LIFETIME_SECONDS} s)`, async () => {
    const dp = await fx.start();
    const now = Math.floor(Date.now() / 1000);
    const lives = (iat: number, exp: number) => fx.ticket(fx.a, fx.b, { iat, nbf: now, exp });
    const refused = async (ticket: string) => {
      const party = await dial(dp.port);
      await party.sendTicket(ticket, fx.a);
      return party.frame();
    };
    expect(await refused(await lives(now, now + MAX_TICKET_LIFETIME_SECONDS + 1))).toEqual({
      type: "error",
      code: "TICKET_INVALID",
      message: `The ticket lives ${MAX_TICKET_LIFETIME_SECONDS + 1} s, more than the ${MAX_TICKET_LIFETIME_SECONDS} s this data plane accepts.`,
    });
    // An iat in the future does not stretch it: the rest of its life counts from now.
    expect(await refused(await lives(now + 3600, now + 3660))).toMatchObject({ code: "TICKET_INVALID" });
    expect(await answerTo(dp.port, await lives(now, now + MAX_TICKET_LIFETIME_SECONDS), fx.a)).toBe(
      "waiting",
    );
  });

  it("refuses a ticket used a second time with TICKET_REPLAYED", async () => {
    const dp = await fx.start();
    const ticket = await fx.ticket(fx.a, fx.b);
    expect(await answerTo(dp.port, ticket, fx.a)).toBe("waiting");
    expect(await answerTo(dp.port, ticket, fx.a)).toBe("TICKET_REPLAYED");
  });

  it("does not burn a ticket presented without its key", async () => {
    const dp = await fx.start();
    const ticket = await fx.ticket(fx.a, fx.b);
    expect(await answerTo(dp.port, ticket)).toBe("PROOF_MISSING");
    expect(await answerTo(dp.port, ticket, fx.a)).toBe("waiting");
  });

  it("refuses an unknown kid with TICKET_UNKNOWN_KEY and refetches the JWKS at most once per interval", async () => {
    const dp = await fx.start({ jwksRefetchMinIntervalMs: 60_000 });
    const stranger = await makeTicketKey("never-published");
    // A valid ticket first: the initial fetch is done once it is accepted.
    expect(await answerTo(dp.port, await fx.ticket(fx.b, fx.a), fx.b)).toBe("waiting");
    const before = fx.worker.jwksFetches;
    for (let i = 0; i < 3; i++) {
      const unknown = await mintTicket(stranger, {
        aud: "relay-test",
        sub: fx.a.ref,
        peer: fx.b.ref,
        pair: "p",
        chn: "default",
        role: "client",
        cnf: { "x5t#S256": fx.a.thumbprint },
      });
      expect(await answerTo(dp.port, unknown, fx.a)).toBe("TICKET_UNKNOWN_KEY");
    }
    // The initial fetch was within the interval, so none of the three unknown kids refetched.
    expect(fx.worker.jwksFetches).toBe(before);
  });

  it("learns a rotated-in key by refetching the JWKS on its unknown kid, even after a report listed only the old kids", async () => {
    // The first load report lists only the old kid; the JWKS fetched afterwards is fresher.
    const dp = await fx.start({ jwksRefetchMinIntervalMs: 1 });
    expect(await answerTo(dp.port, await fx.ticket(fx.b, fx.a), fx.b)).toBe("waiting");
    const next = await makeTicketKey("test-key-2");
    fx.worker.keys.push(next);
    const ticket = await mintTicket(next, {
      aud: "relay-test",
      sub: fx.a.ref,
      peer: fx.b.ref,
      pair: await pairId("alice", "a", "b", "default"),
      chn: "default",
      role: "client",
      cnf: { "x5t#S256": fx.a.thumbprint },
    });
    expect(await answerTo(dp.port, ticket, fx.a)).toBe("waiting");
  });

  it("keeps verifying tickets with the keys it has while the worker is unreachable", async () => {
    const dp = await fx.start({ jwksRefetchMinIntervalMs: 1 });
    expect(await answerTo(dp.port, await fx.ticket(fx.b, fx.a), fx.b)).toBe("waiting");
    fx.worker.unreachable = true;
    await dp.reportNow();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.a)).toBe("waiting");
  });
});

describe("proof of key", () => {
  it("answers PROOF_MISSING to a valid ticket without cert and signature", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b))).toBe("PROOF_MISSING");
  });

  it("answers PROOF_INVALID when the signature is made with another key", async () => {
    const dp = await fx.start();
    const party = await dial(dp.port);
    const { nonce } = await party.readChallenge();
    const ticket = await fx.ticket(fx.a, fx.b);
    const { sha256, toBase64Url } = await import("../../protocol/encoding.ts");
    party.send({
      type: "hello",
      ticket,
      cert: certField(fx.a),
      sig: proofSignature(fx.b, nonce, toBase64Url(await sha256(ticket))),
    });
    expect(await party.errorCode()).toBe("PROOF_INVALID");
  });

  it("answers PROOF_INVALID when the signature is over another nonce", async () => {
    const dp = await fx.start();
    const party = await dial(dp.port);
    await party.readChallenge();
    const ticket = await fx.ticket(fx.a, fx.b);
    const { sha256, toBase64Url } = await import("../../protocol/encoding.ts");
    const sig = proofSignature(fx.a, "a-nonce-from-another-connection", toBase64Url(await sha256(ticket)));
    party.send({ type: "hello", ticket, cert: certField(fx.a), sig });
    expect(await party.errorCode()).toBe("PROOF_INVALID");
  });

  it("answers PROOF_INVALID to a valid proof for another party's certificate", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.b)).toBe("PROOF_INVALID");
  });

  it("answers PROOF_INVALID to a TLS client certificate the ticket is not bound to", async () => {
    const dp = await fx.start();
    expect(await answerOverTls(dp.port, "tls", fx.b, await fx.ticket(fx.a, fx.b))).toBe("PROOF_INVALID");
  });

  it("answers CERT_INVALID to a TLS client certificate from another CA", async () => {
    const dp = await fx.start();
    expect(await answerOverTls(dp.port, "tls", fx.foreignA, await fx.ticket(fx.a, fx.b))).toBe(
      "CERT_INVALID",
    );
  });

  it("answers CERT_INVALID to a hello certificate from another CA", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.foreignA)).toBe("CERT_INVALID");
  });

  it("answers CERT_INVALID to an expired relay certificate, over TLS and in the hello", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.expiredA)).toBe("CERT_INVALID");
    expect(await answerOverTls(dp.port, "wss", fx.expiredA, await fx.ticket(fx.a, fx.b))).toBe(
      "CERT_INVALID",
    );
  });
});

describe("users and revocation", () => {
  it("never pairs parties of different users (ticket naming another user's party)", async () => {
    const dp = await fx.start();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.c), fx.a)).toBe("CROSS_USER");
  });

  it("never pairs parties of different users (direct mode naming user/party)", async () => {
    const dp = await fx.start();
    const party = await dial(dp.port);
    await party.sendDirect("bob/c", "t1", fx.a);
    expect(await party.errorCode()).toBe("CROSS_USER");
  });

  it("refuses a revoked party once a load report told it, and keeps refusing while the worker is down", async () => {
    const dp = await fx.start();
    fx.worker.revokedFingerprints = [fx.a.thumbprint];
    await dp.reportNow();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.a)).toBe("PARTY_REVOKED");
    fx.worker.unreachable = true;
    await dp.reportNow();
    expect(await answerTo(dp.port, await fx.ticket(fx.a, fx.b), fx.a)).toBe("PARTY_REVOKED");
    const direct = await dial(dp.port, "tls", fx.a);
    await direct.sendDirect("b", "t1");
    expect(await direct.errorCode()).toBe("PARTY_REVOKED");
    // Others are unaffected.
    expect(await answerTo(dp.port, await fx.ticket(fx.b, fx.a), fx.b)).toBe("waiting");
  });
});

describe("revoking a party that is already connected", () => {
  async function ticketSide(port: number, from: Party, to: Party, channel: string): Promise<TestParty> {
    const party = await dial(port);
    const pair = await pairId(from.user, from.party, to.party, channel);
    await party.sendTicket(await fx.ticket(from, to, { chn: channel, pair }), from);
    return party;
  }

  it("closes its pairs and refuses its waiting sides with PARTY_REVOKED, leaving others alone", async () => {
    const dp = await fx.start();
    const a = await ticketSide(dp.port, fx.a, fx.b, "one");
    const b = await ticketSide(dp.port, fx.b, fx.a, "one");
    await Promise.all([a.paired(), b.paired()]);
    const lonely = await ticketSide(dp.port, fx.a, fx.b, "two");
    expect(await lonely.frame()).toEqual({ type: "waiting" });
    const c = await ticketSide(dp.port, fx.c, fx.d, "one");
    const d = await ticketSide(dp.port, fx.d, fx.c, "one");
    await Promise.all([c.paired(), d.paired()]);

    fx.worker.revokedFingerprints = [fx.a.thumbprint];
    await dp.reportNow();
    expect(await lonely.errorCode()).toBe("PARTY_REVOKED");
    const sb = b.dataStream();
    sb.resume();
    await b.gone;
    expect(dp.activePairs()).toBe(1);
    const { values } = await dp.metrics.pairEnds.get();
    expect(values.map((v) => [v.labels.reason, v.value])).toEqual([["revoked", 2]]);

    const sc = c.dataStream();
    const sd = d.dataStream();
    sc.write("still here");
    const got = await new Promise<Buffer>((resolve) => sd.once("data", resolve));
    expect(got.toString()).toBe("still here");
  });
});

describe("revocations across restarts", () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "flock-relay-state-"));
  });
  afterEach(() => rm(stateDir, { recursive: true, force: true }));

  async function directAnswer(port: number, self: Party, dest: string): Promise<string> {
    const party = await dial(port);
    await party.sendDirect(dest, "t1", self);
    const frame = await party.frame();
    return frame.type === "error" ? frame.code : frame.type;
  }

  it("refuses direct hellos with REVOCATIONS_UNKNOWN until the first report, while tickets still work", async () => {
    fx.worker.revokedFingerprints = [fx.a.thumbprint];
    const dp = await fx.start({}, {}, { firstReport: false });
    expect(await directAnswer(dp.port, fx.a, "b")).toBe("REVOCATIONS_UNKNOWN");
    expect(await answerTo(dp.port, await fx.ticket(fx.b, fx.a), fx.b)).toBe("waiting");
    await dp.reportNow();
    expect(await directAnswer(dp.port, fx.a, "b")).toBe("PARTY_REVOKED");
  });

  it("keeps the last revocation list in the state file and refuses a revoked party right after a restart", async () => {
    const stateFile = join(stateDir, "nested", "relay-test.json");
    fx.worker.revokedFingerprints = [fx.a.thumbprint];
    const first = await fx.start({}, { stateFile });
    await first.stop();
    expect(JSON.parse(await readFile(stateFile, "utf8"))).toMatchObject({
      revokedFingerprints: [fx.a.thumbprint],
    });
    expect((await readdir(dirname(stateFile))).filter((f) => f.endsWith(".tmp"))).toEqual([]);

    fx.worker.unreachable = true;
    const restarted = await fx.start({}, { stateFile }, { firstReport: false });
    expect(await directAnswer(restarted.port, fx.a, "b")).toBe("PARTY_REVOKED");
    const party = await dial(restarted.port);
    await party.sendDirect("a", "t1", fx.b);
    expect(await party.frame()).toEqual({ type: "waiting" });
  });

  it("treats an unreadable state file as unknown, not as an empty list", async () => {
    const stateFile = join(stateDir, "relay-test.json");
    await writeFile(stateFile, "{not json");
    const dp = await fx.start({}, { stateFile }, { firstReport: false });
    expect(await directAnswer(dp.port, fx.a, "b")).toBe("REVOCATIONS_UNKNOWN");
  });
});

describe("direct mode (seed-compatible)", () => {
  async function direct(port: number, transport: Transport, self: Party, dest: string, tag: string) {
    const tls = transport === "tls" || transport === "wss";
    const party = await dial(port, transport, tls ? self : undefined);
    await party.sendDirect(dest, tag, tls ? undefined : self);
    return party;
  }

  it("pairs two parties of one user by destination and tag, on any transport mix", async () => {
    const dp = await fx.start();
    const a = await direct(dp.port, "tls", fx.a, "b", "t1");
    const b = await direct(dp.port, "tcp", fx.b, "alice/a", "t1");
    const [pa, pb] = await Promise.all([a.paired(), b.paired()]);
    expect(pa).toMatchObject({ peer: "alice/b", role: "client" });
    expect(pb).toMatchObject({ peer: "alice/a", role: "server", pair: pa.pair });
    a.dataStream().write("direct");
    const got = await new Promise<Buffer>((resolve) => b.dataStream().once("data", resolve));
    expect(got.toString()).toBe("direct");
  });

  it("keeps different tags apart", async () => {
    const dp = await fx.start();
    const a = await direct(dp.port, "tcp", fx.a, "b", "t1");
    const b = await direct(dp.port, "tcp", fx.b, "a", "t2");
    expect(await a.frame()).toEqual({ type: "waiting" });
    expect(await b.frame()).toEqual({ type: "waiting" });
    expect(dp.waitingSides()).toBe(2);
  });

  it("answers PROOF_MISSING to a direct hello without any certificate", async () => {
    const dp = await fx.start();
    const party = await dial(dp.port);
    await party.sendDirect("b", "t1");
    expect(await party.errorCode()).toBe("PROOF_MISSING");
  });

  it("answers SAME_PARTY to a party naming itself", async () => {
    const dp = await fx.start();
    expect(await (await direct(dp.port, "tcp", fx.a, "a", "t1")).errorCode()).toBe("SAME_PARTY");
  });

  it("answers BAD_FRAME to a malformed destination or tag", async () => {
    const dp = await fx.start();
    expect(await (await direct(dp.port, "tcp", fx.a, "b/../x", "t1")).errorCode()).toBe("BAD_FRAME");
    expect(await (await direct(dp.port, "tcp", fx.a, "b", "")).errorCode()).toBe("BAD_FRAME");
  });
});

describe("clock tolerance and worker timeouts", () => {
  it("accepts a ticket expired within TICKET_CLOCK_TOLERANCE_SECONDS and refuses one beyond it", async () => {
    const dp = await fx.start();
    const now = Math.floor(Date.now() / 1000);
    const justExpired = await fx.ticket(fx.a, fx.b, { iat: now - 300, nbf: now - 300, exp: now - 2 });
    expect(await answerTo(dp.port, justExpired, fx.a)).toBe("waiting");
    const expired = await fx.ticket(fx.b, fx.a, { iat: now - 300, nbf: now - 300, exp: now - 30 });
    expect(await answerTo(dp.port, expired, fx.b)).toBe("TICKET_EXPIRED");
  });

  it("gives up on a worker that does not answer after workerRequestTimeoutMs, keeping what it knew", async () => {
    const dp = await fx.start({ workerRequestTimeoutMs: 2_000 });
    fx.worker.revokedFingerprints = [fx.c.thumbprint];
    await dp.reportNow();
    expect(await answerTo(dp.port, await fx.ticket(fx.c, fx.c), fx.c)).toBe("PARTY_REVOKED");
    // Without the timeout this report would never finish.
    fx.worker.hanging = true;
    fx.worker.revokedFingerprints = [];
    await dp.reportNow();
    fx.worker.hanging = false;
    expect(await answerTo(dp.port, await fx.ticket(fx.c, fx.c), fx.c)).toBe("PARTY_REVOKED");
  });
});
