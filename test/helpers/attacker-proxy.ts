import { FRAME_HEADER_BYTES, MAGIC } from "../../protocol/frames.ts";
import { startProxyInFront } from "./proxy-in-front.ts";

/**
 * A relay-side attacker: a TCP proxy in front of a data plane (tcp transport) that passes the
 * Flock handshake through, then follows the end-to-end TLS records flowing from the data plane
 * to one party and cuts that party's connection the way a hostile or broken relay could. It
 * cannot read or forge the records; it can only end or delay the stream.
 */
export type Attack =
  /** FIN to the party exactly after `records` whole TLS records (a TLS record boundary). */
  | { kind: "fin-at-boundary"; records: number }
  /** FIN to the party in the middle of the record after `records` whole ones. */
  | { kind: "fin-mid-record"; records: number }
  /** A TCP RST on both legs after `records` records. */
  | { kind: "reset"; records: number }
  /** From `records` records on, nothing more reaches the party, and nothing of its gets through: a dead path. */
  | { kind: "drop"; records: number }
  /** From PAIRED on, everything either way arrives `ms` late, in order: a slow path that stays live. */
  | { kind: "slow"; ms: number };

export interface AttackerProxy {
  port: number;
  /** Connections attacked so far. */
  readonly attacked: number;
  close(): Promise<void>;
}

export interface AttackPlan {
  /**
   * Which connections to attack: those whose hello names this `dest` (the party's peer; direct
   * mode), or without it every connection (a ticket's hello names no party).
   */
  dest?: string;
  /** The attack on the first such connection, the second, ...; later ones pass, so a resume can heal. */
  attacks: Attack[];
}

/** `listenPort`: a registered relay's port, so that tickets send parties through the attacker. */
export async function startAttackerProxy(
  target: { port: number },
  plan: AttackPlan,
  listenPort = 0,
): Promise<AttackerProxy> {
  let attacked = 0;
  const proxy = await startProxyInFront(
    target,
    (party, relay) => {
      let marked: boolean | undefined;
      let attack: Attack | undefined;
      const fromParty = new HandshakeReader(true);
      const toParty = new HandshakeReader(false);
      let dropped = false;
      // Equal timeouts fire in the order they were set, so a slow path keeps the bytes in order.
      const slow = (send: () => void) => {
        if (attack?.kind === "slow" && toParty.inTls) setTimeout(send, attack.ms);
        else send();
      };
      party.on("data", (chunk: Buffer) => {
        if (dropped) return;
        if (marked === undefined) {
          const hello = fromParty.firstFrame(chunk);
          if (hello !== undefined) {
            const meant = plan.dest === undefined || hello.includes(`"dest":"${plan.dest}"`);
            attack = meant ? plan.attacks[attacked] : undefined;
            marked = attack !== undefined;
            if (marked) attacked++;
          }
        }
        slow(() => relay.write(chunk));
      });
      relay.on("data", (chunk: Buffer) => {
        if (dropped) return;
        if (!attack) return void party.write(chunk);
        if (attack.kind === "slow") return void slowToParty(chunk);
        cutToParty(chunk, attack);
      });
      const slowToParty = (chunk: Buffer) => {
        const tls = toParty.tlsOffset(chunk);
        if (tls === undefined) return void party.write(chunk);
        if (tls > 0) party.write(chunk.subarray(0, tls));
        slow(() => party.write(chunk.subarray(tls)));
      };
      const cutToParty = (chunk: Buffer, attack: Exclude<Attack, { kind: "slow" }>) => {
        const cut = toParty.findCut(chunk, attack);
        if (cut === undefined) return void party.write(chunk);
        party.write(chunk.subarray(0, cut));
        const { kind } = attack;
        if (kind === "fin-at-boundary" || kind === "fin-mid-record") {
          dropped = true;
          party.end();
          relay.destroy();
        } else if (kind === "reset") {
          dropped = true;
          party.resetAndDestroy();
          relay.resetAndDestroy();
        } else dropped = true;
      };
      party.on("end", () => slow(() => relay.end()));
      relay.on("end", () => {
        if (!dropped) slow(() => party.end());
      });
      party.on("close", () => slow(() => relay.destroy()));
      relay.on("close", () => {
        if (!dropped) slow(() => party.destroy());
      });
    },
    listenPort,
  );
  return {
    port: proxy.port,
    get attacked() {
      return attacked;
    },
    close: () => proxy.close(),
  };
}

