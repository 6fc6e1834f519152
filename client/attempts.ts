import type { Duplex } from "node:stream";
import { FlockError } from "../protocol/errors.ts";
import { backoffMs, isRetryable } from "./retry.ts";

/** Registers a stream to destroy if the deadline passes; `signal` aborts the ticket request. */
export interface Track {
  (resource: Duplex): void;
  signal: AbortSignal;
}

export type RetryEvent = { type: "retry"; error: FlockError; attempt: number; delayMs: number };

/**
 * Runs `attempt` until it succeeds, retrying with a fresh try and backoff the failures that
 * can cure themselves, until `deadlineMs` has passed (CONNECT_TIMEOUT) or `signal` aborts.
 */
export async function retryUntil<T>(
  deadlineMs: number,
  attempt: (track: Track) => Promise<T>,
  onRetry: (event: RetryEvent) => void,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let lastError: FlockError | undefined;
  for (let n = 0; ; n++) {
    try {
      return await attemptBefore(deadline, deadlineMs, attempt, lastError, signal);
    } catch (error) {
      const flockError = asFlockError(error);
      if (flockError.code === "CONNECT_TIMEOUT" || !isRetryable(flockError.code)) throw flockError;
      lastError = flockError;
      const delayMs = backoffMs(n);
      if (Date.now() + delayMs >= deadline) throw timeoutError(deadlineMs, lastError);
      onRetry({ type: "retry", error: flockError, attempt: n + 1, delayMs });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (signal?.aborted) throw timeoutError(deadlineMs, lastError);
    }
  }
}

/**
 * Runs one attempt, but gives up at the deadline (or when `signal` aborts): every stream the
 * attempt opened is destroyed, so nothing is left dangling, and the caller gets CONNECT_TIMEOUT.
 */
function attemptBefore<T>(
  deadline: number,
  deadlineMs: number,
  run: (track: Track) => Promise<T>,
  lastError: FlockError | undefined,
  signal: AbortSignal | undefined,
): Promise<T> {
  const resources: Duplex[] = [];
  const abort = new AbortController();
  const remaining = deadline - Date.now();
  return new Promise<T>((resolve, reject) => {
    const giveUp = () => {
      clearTimeout(timer);
      abort.abort();
      for (const r of resources) r.destroy();
      reject(timeoutError(deadlineMs, lastError));
    };
    const timer = setTimeout(giveUp, Math.max(0, remaining));
    if (signal?.aborted) giveUp();
    signal?.addEventListener("abort", giveUp, { once: true });
    const track = Object.assign(
      (resource: Duplex) => {
        if (abort.signal.aborted) resource.destroy();
        else resources.push(resource);
      },
      { signal: abort.signal },
    );
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", giveUp);
    };
    run(track).then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}

function timeoutError(deadlineMs: number, lastError: FlockError | undefined): FlockError {
  const last = lastError ? ` Last failure: ${lastError.message} (${lastError.code})` : "";
  return new FlockError(
    "CONNECT_TIMEOUT",
    `No end-to-end channel within ${Math.round(deadlineMs)} ms.${last}`,
    lastError ? { cause: lastError } : undefined,
  );
}

export function asFlockError(error: unknown): FlockError {
  if (error instanceof FlockError) return error;
  return new FlockError("INTERNAL", error instanceof Error ? error.message : String(error), { cause: error });
}
