import { FlockError } from "./errors.ts";

/** The largest TCP port number. */
export const MAX_PORT = 65535;

export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT = /^(?:\[([^\]\s]+)\]|([^:[\]\s]+)):(\d{1,5})$/;

/**
 * `host:port` or `[v6]:port` (RELAY, `--relay`, the tunnel's addresses), port 1-65535; port 0
 * (any free port) too with `anyPort`, where a socket listens.
 */
export function parseHostPort(value: string, { anyPort = false } = {}): HostPort {
  const m = HOST_PORT.exec(value.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const lowest = anyPort ? 0 : 1;
  if (!host || !(port >= lowest && port <= MAX_PORT)) {
    throw new FlockError(
      "CONFIG_INVALID",
      `"${value}" is not host:port with a port from ${lowest} to ${MAX_PORT}.`,
    );
  }
  return { host, port };
}

/** The inverse of parseHostPort: an IPv6 literal (the only host with a colon) in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
