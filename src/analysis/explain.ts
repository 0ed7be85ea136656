// `portcullis explain`: is one flow allowed, and why, in the words of the
// catalog (rows) and the profile (the lines that put an address in a group).

import { AddrRange, Cidr, cidrRange, containsAddress, Family, parseAddress } from '../addresses';
import { roleIRs, type Loaded } from '../compile';
import { CompileError, Diagnostic } from '../diagnostics';
import type { BaselineRule, Direction, IR, Rule, Transport } from '../ir/types';
import { buildFlowModel, FlowModel, setRanges } from './flows';
import { visibleLine } from '../terminal';
import { describeMatch, hasPorts, icmpTypeName, isIcmp, parseIcmpType, parseTransport, TRANSPORT_FACTS, transportKind } from '../transports';

export interface Membership {
  group: string;
  /** "FILE:LINE" of each profile (or catalog default) entry containing the address. */
  lines: string[];
}

export interface ExplainRule {
  id: string;
  direction: Direction;
  rows: { ref: string; heading: string; row?: number; service: string; description: string }[];
  groups: string[];
  profile_lines: string[];
  /** Catalogs with several roles only: the role whose policy has the rule. */
  role?: string;
}

/** Catalogs with several roles only: one role's part in the verdict. */
export interface RoleVerdict {
  role: string;
  /** ingress: the flow enters a host of the role; egress: it leaves one. */
  direction: Direction;
  verdict: 'allow' | 'deny';
}

export interface Explanation {
  verdict: 'allow' | 'deny';
  direction: Direction | 'node-to-node' | 'off-host';
  from: string;
  to: string;
  /** tcp, udp, sctp: the destination port asked about. */
  port?: number;
  transport: Transport;
  /** icmp, icmpv6: the message type asked about, and its name when it has one. */
  icmp_type?: number;
  icmp_type_name?: string;
  /** The flow as the tools print a match: "tcp 22", "icmp echo-request", "esp". */
  match: string;
  rules: ExplainRule[];
  reasons: string[];
  /** Catalogs with several roles only: the roles of the two ends and each
   * one's verdict (ingress into a role's host by its policy, egress out of
   * one by its policy). The flow is allowed when all of them allow it. */
  roles?: RoleVerdict[];
  /** Set when --target names a target: lines of its output that decide the flow. */
  target_lines?: string[];
}

export interface FlowQuery {
  from: string;
  to: string;
  /** "22/tcp", "53/udp", "9899/sctp", "echo-request/icmp", "128/icmpv6", "esp", "50" */
  port: string;
}

function usage(message: string, hint?: string): CompileError {
  const d: Diagnostic = { level: 'error', file: 'explain', message, hint };
  return new CompileError([d]);
}

function parseHost(text: string, what: string): { family: Family; value: bigint } {
  const r = parseAddress(text);
  if (!r.ok) throw usage(`--${what}: ${r.message}`, r.hint);
  const bits = r.cidr.family === 'ipv4' ? 32 : 128;
  if (r.cidr.prefix !== bits) throw usage(`--${what} must be one address, not the network '${text}'`, 'explain answers for one flow; pick a host inside the network');
  return { family: r.cidr.family, value: r.cidr.base };
}

/** A flow's transport and where it falls in the transport's match space
 * (the IR's convention for Rule.ports): the destination port, the ICMP
 * type, or 0 for a portless protocol. */
export interface PortQuery {
  transport: Transport;
  /** Port, ICMP type, or 0 (portless). */
  value: number;
  /** tcp, udp, sctp only. */
  port?: number;
  /** icmp, icmpv6 only. */
  icmpType?: number;
}

const PORT_FORMS = 'e.g. --port 22/tcp, 53/udp, 9899/sctp, echo-request/icmp, 128/icmpv6, or a protocol without ports: esp, ah, gre, ipip, vrrp (or its number, 50)';

