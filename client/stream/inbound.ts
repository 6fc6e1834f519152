import { badFrame } from "./control-frames.ts";

/** A lone acknowledgement waits at most this long for more bytes to cover. */
export const ACK_DELAY_MS = 5;

/**
 * The peer's direction of a framed stream: DATA must come at the next offset and END must
 * carry the count that arrived. Acknowledgements go out once a quarter of the peer's window
 * is unacknowledged, or ACK_DELAY_MS after the first byte they would cover.
 */
export class Inbound {
  #received = 0;
  #endReceived = false;
  #acknowledged = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  #peerWindow: number;
  readonly #sendAck: () => void;

  constructor(peerWindow: number, sendAck: () => void) {
    this.#peerWindow = peerWindow;
    this.#sendAck = sendAck;
  }

  get received(): number {
    return this.#received;
  }

  get endReceived(): boolean {
    return this.#endReceived;
  }

  /** A piece of DATA at `offset`; may send an ACK. */
  data(offset: number, length: number): void {
    if (this.#endReceived) throw badFrame("DATA after END");
    if (offset !== this.#received) throw badFrame(`DATA at offset ${offset}, expected ${this.#received}`);
    this.#received += length;
    if (this.#received - this.#acknowledged >= this.#peerWindow / 4) this.#sendAck();
    else this.#ackTimer ??= setTimeout(() => this.#sendAck(), ACK_DELAY_MS);
  }

  end(total: number): void {
    if (this.#endReceived) throw badFrame("a second END");
    if (total !== this.#received) throw badFrame(`END says ${total} bytes, ${this.#received} arrived`);
    this.#endReceived = true;
  }

  /** An ACK of everything received is being sent. */
  acknowledged(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#acknowledged = this.#received;
  }

  /** A resumed transport: the peer learned our position from RESUME; its window may differ. */
  restart(peerWindow: number): void {
    this.#peerWindow = peerWindow;
    this.acknowledged();
  }

  stop(): void {
    clearTimeout(this.#ackTimer);
  }
}
