import type { Logger } from "pino";
import type { DataPlaneConfig } from "../config.ts";
import { JwksCache } from "./jwks-cache.ts";
import type { LoadSnapshot } from "./load-reporter.ts";
import { LoadReporter } from "./load-reporter.ts";
import { loadRevocationState, saveRevocationState } from "./revocation-state.ts";
import { Revocations } from "./revocations.ts";

export interface WorkerLinkOptions {
  config: Pick<
    DataPlaneConfig,
    "workerUrl" | "certPem" | "keyPem" | "stateFile" | "reportIntervalMs" | "limits"
  >;
  logger: Logger;
  /** The data plane's load, for each report. */
  load(): LoadSnapshot;
  /** Parties the worker newly names as revoked: close what they hold. */
  onPartiesRevoked(fingerprints: readonly string[]): void;
  /** The worker refused a report because this data plane is revoked. */
  onRelayRevoked(): void;
}

/**
 * Everything the data plane learns from the worker: ticket keys (JWKS, refreshed on an
 * unknown kid and from each report's list of live kids), and revoked parties (from each
 * load report's answer, kept in a state file across restarts). When the worker is
 * unreachable the last word stands.
 */
export class WorkerLink {
  readonly jwks: JwksCache;
  readonly revocations = new Revocations();
  readonly #options: WorkerLinkOptions;
  readonly #reporter: LoadReporter;
  /** Saves in the order the lists came, one at a time. */
  #saving = Promise.resolve();

  private constructor(options: WorkerLinkOptions) {
    this.#options = options;
    const { config, logger } = options;
    this.jwks = new JwksCache({
      jwksUrl: `${config.workerUrl}/.well-known/jwks.json`,
      refetchMinIntervalMs: config.limits.jwksRefetchMinIntervalMs,
      requestTimeoutMs: config.limits.workerRequestTimeoutMs,
      logger,
    });
    this.#reporter = new LoadReporter({
      workerUrl: config.workerUrl,
      certPem: config.certPem,
      keyPem: config.keyPem,
      requestTimeoutMs: config.limits.workerRequestTimeoutMs,
      logger,
      load: options.load,
      apply: (answer) => {
        this.#applyRevocations(answer.revokedFingerprints);
        this.jwks.setPublishedKids(answer.ticketKids);
      },
      revoked: options.onRelayRevoked,
    });
  }

  /** Reads the saved revocation list (if any) and starts fetching ticket keys. */
  static async open(options: WorkerLinkOptions): Promise<WorkerLink> {
    const link = new WorkerLink(options);
    void link.jwks.refresh();
    const { stateFile } = options.config;
    if (stateFile !== null) {
      try {
        const saved = await loadRevocationState(stateFile);
        if (saved) link.revocations.replace(saved);
      } catch (error) {
        // Unknown rather than empty: direct mode waits for the first report.
        options.logger.warn({ err: (error as Error).message, stateFile }, "revocation state unreadable");
      }
    }
    return link;
  }

  /** Starts the periodic load reports, unless the configuration turned them off. */
  startReports(): void {
    const { reportIntervalMs } = this.#options.config;
    if (reportIntervalMs !== null) this.#reporter.start(reportIntervalMs);
  }

  /** Sends a load report now, applies the answer and waits until it is saved. */
  async reportNow(): Promise<void> {
    await this.#reporter.reportNow();
    await this.#saving;
  }

  /** Stops reporting and waits for the last save. */
  async close(): Promise<void> {
    this.#reporter.stop();
    await this.#saving;
  }

  #applyRevocations(fingerprints: string[]): void {
    const { revocations } = this;
    const wasKnown = revocations.known;
    const before = revocations.size;
    const added = revocations.replace(fingerprints);
    this.#options.onPartiesRevoked(added);
    const changed = !wasKnown || added.length > 0 || revocations.size !== before;
    const { stateFile } = this.#options.config;
    if (changed && stateFile !== null) this.#save(stateFile);
  }

  #save(stateFile: string): void {
    const list = this.revocations.list();
    this.#saving = this.#saving
      .then(() => saveRevocationState(stateFile, list))
      .catch((error: unknown) =>
        this.#options.logger.warn(
          { err: (error as Error).message, stateFile },
          "could not save the revocation state",
        ),
      );
  }
}