export function parsePortQuery(text: string): PortQuery {
  const t = text.trim();
  const junk = () => usage(`--port '${text}' is not PORT/tcp or PORT/udp`, PORT_FORMS);
  const slash = t.lastIndexOf('/');
  if (slash < 0) {
    const transport = parseTransport(t);
    if (!transport || !/^[a-z0-9-]+$/i.test(t)) throw junk();
    if (isIcmp(transport))
      throw usage(`--port '${text}': ${TRANSPORT_FACTS[transport].title} needs a message type`, `give one: --port echo-request/${transport}, or a type number (${transport === 'icmp' ? '8' : '128'}/${transport})`);
    if (hasPorts(transport)) throw usage(`--port '${text}': ${transport} needs a port`, `e.g. --port 22/${transport}`);
    return { transport, value: 0 };
  }
  const what = t.slice(0, slash).trim();
  const transport = /^[a-z0-9-]+$/i.test(t.slice(slash + 1).trim()) ? parseTransport(t.slice(slash + 1)) : undefined;
  if (!transport || /^[0-9]+$/.test(t.slice(slash + 1).trim())) throw junk();
  const kind = transportKind(transport);
  if (kind === 'portless') throw usage(`--port '${text}': ${transport} has no ports`, `give the protocol alone: --port ${transport}`);
  if (kind === 'icmp') {
    const type = /^[a-z0-9-]+$/i.test(what) ? parseIcmpType(transport as 'icmp' | 'icmpv6', what) : undefined;
    if (type === undefined)
      throw usage(
        `--port '${text}': '${what}' is not an ${TRANSPORT_FACTS[transport].title} type`,
        `a number 0-255 or a name such as ${transport === 'icmp' ? 'echo-request, destination-unreachable, time-exceeded' : 'echo-request, packet-too-big, nd-neighbor-solicit'}`,
      );
    return { transport, value: type, icmpType: type };
  }
  const m = /^(\d{1,5})$/.exec(what);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw junk();
  return { transport, value: Number(m[1]), port: Number(m[1]) };
}

/** "22/tcp", "echo-request/icmp", "esp": how explain writes the flow in sentences. */
function queryText(q: PortQuery): string {
  if (q.port !== undefined) return `${q.port}/${q.transport}`;
  if (q.icmpType !== undefined) return describeMatch(q.transport, [{ lo: q.icmpType, hi: q.icmpType }]);
  return q.transport;
}

/** Which groups contain the address, and the lines that say so. */
export function memberships(loaded: Loaded, family: Family, value: bigint): Membership[] {
  const { catalog, profile } = loaded;
  const out: Membership[] = [];
  for (const [group, g] of catalog.groups) {
    const entries: { cidr: Cidr; line: string }[] = profile.groups.has(group)
      ? profile.groups.get(group)!.map((a) => ({ cidr: a.cidr, line: `${profile.doc.source.path}:${profile.doc.pos(a.path).line}` }))
      : g.defaults.map((cidr, i) => ({ cidr, line: `${catalog.doc.source.path}:${catalog.doc.pos(['groups', group, 'default', i]).line} (catalog default)` }));
    const lines = entries.filter((e) => e.cidr.family === family && containsAddress([cidrRange(e.cidr)], value)).map((e) => e.line);
    if (lines.length) out.push({ group, lines });
  }
  // A union's members are in it (a profile never lists a union itself).
  for (const [union, members] of catalog.unions) {
    const lines = out.filter((m) => members.includes(m.group)).flatMap((m) => m.lines);
    if (lines.length && !out.some((m) => m.group === union)) out.push({ group: union, lines: [...new Set(lines)] });
  }
  return out;
}

function ruleInfo(rule: Rule, port: number, members: Membership[]): ExplainRule {
  const groups = [rule.sourceGroup, rule.destinationGroup].filter((g, i, a) => a.indexOf(g) === i);
  return {
    id: rule.id,
    direction: rule.direction,
    // Only the rows that open this port: a rule merges many.
    rows: rule.provenance
      .filter((p) => p.ports.some((r) => r.lo <= port && port <= r.hi))
      .map((p) => ({ ref: p.ref, heading: p.heading, row: p.row, service: p.service, description: p.description })),
    groups,
    profile_lines: [...new Set(members.filter((m) => groups.includes(m.group)).flatMap((m) => m.lines))],
  };
}

const models = new WeakMap<IR, FlowModel>();
/** One model per IR: scripts and tests ask many flows of one policy. */
function modelOf(ir: IR): FlowModel {
  let m = models.get(ir);
  if (!m) {
    m = buildFlowModel(ir, { ipv4: setRanges(ir, `${ir.host}_v4`), ipv6: setRanges(ir, `${ir.host}_v6`) });
    models.set(ir, m);
  }
  return m;
}

