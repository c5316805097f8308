import ipaddr from "ipaddr.js";

/** Hextets of an IPv6 address that name its network: one client usually holds a whole /64. */
const IPV6_NETWORK_HEXTETS = 4;

/**
 * Whose socket this is: an IPv4 address, or the /64 network of an IPv6 address (one client gets
 * a /64 from its provider, and could otherwise open sockets from 2^64 addresses). IPv6 is read
 * by ipaddr.js; an IPv4 address mapped into IPv6, or anything that is no IPv6 address, is kept as it is.
 */
export function clientOfAddress(address: string): string {
  if (!address.includes(":") || !ipaddr.IPv6.isValid(address)) return address;
  const ip = ipaddr.IPv6.parse(address);
  if (ip.isIPv4MappedAddress()) return address;
  return `${ip.parts
    .slice(0, IPV6_NETWORK_HEXTETS)
    .map((hextet) => hextet.toString(16))
    .join(":")}::/64`;
}

const TENANT_CLIENT = "tenant ";

/** The client a signed-in request is weighed as where clients take turns: its tenant, from however many addresses. */
export function clientOfTenant(tenant: number): string {
  return `${TENANT_CLIENT}${tenant}`;
}

/** Whether `client` names a signed-in tenant (clientOfTenant), not an address. */
export function isTenantClient(client: string): boolean {
  return client.startsWith(TENANT_CLIENT);
}
