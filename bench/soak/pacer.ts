/**
 * Spreads faults over a run whose length nobody knows in advance: a fault due at fraction f
 * of the run fires once f of the pairs have started (or once every pair has finished).
 */
export class Pacer {
  readonly #total: number;
  #started = 0;
  #finished = false;
  #waiters: Array<{ fraction: number; resolve: () => void }> = [];

  constructor(total: number) {
    this.#total = total;
  }

  /** Resolves once `fraction` (0..1) of the pairs have started. */
  reach(fraction: number): Promise<void> {
    if (this.#passed(fraction)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ fraction, resolve }));
  }

  pairStarted(): void {
    this.#started++;
    this.#wake();
  }

  /** Every pair is done: whatever is still due fires now. */
  finish(): void {
    this.#finished = true;
    this.#wake();
  }

  get finished(): boolean {
    return this.#finished;
  }

  #passed(fraction: number): boolean {
    return this.#finished || this.#started >= fraction * this.#total;
  }

  #wake(): void {
    const due = this.#waiters.filter((w) => this.#passed(w.fraction));
    this.#waiters = this.#waiters.filter((w) => !this.#passed(w.fraction));
    for (const w of due) w.resolve();
  }
}