export function explainFlow(loaded: Loaded, q: FlowQuery): Explanation {
  const irs = roleIRs(loaded);
  const ir = irs[0];
  /** Several roles: each end's roles decide, each by its own policy. */
  const multi = irs.length > 1;
  const from = parseHost(q.from, 'from');
  const to = parseHost(q.to, 'to');
  if (from.family !== to.family) throw usage(`--from ${q.from} and --to ${q.to} are of different address families`);
  const query = parsePortQuery(q.port);
  const { transport } = query;
  const port = query.value;
  const family = from.family;
  const inRole = (x: IR, v: bigint) => modelOf(x).hostListed[family] && containsAddress(modelOf(x).host[family], v);
  const inHost = (v: bigint) => irs.some((x) => inRole(x, v));
  const listed = irs.some((x) => modelOf(x).hostListed[family]);
  const fromMembers = memberships(loaded, family, from.value);
  const toMembers = memberships(loaded, family, to.value);
  const fromNode = inHost(from.value);
  const toNode = inHost(to.value);
  const portText = queryText(query);
  const groupsText = (ms: Membership[]) => (ms.length ? ms.map((m) => m.group).join(', ') : 'no group');

  const rules: ExplainRule[] = [];
  const reasons: string[] = [];
  const flowFields = {
    ...(query.port !== undefined ? { port: query.port } : {}),
    transport,
    ...(query.icmpType !== undefined ? { icmp_type: query.icmpType, ...(icmpTypeName(transport as 'icmp' | 'icmpv6', query.icmpType) ? { icmp_type_name: icmpTypeName(transport as 'icmp' | 'icmpv6', query.icmpType) } : {}) } : {}),
    match: query.port !== undefined ? `${transport} ${query.port}` : portText,
  };
  if (!TRANSPORT_FACTS[transport].families.includes(family))
    throw usage(
      `--port '${q.port}': ${TRANSPORT_FACTS[transport].title} is ${TRANSPORT_FACTS[transport].families[0] === 'ipv4' ? 'IPv4' : 'IPv6'} only, and ${q.from} -> ${q.to} is ${family === 'ipv4' ? 'IPv4' : 'IPv6'}`,
      transport === 'icmp' ? 'for IPv6 ask about icmpv6 (e.g. echo-request/icmpv6)' : 'for IPv4 ask about icmp (e.g. echo-request/icmp)',
    );
  /** The ICMP every host lets through whatever the catalog says (IR.icmp). */
  const hostIcmp = (ir: IR, direction: Direction): string | undefined => {
    if (query.icmpType === undefined) return undefined;
    const name = icmpTypeName(transport as 'icmp' | 'icmpv6', query.icmpType);
    return name && ir.icmp[direction][family].includes(name) ? name : undefined;
  };
  const candidates = (ir: IR, direction: Direction, scope: Rule['scope']) =>
    ir.rules.filter((r) => r.scope === scope && r.direction === direction && r.family === family && r.transport === transport && r.ports.some((p) => p.lo <= port && port <= p.hi));
  const peerOf = (ir: IR, r: Rule, direction: Direction): AddrRange[] => setRanges(ir, direction === 'ingress' ? r.source : r.destination);
  const within = (cidrs: Cidr[] | undefined, v: bigint) => !cidrs || containsAddress(cidrs.map(cidrRange), v);
  /** The host baseline (DHCP, platform endpoints) that allows the flow in
   * that direction. Its host end is matched by the rule's own addresses
   * when it names some (DHCPv6 replies go to the node's link-local
   * address, which no profile lists), else by the nodes' addresses. */
  const baselineFor = (ir: IR, direction: Direction): BaselineRule | undefined =>
    ir.hostPolicy.baseline.find(
      (b) =>
        b.direction === direction &&
        b.family === family &&
        b.transport === transport &&
        b.ports.some((p) => p.lo <= port && port <= p.hi) &&
        (direction === 'ingress' ? within(b.source, from.value) && (b.destination ? within(b.destination, to.value) : inRole(ir, to.value)) : within(b.destination, to.value) && (b.source ? within(b.source, from.value) : inRole(ir, from.value))),
    );
  const baselineInfo = (b: BaselineRule, role?: string): ExplainRule => ({ id: b.id, direction: b.direction, rows: [], groups: [], profile_lines: [], ...(role ? { role } : {}) });
  const baselineReason = (b: BaselineRule) =>
    `host baseline ${b.id}: ${b.why}${b.sourcePorts ? ` (from source port ${b.sourcePorts.map((p) => (p.lo === p.hi ? p.lo : `${p.lo}-${p.hi}`)).join(',')} only)` : ''}`;

  /** One direction's verdict on the host; collects rules and reasons. */
  const check = (direction: Direction, ir: IR = irs[0]): boolean => {
    // Several roles: the rules and reasons say whose policy they are.
    const role = multi ? ir.host : undefined;
    const nodes = multi ? `the ${ir.host}` : 'the nodes';
    const say = (reason: string) => reasons.push(role ? `role ${role}: ${reason}` : reason);
    const info = (r: ExplainRule): ExplainRule => (role ? { ...r, role } : r);
    const peer = direction === 'ingress' ? from : to;
    const peerText = direction === 'ingress' ? q.from : q.to;
    const peerMembers = direction === 'ingress' ? fromMembers : toMembers;
    if (direction === 'egress' && ir.egress === 'allow') {
      say(`egress: allow leaves outbound traffic from ${nodes} open, so ${q.from} -> ${q.to} ${portText} is allowed`);
      return true;
    }
    const open = candidates(ir, direction, 'host');
    const matching = open.filter((r) => containsAddress(peerOf(ir, r, direction), peer.value));
    for (const r of matching) rules.push(info(ruleInfo(r, port, [...fromMembers, ...toMembers])));
    if (matching.length) return true;
    const icmpName = hostIcmp(ir, direction);
    if (icmpName) {
      say(`${family === 'ipv4' ? 'ICMP' : 'ICMPv6'} ${icmpName} ${direction === 'ingress' ? 'into' : 'out of'} ${nodes} is allowed for every address: it is ICMP${family === 'ipv4' ? '' : 'v6'} that ${family === 'ipv4' ? 'IPv4' : 'IPv6'} needs to work, and every host target lets it through`);
      return true;
    }
    const b = baselineFor(ir, direction);
    if (b) {
      rules.push(baselineInfo(b, role));
      say(baselineReason(b));
      return true;
    }
    const verb = direction === 'ingress' ? 'is open to' : 'is open towards';
    if (open.length) {
      const to = open.map((r) => `${direction === 'ingress' ? r.sourceGroup : r.destinationGroup} (${r.provenance.filter((p) => p.ports.some((x) => x.lo <= port && port <= x.hi)).map((p) => `${p.ref} ${p.service}`).join('; ')})`);
      say(`${portText} ${verb} ${to.join(', ')}; ${peerText} is in ${groupsText(peerMembers)}, none of which ${direction === 'ingress' ? 'reaches' : 'is reached on'} it`);
    } else {
      say(`no enabled rule opens ${portText} ${direction === 'ingress' ? 'into' : 'out of'} ${nodes} (${family})`);
    }
    return false;
  };

  let direction: Explanation['direction'];
  let allowed: boolean;
  let roleVerdicts: RoleVerdict[] | undefined;
  if (multi && (toNode || fromNode)) {
    // Every role of the sender lets it out by its policy, every role of
    // the receiver lets it in by its policy.
    direction = toNode && fromNode ? 'node-to-node' : toNode ? 'ingress' : 'egress';
    roleVerdicts = [];
    for (const [d, v] of [['egress', from.value], ['ingress', to.value]] as const)
      for (const x of irs.filter((r) => inRole(r, v))) roleVerdicts.push({ role: x.host, direction: d, verdict: check(d, x) ? 'allow' : 'deny' });
    allowed = roleVerdicts.every((r) => r.verdict === 'allow');
  } else if (toNode && fromNode) {
    direction = 'node-to-node';
    const ingress = check('ingress');
    const egress = check('egress');
    allowed = ingress && egress;
  } else if (toNode) {
    direction = 'ingress';
    allowed = check('ingress');
  } else if (fromNode) {
    direction = 'egress';
    allowed = check('egress');
  } else if (baselineFor(ir, 'ingress')?.destination) {
    direction = 'ingress';
    allowed = check('ingress');
  } else {
    direction = 'off-host';
    const offHost = candidates(ir, 'ingress', 'off-host').filter(
      (r) => containsAddress(setRanges(ir, r.source), from.value) && containsAddress(setRanges(ir, r.destination), to.value),
    );
    for (const r of offHost) rules.push(ruleInfo(r, port, [...fromMembers, ...toMembers]));
    allowed = offHost.length > 0;
    if (allowed) reasons.push(`the catalog allows it, but neither address is a node: host firewalls cannot enforce it (only listed in their output)`);
    else
      reasons.push(
        `neither ${q.from} (${groupsText(fromMembers)}) nor ${q.to} (${groupsText(toMembers)}) is a node${listed ? '' : ` (the profile lists no ${family} node address)`}; portcullis only governs traffic to and from the nodes`,
      );
  }
  if (allowed && rules.length) reasons.unshift(`allowed by ${rules.map((r) => r.id).join(', ')}`);
  return { verdict: allowed ? 'allow' : 'deny', direction, from: q.from, to: q.to, ...flowFields, rules, reasons, ...(roleVerdicts ? { roles: roleVerdicts } : {}) };
}

