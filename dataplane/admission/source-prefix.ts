import { isIPv4, isIPv6 } from "node:net";

/**
 * The network a connection comes from, as `address/bits`: the caps on connections still in
 * their handshake count per network rather than per address, since one host may hold a
 * whole IPv6 /64 (millions of addresses) or a run of IPv4 addresses. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) counts as IPv4. Anything unparsable is its own network.
 */
export function sourcePrefix(address: string, v4Bits: number, v6Bits: number): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const v4 = mapped ?? address;
  if (isIPv4(v4)) return `${maskIPv4(v4, v4Bits)}/${v4Bits}`;
  if (isIPv6(address)) return `${maskIPv6(address, v6Bits)}/${v6Bits}`;
  return address;
}

function maskIPv4(address: string, bits: number): string {
  const value = address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
  const kept = Math.floor(value / 2 ** (32 - bits)) * 2 ** (32 - bits);
  return [24, 16, 8, 0].map((shift) => Math.floor(kept / 2 ** shift) % 256).join(".");
}

/** The address's 16-bit groups with `::` expanded and any zone (`%eth0`) dropped. */
function groupsOf(address: string): number[] {
  const [head = "", tail] = address.split("%")[0]?.split("::") ?? [];
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function maskIPv6(address: string, bits: number): string {
  return groupsOf(address)
    .map((group, i) => {
      const keep = Math.max(0, Math.min(16, bits - i * 16));
      return (group & (0xffff << (16 - keep)) & 0xffff).toString(16);
    })
    .join(":");
}
