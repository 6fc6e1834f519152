import { createServer } from "node:net";
import { UserError } from "../output.ts";

/** Probes a port before a server binds it: workerd's own message for a busy port is vague. */
export function assertPortFree(host: string, port: number, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new UserError(`Port ${port} on ${host} is in use; stop what runs there or pass ${flag}.`)
          : error,
      );
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
