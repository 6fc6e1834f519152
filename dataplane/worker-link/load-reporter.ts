import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Logger } from "pino";
import type { RelayLoad, RelayReportResponse } from "../../protocol/api.ts";
import type { SignedRequestAlg } from "../../protocol/signed-request.ts";
import { SIGNED_REQUEST_CONTENT_TYPE, signRequest } from "../../protocol/signed-request.ts";
import { RELAY_REPORT_PATH } from "../../protocol/wire.ts";
import { certificateThumbprintSync } from "../admission/party-proof.ts";

export interface LoadSnapshot {
  activePairs: number;
  waitingSides: number;
  /** Total spliced bytes so far; the reporter turns it into bytes per second. */
  splicedBytes: number;
  capacity: number;
}

export interface LoadReporterOptions {
  workerUrl: string;
  certPem: string;
  keyPem: string;
  requestTimeoutMs: number;
  logger: Logger;
  load(): LoadSnapshot;
  apply(answer: RelayReportResponse): void;
  /** The worker refused a report with RELAY_REVOKED: this data plane must stop serving. */
  revoked(): void;
}

function isReportResponse(value: unknown): value is RelayReportResponse {
  const v = value as Partial<RelayReportResponse> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    Array.isArray(v.revokedFingerprints) &&
    v.revokedFingerprints.every((f) => typeof f === "string") &&
    Array.isArray(v.ticketKids) &&
    v.ticketKids.every((k) => typeof k === "string")
  );
}

/**
 * Tells the worker this data plane is alive and how loaded it is, signed with the relay's
 * server key (kid = thumbprint of its certificate), and applies what the worker answers:
 * revoked parties and live ticket key ids. When the worker is unreachable it logs and keeps
 * what it last learned; the next tick tries again.
 */
export class LoadReporter {
  readonly #options: LoadReporterOptions;
  readonly #key;
  readonly #alg: SignedRequestAlg;
  readonly #kid: string;
  #timer: NodeJS.Timeout | undefined;
  #intervalMs = 0;
  #last = { at: Date.now(), bytes: 0 };
  #failing = false;

  constructor(options: LoadReporterOptions) {
    this.#options = options;
    this.#key = createPrivateKey(options.keyPem);
    this.#alg = this.#key.asymmetricKeyType === "rsa" ? "RS256" : "ES256";
    this.#kid = certificateThumbprintSync(new X509Certificate(options.certPem));
  }

  start(intervalMs: number): void {
    this.#intervalMs = intervalMs;
    this.#schedule(0);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#intervalMs = 0;
  }

  async reportNow(): Promise<void> {
    const snapshot = this.#options.load();
    const now = Date.now();
    const seconds = Math.max((now - this.#last.at) / 1000, 0.001);
    const load: RelayLoad = {
      activePairs: snapshot.activePairs,
      waitingSides: snapshot.waitingSides,
      bytesPerSecond: Math.round((snapshot.splicedBytes - this.#last.bytes) / seconds),
      capacity: snapshot.capacity,
    };
    this.#last = { at: now, bytes: snapshot.splicedBytes };
    try {
      const body = await signRequest(this.#key, this.#alg, this.#kid, "POST", RELAY_REPORT_PATH, load);
      const response = await fetch(`${this.#options.workerUrl}${RELAY_REPORT_PATH}`, {
        method: "POST",
        headers: { "content-type": SIGNED_REQUEST_CONTENT_TYPE },
        body,
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs),
      });
      const answer: unknown = await response.json().catch(() => undefined);
      if (!response.ok) {
        const code = (answer as { code?: string } | undefined)?.code;
        if (response.status === 403 && code === "RELAY_REVOKED") {
          this.stop();
          this.#options.revoked();
          return;
        }
        throw new Error(`HTTP ${response.status}${code ? ` ${code}` : ""}`);
      }
      if (!isReportResponse(answer)) throw new Error("the answer is not a RelayReportResponse");
      this.#options.apply(answer);
      if (this.#failing) this.#options.logger.info("load reports reach the worker again");
      this.#failing = false;
      if (answer.reportIntervalSeconds > 0 && this.#intervalMs > 0) {
        this.#intervalMs = answer.reportIntervalSeconds * 1000;
      }
    } catch (error) {
      // Logged once per outage, not once per tick.
      if (!this.#failing) {
        this.#options.logger.warn(
          { err: (error as Error).message },
          "load report failed; keeping the last revocations and keys",
        );
      }
      this.#failing = true;
    }
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(async () => {
      await this.reportNow();
      if (this.#intervalMs > 0) this.#schedule(this.#intervalMs);
    }, delayMs);
    this.#timer.unref();
  }
}
