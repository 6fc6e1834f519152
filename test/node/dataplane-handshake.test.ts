import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { describe, expect, it } from "vitest";
import { ConnectionGone } from "../../dataplane/admission/read-until.ts";
import { encodeFrame, FRAME_HEADER_BYTES, MAGIC, MAX_FRAME_BYTES } from "../../protocol/frames.ts";
import { openTransport, TestParty } from "../helpers/dataplane-client.ts";
import { certField, proofSignature } from "../helpers/dataplane-fixtures.ts";
import { useDataPlaneFixtures } from "../helpers/dataplane-suite.ts";

const fx = useDataPlaneFixtures();

/** A plain TCP connection that has sent nothing yet. */
async function rawParty(port: number): Promise<TestParty> {
  return new TestParty(await openTransport({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem }));
}

/** The relay closed its side (the test client keeps its own half open). */
function ended(party: TestParty): Promise<void> {
  party.stream.resume();
  return new Promise((resolve) => party.stream.once("end", () => resolve()));
}

async function errorCount(
  dp: { metrics: { errors: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> } } },
  code: string,
) {
  const { values } = await dp.metrics.errors.get();
  return values.find((v) => (v.labels as { code?: string }).code === code)?.value ?? 0;
}

describe("data plane handshake refusals", () => {
  it("answers bytes that are no known transport with BAD_MAGIC", async () => {
    const dp = await fx.start();
    const party = await rawParty(dp.port);
    party.stream.write("HELO relay\r\n");
    expect(await party.errorCode()).toBe("BAD_MAGIC");
  });

  it("answers a TLS handshake sent on the plain Flock path with HELLO_TOO_LARGE", async () => {
    const dp = await fx.start();
    const party = await rawParty(dp.port);
    party.stream.write(MAGIC);
    await party.readChallenge();
    // A ClientHello record header read as a frame length declares ~369 MB.
    party.stream.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
    expect(await party.errorCode()).toBe("HELLO_TOO_LARGE");
  });

  it("answers TLS nested inside TLS with BAD_MAGIC, inside the outer TLS", async () => {
    const dp = await fx.start();
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: dp.port,
      ca: fx.relayCa.certPem,
      servername: "localhost",
    });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    const party = new TestParty({
      stream: socket,
      gone: new Promise(() => {}),
      abort: () => socket.destroy(),
      tcpEnd: new Promise(() => {}),
    });
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10]));
    expect(await party.errorCode()).toBe("BAD_MAGIC");
  });

  it("closes a connection whose TLS handshake is garbage, and counts it", async () => {
    const dp = await fx.start();
    const party = await rawParty(dp.port);
    // A ClientHello record whose one-byte body cannot be decoded.
    party.stream.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]));
    await ended(party);
    await expect.poll(() => errorCount(dp, "TLS_HANDSHAKE_FAILED")).toBe(1);
  });

  it("closes a TLS handshake that stalls past the handshake deadline", async () => {
    const dp = await fx.start({ helloDeadlineMs: 150 });
    const party = await rawParty(dp.port);
    party.stream.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]));
    await ended(party);
    expect(await errorCount(dp, "HELLO_TIMEOUT")).toBe(1);
  });

  it("refuses a frame header declaring more than MAX_FRAME_BYTES before any body arrives", async () => {
    const dp = await fx.start();
    const party = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await party.readChallenge();
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    party.stream.write(header);
    expect(await party.errorCode()).toBe("HELLO_TOO_LARGE");
  });

  it("accepts a hello of exactly MAX_FRAME_BYTES as far as the size goes", async () => {
    const dp = await fx.start();
    const party = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await party.readChallenge();
    const padding = "x".repeat(MAX_FRAME_BYTES - JSON.stringify({ type: "hello", ticket: "" }).length);
    party.send({ type: "hello", ticket: padding });
    expect(await party.errorCode()).toBe("TICKET_INVALID");
  });

  it("answers HELLO_TIMEOUT when no hello arrives within the handshake deadline", async () => {
    const dp = await fx.start({ helloDeadlineMs: 150 });
    const party = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await party.readChallenge();
    expect(await party.errorCode()).toBe("HELLO_TIMEOUT");
  });

  it("answers HELLO_TIMEOUT to a connection that sends nothing at all", async () => {
    const dp = await fx.start({ helloDeadlineMs: 150 });
    const party = await rawParty(dp.port);
    expect(await party.errorCode()).toBe("HELLO_TIMEOUT");
  });

  it("answers HELLO_TIMEOUT once magicDeadlineMs passes without MAGIC, long before the hello deadline", async () => {
    const dp = await fx.start({ magicDeadlineMs: 100, helloDeadlineMs: 5_000 });
    const stalled = {
      type: "error",
      code: "HELLO_TIMEOUT",
      message: "No Flock MAGIC arrived within 100 ms.",
    };
    const partOfMagic = await rawParty(dp.port);
    partOfMagic.stream.write(MAGIC.subarray(0, 2));
    expect(await partOfMagic.frame()).toEqual(stalled);
    // Over TLS the MAGIC comes after the TLS handshake, and the same deadline holds.
    const tls = new TestParty(
      await openTransport({ transport: "tls", port: dp.port, relayCaPem: fx.relayCa.certPem }),
    );
    expect(await tls.frame()).toEqual(stalled);
    // Once MAGIC is in, the hello deadline rules: a hello well after magicDeadlineMs is still read.
    const late = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await late.readChallenge();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await late.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
    expect(await late.frame()).toEqual({ type: "waiting" });
  });

  it("answers HELLO_TIMEOUT to a TLS client that stalls after the TLS handshake", async () => {
    const dp = await fx.start({ helloDeadlineMs: 150 });
    const party = await TestParty.dial({ transport: "tls", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await party.readChallenge();
    expect(await party.errorCode()).toBe("HELLO_TIMEOUT");
  });

  it("accepts MAGIC and a hello that arrive one byte at a time", async () => {
    const dp = await fx.start();
    const party = await rawParty(dp.port);
    const trickle = async (bytes: Uint8Array) => {
      for (const byte of bytes) {
        party.stream.write(Buffer.from([byte]));
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await trickle(MAGIC);
    const { nonce } = await party.readChallenge();
    const ticket = await fx.ticket(fx.a, fx.b);
    const { sha256, toBase64Url } = await import("../../protocol/encoding.ts");
    const binding = toBase64Url(await sha256(ticket));
    await trickle(
      encodeFrame({
        type: "hello",
        ticket,
        cert: certField(fx.a),
        sig: proofSignature(fx.a, nonce, binding),
      }),
    );
    expect(await party.frame()).toEqual({ type: "waiting" });
  });

  it("answers a hello that is not JSON of the expected shape with BAD_FRAME", async () => {
    const dp = await fx.start();
    const party = await TestParty.dial({ transport: "tcp", port: dp.port, relayCaPem: fx.relayCa.certPem });
    await party.readChallenge();
    const body = Buffer.from('{"type":"hello"}');
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    header.writeUInt32BE(body.length);
    party.stream.write(Buffer.concat([header, body]));
    expect(await party.errorCode()).toBe("BAD_FRAME");
  });

  it("survives peers that die at every step of the handshake, and still pairs others", async () => {
    const dp = await fx.start();
    const port = dp.port;
    // Connect and vanish; MAGIC then reset; half a hello then reset; half a TLS handshake; half an upgrade.
    const dying: Array<() => Promise<void>> = [
      async () => (await rawParty(port)).abort(),
      async () => {
        const p = await rawParty(port);
        p.stream.write(MAGIC);
        p.abort();
      },
      async () => {
        const p = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
        await p.readChallenge();
        p.stream.write(encodeFrame({ type: "hello", ticket: "x".repeat(100) }).subarray(0, 40));
        p.abort();
      },
      async () => {
        const p = await rawParty(port);
        p.stream.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
        p.abort();
      },
      async () => {
        const p = await rawParty(port);
        p.stream.write("GET / HTTP/1.1\r\nHost: x\r\n");
        p.abort();
      },
      async () => {
        const p = await TestParty.dial({ transport: "ws", port, relayCaPem: fx.relayCa.certPem });
        p.abort();
      },
      async () => {
        // Verified and waiting, then gone: the slot must be freed, not paired with a corpse.
        const p = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
        await p.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
        expect(await p.frame()).toEqual({ type: "waiting" });
        p.abort();
        await p.gone;
      },
    ];
    for (const die of dying) await die();
    await expect.poll(() => dp.waitingSides()).toBe(0);

    const a = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
    await a.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
    const b = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
    await b.sendTicket(await fx.ticket(fx.b, fx.a), fx.b);
    await Promise.all([a.paired(), b.paired()]);
  });

  it("treats a connection closed before any byte as gone, not as an error", async () => {
    const dp = await fx.start();
    const socket = netConnect({ host: "127.0.0.1", port: dp.port });
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.end();
    await new Promise((resolve) => socket.once("close", resolve));
    expect(await errorCount(dp, "BAD_MAGIC")).toBe(0);
    await expect(
      new TestParty({
        stream: socket,
        gone: Promise.resolve(),
        abort: () => {},
        tcpEnd: Promise.resolve("clean"),
      }).frame(),
    ).rejects.toBeInstanceOf(ConnectionGone);
  });
});

describe("connections still in their handshake", () => {
  /** A plain TCP Flock client that sent MAGIC; resolves with the relay's first frame. */
  async function firstFrame(port: number) {
    const party = await TestParty.dial({ transport: "tcp", port, relayCaPem: fx.relayCa.certPem });
    return { party, frame: await party.frame() };
  }

  for (const [limit, message] of [
    [
      "maxHandshakingConnections",
      "The data plane has too many connections still in their handshake; retry shortly.",
    ],
    [
      "maxHandshakingPerPrefix",
      "The network 127.0.0.0/24 has too many connections still in their handshake; retry shortly.",
    ],
  ] as const) {
    it(`refuses past ${limit} with OVER_CAPACITY, and counts an authenticated side out`, async () => {
      const dp = await fx.start({ [limit]: 2 });
      const first = await firstFrame(dp.port);
      const second = await firstFrame(dp.port);
      expect([first.frame.type, second.frame.type]).toEqual(["challenge", "challenge"]);
      expect((await firstFrame(dp.port)).frame).toEqual({ type: "error", code: "OVER_CAPACITY", message });

      // Authenticated and waiting: no longer handshaking, so one more may start.
      first.party.challenge = first.frame.type === "challenge" ? first.frame : undefined;
      await first.party.sendTicket(await fx.ticket(fx.a, fx.b), fx.a);
      expect(await first.party.frame()).toEqual({ type: "waiting" });
      expect((await firstFrame(dp.port)).frame.type).toBe("challenge");
      // A refused or closed connection gives its place back too.
      second.party.abort();
      await second.party.gone;
      await expect.poll(async () => (await firstFrame(dp.port)).frame.type).toBe("challenge");
    });
  }
});

describe("after an ERROR frame", () => {
  it("closes a connection whose client never closes its side, once errorLingerMs has passed", async () => {
    const dp = await fx.start({ errorLingerMs: 100 });
    const party = await rawParty(dp.port);
    party.stream.write("garbage!");
    expect(await party.errorCode()).toBe("BAD_MAGIC");
    // The client keeps its half open and does not close; the relay lets go anyway.
    await expect.poll(() => dp.openConnections()).toBe(0);
  });
});
