/** Host names and IP addresses a data plane is reached at; each becomes a SAN of its certificate. */
const DOTTED_QUAD = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const MAX_IPV6_CHARS = 45;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export type HostKind = "ip" | "dns";

/** "ip" or "dns" for a valid host, undefined for anything else. */
export function hostKind(host: string): HostKind | undefined {
  if (DOTTED_QUAD.test(host))
    return host.split(".").every((octet) => IPV4_OCTET.test(octet)) ? "ip" : undefined;
  if (host.includes(":")) return isIpv6(host) ? "ip" : undefined;
  // A numeric last label is no TLD: "1.2.3" or "10" would be read as IPv4 shorthand by inet_aton.
  const numericTail = /(^|\.)\d+$/.test(host);
  return HOSTNAME.test(host) && !numericTail ? "dns" : undefined;
}

function isIpv6(host: string): boolean {
  if (host.length > MAX_IPV6_CHARS || !/^[0-9A-Fa-f:.]+$/.test(host)) return false;
  try {
    // The WHATWG URL parser implements the full RFC 4291 text syntax.
    return new URL(`http://[${host}]/`).hostname.startsWith("[");
  } catch {
    return false;
  }
}