/** The explanation as text for a terminal: every piece of input text on
 * its one line, control and bidi characters quoted. */
export function formatExplanation(e: Explanation): string {
  const flow = e.port !== undefined ? `${e.port}/${e.transport}` : e.match;
  const lines = [`${e.verdict.toUpperCase()}: ${e.from} -> ${e.to} ${flow} (${e.direction})`];
  for (const v of e.roles ?? []) lines.push(`  role: ${v.role} (${v.direction === 'ingress' ? 'into' : 'out of'} a host of the role, by its policy): ${v.verdict}`);
  for (const r of e.rules) {
    lines.push(`  rule ${r.id} (${r.direction}, ${r.role ? `role: ${r.role}, ` : ''}${r.groups.length ? `groups: ${r.groups.join(', ')}` : 'host baseline'})`);
    for (const row of r.rows) lines.push(`    ${row.ref} ${row.heading}${row.row ? `, row ${row.row}` : ''}: ${row.service}: ${row.description}`);
    for (const l of r.profile_lines) lines.push(`    address from ${l}`);
  }
  for (const reason of e.reasons) lines.push(`  ${reason}`);
  if (e.target_lines) for (const l of e.target_lines) lines.push(`  decided at ${l}`);
  return lines.map(visibleLine).join('\n') + '\n';
}


