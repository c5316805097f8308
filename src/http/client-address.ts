/** Hextets of an IPv6 address that name its network: one client usually holds a whole /64. */
const IPV6_NETWORK_HEXTETS = 4;

/**
 * Whose socket this is: an IPv4 address, or the /64 network of an IPv6 address (one client gets
 * a /64 from its provider, and could otherwise open sockets from 2^64 addresses).
 */
export function clientOfAddress(address: string): string {
  if (!address.includes(":") || address.includes(".")) return address; // IPv4, or IPv4 mapped into IPv6
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const headHextets = head ? head.split(":") : [];
  const tailHextets = tail ? tail.split(":") : [];
  const zeros = Array<string>(Math.max(0, 8 - headHextets.length - tailHextets.length)).fill("0");
  const hextets = address.includes("::") ? [...headHextets, ...zeros, ...tailHextets] : headHextets;
  return `${hextets.slice(0, IPV6_NETWORK_HEXTETS).map((h) => h.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
