// The lint rules: ids, levels and the texts SARIF carries in
// tool.driver.rules (and the README documents). Ids are stable: a rule is
// never renumbered; a retired id is not reused.

export type Level = 'error' | 'warning' | 'note';

export interface LintRule {
  id: string;
  /** PascalCase name, SARIF reportingDescriptor.name. */
  name: string;
  level: Level;
  /** Profile rules always run; catalog rules with --catalog or --catalog-findings. */
  scope: 'profile' | 'catalog' | 'lint';
  short: string;
  full: string;
  help: string;
  tags: string[];
  /** GitHub code scanning's severity for security rules (0.0-10.0). */
  securitySeverity?: string;
}

/** IPv4 entries with a prefix shorter than this are "very broad". */
export const BROAD_V4_PREFIX = 16;
/** IPv6 entries with a prefix shorter than this are "very broad". */
export const BROAD_V6_PREFIX = 48;
/** Groups whose ports are meant for a few known hosts (with the host group). */
export const PRIVILEGED_GROUPS = ['admins', 'support'];

const SILENCE = 'To silence one finding, put `# portcullis-lint: disable=ID reason="why"` on the line of the entry (or on a comment line just above it).';

export const RULES: LintRule[] = [
  {
    id: 'PC001',
    name: 'PrivilegedPortFromBroadRange',
    level: 'error',
    scope: 'profile',
    short: 'A port meant only for admins, support or the nodes is reachable from a world-wide or very broad range.',
    full:
      'A profile entry of 0.0.0.0/0, ::/0, or an IPv4 prefix shorter than /16 (more than 65,536 addresses) or an IPv6 prefix shorter than /48 (more than one end site) sits in a group that reaches ports the catalog opens only to admins, support or the nodes (SSH, the debug HTTP ports, Simba, the inter-node ports).',
    help: `Replace the broad entry by the administrators' (or the vendor's) own networks. The threshold: a /16 is the largest block one site of an organization normally has; anything broader spans sites or whole private spaces (10.0.0.0/8, 172.16.0.0/12), i.e. "everyone on the corporate network", which is not an admin range. In IPv6 a /48 is one end site (RFC 6177). ${SILENCE}`,
    tags: ['security', 'firewall', 'exposure'],
    securitySeverity: '8.0',
  },
  {
    id: 'PC002',
    name: 'UnusedGroup',
    level: 'warning',
    scope: 'profile',
    short: 'A profile group that no enabled rule uses.',
    full: 'The profile lists addresses for a group that no rule enabled by its features uses, e.g. bmc while feature ipmi is off. The finding names the features that would use it.',
    help: `Turn on the feature that uses the group, or remove the group from the profile so it does not look like it does something. ${SILENCE}`,
    tags: ['maintainability', 'firewall'],
  },
  {
    id: 'PC003',
    name: 'RedundantEntry',
    level: 'warning',
    scope: 'profile',
    short: 'An entry covered by another entry of the same group, or listed twice.',
    full: 'Within one group, an address or network is listed twice, or is inside another network of the same group. The policy is the same without it.',
    help: `Remove the covered entry, or narrow the covering one if it is wider than meant. ${SILENCE}`,
    tags: ['maintainability', 'firewall'],
  },
  {
    id: 'PC004',
    name: 'OverlapWidensReach',
    level: 'warning',
    scope: 'profile',
    short: 'An address in two groups reaches ports that neither group alone gives it.',
    full:
      "An entry of one group lies inside (or equals) an entry of another group, and membership of the other group lets its addresses reach ports that the first group does not reach and that the catalog opens only to admins, support or the nodes (e.g. a node address inside 'support' may SSH to the other nodes).",
    help: `Take the address out of one of the groups, or narrow the wider entry. Entries broader than the PC001 threshold are not compared (PC001 reports them). ${SILENCE}`,
    tags: ['security', 'firewall'],
    securitySeverity: '5.0',
  },
  {
    id: 'PC005',
    name: 'DocumentationRange',
    level: 'note',
    scope: 'profile',
    short: 'A documentation address range in a profile.',
    full: 'The entry is inside a range reserved for documentation (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24: RFC 5737; 2001:db8::/32: RFC 3849; 3fff::/20: RFC 9637). Fine for examples, suspicious in production: no real host has these addresses.',
    help: `Replace it with the site's real addresses. ${SILENCE}`,
    tags: ['correctness', 'firewall'],
  },
  {
    id: 'PC006',
    name: 'RestrictedEgressCutsOffService',
    level: 'warning',
    scope: 'profile',
    short: 'Under egress: restrict, no rule lets the nodes reach a service every host needs (DNS, NTP).',
    full: "With `egress: restrict` the nodes may open only the connections the catalog's egress rules, the node-to-node rules, `extra_egress` and the `host.platform` endpoints allow. No such rule reaches DNS (udp 53) or NTP (udp 123) on any address: name resolution or time keeping stops.",
    help: `Add an \`extra_egress\` entry to the site's resolvers or time servers, or set \`host.platform\` when the nodes run on a cloud whose endpoints serve them. If the nodes do without (a local resolver, the hypervisor's clock), silence the finding. ${SILENCE}`,
    tags: ['correctness', 'firewall', 'availability'],
  },
  {
    id: 'PC007',
    name: 'RestrictedEgressWithoutPlatform',
    level: 'note',
    scope: 'profile',
    short: 'Under egress: restrict with host.platform none, cloud metadata and platform endpoints are cut off.',
    full: 'With `egress: restrict` and `host.platform: none` (the default), the nodes cannot reach a cloud\'s instance metadata service (169.254.169.254, fd00:ec2::254), Azure\'s platform address 168.63.129.16 (VM agent, extensions, DNS) or the AWS DNS and time endpoints. On premises that is right; on a cloud instance it breaks credentials, agents and boot-time configuration.',
    help: `On a cloud, set \`host.platform\` to aws, azure or gcp; on premises, nothing to do (silence the note). ${SILENCE}`,
    tags: ['correctness', 'firewall', 'availability'],
  },
  {
    id: 'PC101',
    name: 'PortRepeatedWithOtherProtocol',
    level: 'warning',
    scope: 'catalog',
    short: 'A catalog row repeats a port that another row lists under another protocol name.',
    full: "Two rows of the catalog's document give the same port with different protocol names (e.g. 4853 as RPC and as HTTP, 4251 as HTTP and RPC). Generic TCP/UDP does not count as a protocol name. Both rows open the same port; a reviewer should know the document does this.",
    help: `Check the document: two services on one port, or a typo in one row. ${SILENCE}`,
    tags: ['catalog', 'review'],
  },
  {
    id: 'PC102',
    name: 'InterpretedRow',
    level: 'warning',
    scope: 'catalog',
    short: 'A catalog row whose source, destination or port is not what its cells say.',
    full: "Read with the default phrase table of `catalog import`, the row's Source, Destination or Port cell gives other groups or ports than the rule has: the transcription interpreted it (garbled outbound rows, an address turned into a group, a choice of ports bound to a param, IPMI served by the BMCs).",
    help: `Read the rule's note and check the interpretation against the document. ${SILENCE}`,
    tags: ['catalog', 'review'],
  },
  {
    id: 'PC103',
    name: 'JudgementCall',
    level: 'note',
    scope: 'catalog',
    short: 'A catalog rule with a recorded judgement call (its note).',
    full: 'The catalog rule carries a note: a judgement call the transcription made (feature gating, a rule from prose, a cell cleaned up). Listed so a reviewer sees every judgement call.',
    help: `Read the note; nothing to fix unless the judgement is wrong. ${SILENCE}`,
    tags: ['catalog', 'review'],
  },
  {
    id: 'PC000',
    name: 'LintDirective',
    level: 'warning',
    scope: 'lint',
    short: 'A portcullis-lint comment that is malformed, names an unknown rule, has no reason, or silences nothing.',
    full: 'A `# portcullis-lint: disable=ID reason="why"` comment must name known rule ids, give a non-empty reason, and silence at least one finding on its line.',
    help: 'Fix or remove the comment. Directives cannot silence PC000.',
    tags: ['maintainability'],
  },
];

export function ruleById(id: string): LintRule | undefined {
  return RULES.find((r) => r.id === id);
}
