import type { Server as HttpServer } from "node:http";
import type { AddressInfo, Server } from "node:net";

/** Listens and resolves with the port (the one picked when asked for 0). */
export function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
