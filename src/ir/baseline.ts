// What every host needs from the network and no catalog lists: DHCP client
// traffic, and on a cloud its instance metadata, DNS and time endpoints.
// Host targets render these before the catalog's rules; the cloud targets
// do not (security groups and NSGs already exempt the platform endpoints,
// and DHCP happens below them).

import { Cidr, parseAddress } from '../addresses';
import type { Platform } from '../load/profile';
import type { PortRange } from '../ports';
import type { BaselineRule } from './types';

function cidr(text: string): Cidr {
  const r = parseAddress(text);
  if (!r.ok) throw new Error(`internal: bad baseline address ${text}`);
  return r.cidr;
}

const port = (n: number): PortRange => ({ lo: n, hi: n });

/** DHCPv6 (RFC 8415): the client sends from udp 546 to the servers' and
 * relays' multicast ff02::1:2 port 547 and the server replies by unicast
 * from its link-local address to the client's. Connection tracking cannot
 * tie that unicast reply to a multicast request, so the reply needs its
 * own rule; without it a node loses its DHCPv6 address at lease expiry. */
const DHCPV6_REPLY: BaselineRule = {
  id: 'dhcpv6-client-in',
  why: 'DHCPv6 server replies (udp 547 -> 546, link-local to link-local): conntrack cannot match them to the multicast solicit',
  direction: 'ingress',
  family: 'ipv6',
  transport: 'udp',
  source: [cidr('fe80::/10')],
  destination: [cidr('fe80::/10')],
  sourcePorts: [port(547)],
  ports: [port(546)],
};

const DHCPV6_SOLICIT: BaselineRule = {
  id: 'dhcpv6-client-out',
  why: 'DHCPv6 client messages (udp 546 -> 547) to All_DHCP_Relay_Agents_and_Servers ff02::1:2',
  direction: 'egress',
  family: 'ipv6',
  transport: 'udp',
  destination: [cidr('ff02::1:2')],
  sourcePorts: [port(546)],
  ports: [port(547)],
};

/** DHCPv4 discovery runs on packet sockets, below netfilter; the renewal
 * is a unicast UDP datagram from port 68 to the server's 67 (its reply is
 * then tracked), so only restricted egress needs a rule. */
const DHCPV4_RENEW: BaselineRule = {
  id: 'dhcpv4-client-out',
  why: 'DHCPv4 lease renewal (udp 68 -> 67, unicast to the server; discovery uses packet sockets below netfilter)',
  direction: 'egress',
  family: 'ipv4',
  transport: 'udp',
  sourcePorts: [port(68)],
  ports: [port(67)],
};

interface Endpoint {
  id: string;
  why: string;
  addresses: string[];
  transport: 'tcp' | 'udp';
  ports: number[];
}

/** Documented endpoints per cloud. AWS: instance metadata (IMDS)
 * 169.254.169.254 / fd00:ec2::254, the Route 53 Resolver 169.254.169.253 /
 * fd00:ec2::253, Time Sync 169.254.169.123 / fd00:ec2::123. Azure: IMDS
 * 169.254.169.254, the platform address 168.63.129.16 (VM agent and
 * extensions on 80 and 32526, Azure DNS on 53). GCP: the metadata server
 * 169.254.169.254, which also answers DNS and NTP. */
export const PLATFORM_ENDPOINTS: Record<Exclude<Platform, 'none'>, Endpoint[]> = {
  aws: [
    { id: 'aws-imds', why: 'AWS instance metadata service (IMDS)', addresses: ['169.254.169.254', 'fd00:ec2::254'], transport: 'tcp', ports: [80] },
    { id: 'aws-dns', why: 'AWS Route 53 Resolver', addresses: ['169.254.169.253', 'fd00:ec2::253'], transport: 'udp', ports: [53] },
    { id: 'aws-dns-tcp', why: 'AWS Route 53 Resolver (tcp)', addresses: ['169.254.169.253', 'fd00:ec2::253'], transport: 'tcp', ports: [53] },
    { id: 'aws-ntp', why: 'Amazon Time Sync Service', addresses: ['169.254.169.123', 'fd00:ec2::123'], transport: 'udp', ports: [123] },
  ],
  azure: [
    { id: 'azure-imds', why: 'Azure Instance Metadata Service', addresses: ['169.254.169.254'], transport: 'tcp', ports: [80] },
    { id: 'azure-wireserver', why: 'Azure platform address 168.63.129.16: VM agent, extensions, health (WireServer)', addresses: ['168.63.129.16'], transport: 'tcp', ports: [80, 32526] },
    { id: 'azure-dns', why: 'Azure DNS at 168.63.129.16', addresses: ['168.63.129.16'], transport: 'udp', ports: [53] },
    { id: 'azure-dns-tcp', why: 'Azure DNS at 168.63.129.16 (tcp)', addresses: ['168.63.129.16'], transport: 'tcp', ports: [53] },
  ],
  gcp: [
    { id: 'gcp-metadata', why: 'GCP metadata server (metadata.google.internal)', addresses: ['169.254.169.254'], transport: 'tcp', ports: [80] },
    { id: 'gcp-dns', why: 'GCP DNS at the metadata server', addresses: ['169.254.169.254'], transport: 'udp', ports: [53] },
    { id: 'gcp-dns-tcp', why: 'GCP DNS at the metadata server (tcp)', addresses: ['169.254.169.254'], transport: 'tcp', ports: [53] },
    { id: 'gcp-ntp', why: 'GCP NTP at the metadata server', addresses: ['169.254.169.254'], transport: 'udp', ports: [123] },
  ],
};

function platformRules(platform: Platform): BaselineRule[] {
  if (platform === 'none') return [];
  return PLATFORM_ENDPOINTS[platform].flatMap((e) =>
    (['ipv4', 'ipv6'] as const).flatMap((family) => {
      const addrs = e.addresses.map(cidr).filter((c) => c.family === family);
      if (!addrs.length) return [];
      return [
        {
          id: `platform-${e.id}-${family === 'ipv4' ? 'v4' : 'v6'}`,
          why: `${e.why} (host.platform: ${platform})`,
          direction: 'egress' as const,
          family,
          transport: e.transport,
          destination: addrs,
          ports: e.ports.map(port),
        },
      ];
    }),
  );
}

/** The baseline for a profile: inbound always; outbound only under
 * `egress: restrict` (with `allow` everything outbound is open anyway). */
export function hostBaseline(egress: 'allow' | 'restrict', platform: Platform): BaselineRule[] {
  const rules = [DHCPV6_REPLY];
  if (egress === 'restrict') rules.push(DHCPV4_RENEW, DHCPV6_SOLICIT, ...platformRules(platform));
  return rules;
}