/** Lines of a target's output that decide the flow: the allowing rules
 * (found by their ids, which every backend writes into its rules), or for
 * a denied flow the default-deny lines. */
export function targetLines(e: Explanation, files: { path: string; content: string }[]): string[] {
  if (e.roles) return roleTargetLines(e, files);
  const ids = e.rules.map((r) => r.id);
  const otherFamily = e.from.includes(':') ? /v4$/ : /v6$/;
  const deny = /policy drop;|^-A PORTCULLIS-(INPUT|OUTPUT) -j DROP$|target="DROP"|"access": "Deny"/;
  const out: string[] = [];
  for (const f of files) {
    if (otherFamily.test(f.path)) continue; // iptables: rules.v4 / rules.v6
    const name = f.path.split('/').slice(2).join('/');
    f.content.split('\n').forEach((line, i) => {
      const hit = ids.length ? ids.some((id) => line.includes(id) && !/^\s*#/.test(line)) : deny.test(line);
      if (hit) out.push(`${name}:${i + 1}`);
    });
  }
  return out;
}

/** Several roles: each deciding role's lines from its own tree
 * (`<env>/<target>/<role>/…`): the rules of its policy that allow the
 * flow, or its default-deny lines when it denies it. A target whose output
 * is not split by role (one file for all) is searched as a whole. */
function roleTargetLines(e: Explanation, files: { path: string; content: string }[]): string[] {
  const roles = [...new Set(e.roles!.map((v) => v.role))];
  const split = files.some((f) => roles.includes(f.path.split('/')[2]));
  const out: string[] = [];
  for (const role of split ? roles : [undefined]) {
    const mine = role === undefined ? files : files.filter((f) => f.path.split('/')[2] === role);
    const rules = e.rules.filter((r) => role === undefined || r.role === role);
    const denied = e.roles!.some((v) => (role === undefined || v.role === role) && v.verdict === 'deny');
    let allowing = rules.length ? targetLines({ ...e, roles: undefined, rules }, mine) : [];
    // A combined output of all roles may name its entries by role groups
    // and the IR rules only in the comment above them ("from IR in-…").
    if (rules.length && !allowing.length) allowing = irComments(rules.map((r) => r.id), mine);
    const lines = [...allowing, ...(denied ? targetLines({ ...e, roles: undefined, rules: [] }, mine) : [])];
    for (const l of lines) if (!out.includes(l)) out.push(l);
  }
  return out;
}

/** Comment lines "… from IR ID, …" naming one of the ids, as FILE:LINE. */
function irComments(ids: string[], files: { path: string; content: string }[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const name = f.path.split('/').slice(2).join('/');
    f.content.split('\n').forEach((line, i) => {
      const m = /^\s*(#|\/\/).*\bfrom IR (.*)$/.exec(line);
      if (m && m[2].split(/[,\s]+/).some((x) => ids.includes(x))) out.push(`${name}:${i + 1}`);
    });
  }
  return out;
}
