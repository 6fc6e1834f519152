import type { Server } from "node:http";
import { createServer } from "node:http";
import { listen } from "./listen.ts";
import type { DataPlaneMetrics } from "./metrics.ts";

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves the Prometheus text format at GET /metrics, and 404 elsewhere. */
export async function serveMetrics(
  metrics: DataPlaneMetrics,
  port: number,
  host: string,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("Metrics are at /metrics.\n");
    }
  });
  return {
    port: await listen(server, port, host),
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Scrapers keep connections alive; close() alone would wait for them to time out.
      server.closeAllConnections();
      return closed;
    },
  };
}
