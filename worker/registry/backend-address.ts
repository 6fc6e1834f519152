/**
 * Whether a backend's apihost points inside a network rather than at a public deployment: a
 * worker that fetches loopback, link-local (169.254.169.254 is the cloud metadata service) or
 * private addresses on an admin's word can be turned against what sits beside it. Registering
 * one needs an explicit allowPrivateAddress. Only what the URL itself says is judged: a public
 * name that resolves to a private address is not caught (a worker cannot resolve names), and
 * Cloudflare's own fetch does not reach private networks anyway; workerd on a host does.
 */

/** Special-use names that never leave the local network (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal). */
const PRIVATE_NAME_SUFFIXES = ["localhost", "local", "internal", "home.arpa"];

/** IPv4 ranges that are not the public internet (RFC 6890), with what they are. */
const PRIVATE_IPV4: Array<[base: string, prefixBits: number, kind: string]> = [
  ["0.0.0.0", 8, "this-network"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "carrier-grade NAT"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "IETF protocol"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["224.0.0.0", 3, "multicast or reserved"],
];

/**
 * What kind of non-public address `hostname` (as the WHATWG URL parser leaves it: lower case,
 * IPv4 in dotted decimal even when written in hex or as one number, IPv6 in brackets) is, or
 * undefined for a public one.
 */
export function privateAddressKind(hostname: string): string | undefined {
  const host = hostname.replace(/\.$/, "");
  if (host.startsWith("[")) return ipv6Kind(host.slice(1, -1));
  const v4 = parseIpv4(host);
  if (v4 !== undefined) return ipv4Kind(v4);
  const special = PRIVATE_NAME_SUFFIXES.find((suffix) => host === suffix || host.endsWith(`.${suffix}`));
  return special === undefined ? undefined : `.${special} name`;
}

function parseIpv4(host: string): number | undefined {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function ipv4Kind(address: number): string | undefined {
  for (const [base, bits, kind] of PRIVATE_IPV4) {
    const size = 2 ** (32 - bits);
    const start = parseIpv4(base) ?? 0;
    if (address >= start && address < start + size) return kind;
  }
  return undefined;
}

/** The eight 16-bit groups of an IPv6 address in the URL parser's compressed form. */
function ipv6Groups(text: string): number[] | undefined {
  const [head = "", tail, extra] = text.split("::");
  if (extra !== undefined) return undefined;
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all =
    tail === undefined ? front : [...front, ...Array(8 - front.length - back.length).fill(0), ...back];
  return all.length === 8 && all.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? all : undefined;
}

function ipv6Kind(text: string): string | undefined {
  const g = ipv6Groups(text);
  if (!g) return "unparsable IPv6";
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embeddedV4 = g6 * 65536 + g7;
  if (g.slice(0, 7).every((x) => x === 0))
    return g7 === 1 ? "loopback" : g7 === 0 ? "unspecified" : "IPv4-compatible";
  // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64) reach the IPv4 address they carry.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return ipv4Kind(embeddedV4);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return ipv4Kind(embeddedV4);
  if ((g0 & 0xfe00) === 0xfc00) return "unique local";
  if ((g0 & 0xffc0) === 0xfe80) return "link-local";
  if ((g0 & 0xffc0) === 0xfec0) return "site-local";
  if ((g0 & 0xff00) === 0xff00) return "multicast";
  return undefined;
}
