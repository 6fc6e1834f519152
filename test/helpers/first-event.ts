import type { EventEmitter } from "node:events";

/**
 * Resolves with the first of `events` that `emitter` emits, and takes its listeners for all of
 * them off then. A `once` per event would leave the others behind at every wait: waited on at
 * each backpressured write, a stream gathers one `close` listener per `drain` (the leak Node's
 * MaxListenersExceededWarning names).
 */
export function firstEvent<E extends string>(emitter: EventEmitter, events: readonly E[]): Promise<E> {
  return new Promise((resolve) => {
    const listeners = events.map((event) => {
      const listener = () => {
        for (const [name, other] of listeners) emitter.off(name, other);
        resolve(event);
      };
      return [event, listener] as const;
    });
    for (const [name, listener] of listeners) emitter.on(name, listener);
  });
}