/**
 * Follows one direction: MAGIC (party side only), Flock frames (4-byte length + JSON) up to
 * PAIRED, then TLS records (5-byte header, 2-byte length at offset 3), counting them.
 */
class HandshakeReader {
  #buffer = Buffer.alloc(0);
  readonly #magic: number;
  #inTls = false;
  /** TLS bytes seen after PAIRED; where the next record header starts; records whose header was read. */
  #tlsBytes = 0;
  #nextHeader = 0;
  readonly #header = Buffer.alloc(5);
  #headerHave = 0;
  #records = 0;
  /** A cut decided for a TLS offset not yet reached (mid-record). */
  #cutAt: number | undefined;

  constructor(fromParty: boolean) {
    this.#magic = fromParty ? MAGIC.length : 0;
  }

  /** The text of the first frame, once it is whole (the party's hello). */
  firstFrame(chunk: Buffer): string | undefined {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    const body = this.#buffer.subarray(this.#magic);
    if (body.length < FRAME_HEADER_BYTES) return undefined;
    const length = body.readUInt32BE(0);
    if (body.length < FRAME_HEADER_BYTES + length) return undefined;
    return body.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length).toString();
  }

  /** PAIRED has gone by: what follows is the end-to-end TLS. */
  get inTls(): boolean {
    return this.#inTls;
  }

  /** Where the end-to-end TLS starts in `chunk` (0 once it has), or undefined if not yet. */
  tlsOffset(chunk: Buffer): number | undefined {
    return this.#inTls ? 0 : this.#skipFrames(chunk);
  }

  /** Where in `chunk` to cut for `attack`, or undefined to pass it all. */
  findCut(chunk: Buffer, attack: Exclude<Attack, { kind: "slow" }>): number | undefined {
    let at = this.tlsOffset(chunk);
    if (at === undefined) return undefined;
    while (at < chunk.length) {
      if (this.#tlsBytes === this.#cutAt) return at;
      if (this.#tlsBytes < this.#nextHeader) {
        const skip = Math.min(
          this.#nextHeader - this.#tlsBytes,
          chunk.length - at,
          (this.#cutAt ?? Infinity) - this.#tlsBytes,
        );
        at += skip;
        this.#tlsBytes += skip;
        continue;
      }
      if (this.#headerHave === 0 && this.#records === attack.records && attack.kind !== "fin-mid-record")
        return at;
      this.#header[this.#headerHave++] = chunk[at] as number;
      at++;
      this.#tlsBytes++;
      if (this.#headerHave === 5) {
        this.#headerHave = 0;
        this.#records++;
        this.#nextHeader = this.#tlsBytes + this.#header.readUInt16BE(3);
        // Three bytes into the body: every TLS 1.3 record has at least 17.
        if (attack.kind === "fin-mid-record" && this.#records === attack.records + 1)
          this.#cutAt = this.#tlsBytes + 3;
      }
    }
    return this.#tlsBytes === this.#cutAt ? at : undefined;
  }

  /** Reads frames up to PAIRED; answers where TLS starts in `chunk`, or undefined if not yet. */
  #skipFrames(chunk: Buffer): number | undefined {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    let consumed = 0;
    while (this.#buffer.length - consumed >= FRAME_HEADER_BYTES) {
      const length = this.#buffer.readUInt32BE(consumed);
      const end = consumed + FRAME_HEADER_BYTES + length;
      if (this.#buffer.length < end) break;
      const frame = this.#buffer.subarray(consumed + FRAME_HEADER_BYTES, end).toString();
      consumed = end;
      if (frame.includes('"type":"paired"')) {
        this.#inTls = true;
        const tlsInChunk = this.#buffer.length - consumed;
        this.#buffer = Buffer.alloc(0);
        return chunk.length - tlsInChunk;
      }
    }
    return undefined;
  }
}
