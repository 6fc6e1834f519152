/** Host names and IP addresses a data plane is reached at; each becomes a SAN of its certificate. */
const DOTTED_QUAD = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const MAX_IPV6_CHARS = 45;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export type HostKind = "ip" | "dns";

export interface Host {
  kind: HostKind;
  /** IPv6 in canonical (RFC 5952) form; everything else as given. */
  value: string;
}

/** The host's kind and canonical text, or undefined if it is no valid host. */
export function parseHost(host: string): Host | undefined {
  if (DOTTED_QUAD.test(host)) {
    return host.split(".").every((octet) => IPV4_OCTET.test(octet)) ? { kind: "ip", value: host } : undefined;
  }
  if (host.includes(":")) {
    const value = canonicalIpv6(host);
    return value === undefined ? undefined : { kind: "ip", value };
  }
  // A numeric last label is no TLD: "1.2.3" or "10" would be read as IPv4 shorthand by inet_aton.
  const numericTail = /(^|\.)\d+$/.test(host);
  return HOSTNAME.test(host) && !numericTail ? { kind: "dns", value: host } : undefined;
}

/**
 * The WHATWG URL parser implements the full RFC 4291 text syntax and prints RFC 5952 form,
 * which also turns an embedded IPv4 tail ("::ffff:1.2.3.4") into hex groups: the only form
 * the certificate library encodes correctly.
 */
function canonicalIpv6(host: string): string | undefined {
  if (host.length > MAX_IPV6_CHARS || !/^[0-9A-Fa-f:.]+$/.test(host)) return undefined;
  try {
    const bracketed = new URL(`http://[${host}]/`).hostname;
    return bracketed.startsWith("[") ? bracketed.slice(1, -1) : undefined;
  } catch {
    return undefined;
  }
}
