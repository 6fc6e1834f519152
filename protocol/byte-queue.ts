/**
 * Bytes that arrive in chunks, kept as they came and copied at most once, when taken. A
 * parser fed one byte at a time then does linear work: re-copying everything buffered on
 * each chunk makes a 16 KiB hello sent byte by byte cost 134 MB of copies.
 */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The byte at `offset` (< length), without copying; cheap near the front. */
  byteAt(offset: number): number {
    let at = offset;
    for (const chunk of this.#chunks) {
      if (at < chunk.length) return chunk[at] as number;
      at -= chunk.length;
    }
    throw new RangeError(`offset ${offset} is past the ${this.#length} bytes queued`);
  }

  /** Removes and returns the first `count` bytes: a view when one chunk holds them, else one copy. */
  take(count: number): Uint8Array {
    if (count > this.#length) throw new RangeError(`cannot take ${count} of ${this.#length} bytes`);
    const first = this.#chunks[0];
    if (count === 0 || first === undefined) return new Uint8Array(0);
    if (first.length >= count) {
      this.#dropFront(count);
      return first.subarray(0, count);
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0] as Uint8Array;
      const piece = chunk.subarray(0, count - filled);
      out.set(piece, filled);
      filled += piece.length;
      this.#dropFront(piece.length);
    }
    return out;
  }

  #dropFront(count: number): void {
    const first = this.#chunks[0] as Uint8Array;
    this.#length -= count;
    if (count === first.length) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(count);
  }
}
