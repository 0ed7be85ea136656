// iptables: netfilter-persistent's three files. rules.v4 / rules.v6 are the
// whole filter table for boot (`iptables-restore` without --noflush): the
// built-in chains at policy ACCEPT, PORTCULLIS-INPUT / PORTCULLIS-OUTPUT,
// and the hooks; the live apply (host.ts) takes only our chains and hooks
// from them. `ipsets` holds both families' sets; addresses live there, so
// the rule count does not grow with them.

import { Cidr, formatAddress, type Family } from '../../addresses';
import type { AddressSet, BaselineRule, IR, Rule } from '../../ir/types';
import { formatPortRange, PortRange } from '../../ports';
import { carries, isFullSpace, TRANSPORT_FACTS, transportKind } from '../../transports';
import { Backend, boundedName, checkLines, hashNetEntries, headerLines, ICMP_TYPE_NUMBERS, LineLimit, memoAcrossRenders, OutputFile, safeComment, TargetLimitError, TemplateSet, utf8Length, keptCommentLines, rowNoteLines, ruleCitation, keptCommentBlock } from '../base';
import { BOOT_COMMANDS, BOOT_DIR, INPUT_CHAIN, LIVE_COMMANDS, OUTPUT_CHAIN } from './host';

export { INPUT_CHAIN, OUTPUT_CHAIN } from './host';

// ------------------------------------------------------- the tools' limits
// From the tools' sources (iptables 1.8.9 here, nf_tables flavour; the
// legacy iptables-restore.c reads lines the same way; ipset 7.17).

/** iptables-restore and ip6tables-restore (iptables/xtables-restore.c,
 * xtables_restore_parse, and legacy iptables/iptables-restore.c) read each
 * line with fgets() into `char buffer[10240]`: at most 10239 bytes, line
 * feed included. A longer line is cut there and its rest parsed as the next
 * line (a `#` comment's tail becomes a rule). */
export const IPTABLES_RESTORE_LINE_MAX = 10240 - 2;

/** One argument of a rule line: iptables/xshared.c, add_param_to_argv,
 * copies it into `struct xt_param_buf { char buffer[1024]; }` and fails
 * ("Parameter too long!") once it holds 1024 bytes. */
export const IPTABLES_PARAM_MAX = 1024 - 1;

/** Words of one rule line: iptables/xshared.h, MAX_ARGC 255, and add_argv
 * fails when argc + 1 reaches it, so a line holds at most 254 words, of
 * which xtables-restore.c adds up to 7 itself (program, -t TABLE, -v,
 * --set-counters P B). */
export const IPTABLES_MAX_ARGC = 255 - 1 - 7;

/** The comment match: include/linux/netfilter/xt_comment.h,
 * XT_MAX_COMMENT_LEN 256 with the NUL; libxtables/xtoptions.c silently cuts
 * a longer XTTYPE_STRING to 255 bytes. */
export const IPTABLES_COMMENT_MAX = 256 - 1;

/** ipset restore (lib/ipset.c, ipset_parse_stream) reads each line with
 * fgets() into `char cmdline[MAX_CMDLINE_CHARS]`, MAX_CMDLINE_CHARS 1024: at
 * most 1023 bytes with the line feed; the rest of a longer line is read as
 * the next command. */
export const IPSET_RESTORE_LINE_MAX = 1024 - 2;

/** Words of one ipset command: lib/ipset.c, MAX_ARGS 32 ("Line is too long
 * to parse" when build_argv reaches it, counting the program name). */
export const IPSET_MAX_ARGS = 32 - 2;

/** The kernel keeps at most IPSET_MAX_COMMENT_SIZE 255 bytes of an entry's
 * comment (include/uapi/linux/netfilter/ipset/ip_set.h). Recorded for
 * completeness: portcullis writes no ipset comments (sets are created
 * without the `comment` option), only `#` lines. */
export const IPSET_MAX_COMMENT_SIZE = 255;

/** The words of a line as iptables-restore splits them (xshared.c,
 * add_param_to_argv: blanks separate words outside double quotes; inside
 * quotes a backslash escapes the next character). */
function restoreWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '\\') cur += line[++i] ?? '';
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      started = true;
    } else if (c === ' ' || c === '\t') {
      if (started || cur) words.push(cur);
      cur = '';
      started = false;
    } else cur += c;
  }
  if (started || cur) words.push(cur);
  return words;
}

/** UTF-8 bytes up to which a rule line cannot break checkRuleLine's limits:
 * none of its words is longer than the line, and it has at most (bytes + 1)
 * / 2 of them (every word but the last takes a separator). */
const RULE_LINE_FITS = Math.min(IPTABLES_COMMENT_MAX, IPTABLES_PARAM_MAX, 2 * IPTABLES_MAX_ARGC - 1);

function checkRuleLine(line: string): string | undefined {
  if (line === '' || line.startsWith('#')) return undefined;
  // Most lines: short enough not to need splitting into words.
  if (line.length * 3 <= RULE_LINE_FITS || utf8Length(line) <= RULE_LINE_FITS) return undefined;
  const words = restoreWords(line);
  if (words.length > IPTABLES_MAX_ARGC) return `${words.length} arguments, more than iptables-restore's ${IPTABLES_MAX_ARGC}`;
  for (const [i, w] of words.entries()) {
    if (utf8Length(w) > IPTABLES_PARAM_MAX) return `an argument of ${utf8Length(w)} bytes, more than iptables-restore's ${IPTABLES_PARAM_MAX}`;
    if (words[i - 1] === '--comment' && utf8Length(w) > IPTABLES_COMMENT_MAX) return `a comment of ${utf8Length(w)} bytes, more than the comment match keeps (${IPTABLES_COMMENT_MAX})`;
  }
  return undefined;
}

function checkIpsetLine(line: string): string | undefined {
  // Words need a separator each: a short line cannot hold too many.
  if (line.length < 2 * IPSET_MAX_ARGS || /^\s*(#|$)/.test(line)) return undefined;
  const words = line.split(/\s+/).filter(Boolean);
  return words.length > IPSET_MAX_ARGS ? `${words.length} words, more than ipset restore's ${IPSET_MAX_ARGS}` : undefined;
}

export const RULES_LINE_LIMIT: LineLimit = {
  maxBytes: IPTABLES_RESTORE_LINE_MAX,
  reader: 'iptables-restore (xtables-restore.c: fgets into a 10240-byte buffer)',
  check: checkRuleLine,
  checkOnly: { minLength: Math.floor(RULE_LINE_FITS / 3) + 1 },
};

export const IPSETS_LINE_LIMIT: LineLimit = {
  maxBytes: IPSET_RESTORE_LINE_MAX,
  reader: 'ipset restore (lib/ipset.c: fgets into a 1024-byte buffer)',
  check: checkIpsetLine,
  checkOnly: { minLength: 2 * IPSET_MAX_ARGS },
};

/** The multiport match takes at most 15 ports, a range counting as two. */
export const MULTIPORT_MAX = 15;

export function chunkPorts(ports: PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let cur: PortRange[] = [];
  let weight = 0;
  for (const p of ports) {
    const w = p.lo === p.hi ? 1 : 2;
    if (weight + w > MULTIPORT_MAX) {
      chunks.push(cur);
      cur = [];
      weight = 0;
    }
    cur.push(p);
    weight += w;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

/** ipset names are at most 31 characters; keep them readable, and unique
 * by a hash suffix when the group name is too long. The staging copy used
 * for the atomic swap appends "-n", so 29 is the budget. */
export function ipsetName(set: AddressSet): string {
  return ipsetNameOf(set.name);
}
const ipsetNameOf = memoAcrossRenders((name: string) => boundedName('pc-', name, 29, 6));

/** Comments use a safe alphabet (ASCII: characters are bytes), so
 * iptables-restore's quoting never sees a quote or backslash, cut to what
 * the comment match keeps; the full text is in `#` lines above the rule. */
export function iptablesComment(text: string): string {
  return safeComment(text, IPTABLES_COMMENT_MAX);
}

/** Every set is created with this maxelem, whatever its size. The kernel
 * compares maxelem when `create -exist` meets a set of that name (hashsize
 * it ignores, as resizing changes it), so a maxelem that followed the set's
 * size would make the next apply of a grown set fail with "set with the
 * same name already exists". A fixed one never differs between applies,
 * and costs nothing: a hash set allocates by its entries, not its maxelem.
 * Staging + swap (below) then replaces the members whatever their number. */
export const IPSET_MAXELEM = 1 << 24;

const templates = new TemplateSet('iptables', {});

/** A rule's comment match from its citation (ruleCitation), kept across renders. */
const ruleComment = memoAcrossRenders(iptablesComment);

const ports = (list: PortRange[]) => list.map((p) => formatPortRange(p, ':')).join(',');

/** `--dport N`, or multiport for a list (baseline lists stay within 15). */
function portMatch(dir: 'sport' | 'dport', list: PortRange[]): string {
  return list.length === 1 ? `--${dir} ${ports(list)}` : `-m multiport --${dir}s ${ports(list)}`;
}

/** The protocol match of a rule, without ports or types. Port transports
 * and ICMP by name (`-p tcp|udp|sctp|icmp|ipv6-icmp`: iptables knows these
 * without /etc/protocols); the portless protocols by number (`-p 50`),
 * since /etc/protocols names them differently per system (4 is "ipencap"
 * on Debian, "ipv4" elsewhere, and "ipip" is 94) and iptables-save prints
 * whatever name the host's file has. IPv6 AH is an extension header, which
 * ip6tables' `-p` skips ("never matched protocol"): the `ah` extension
 * match finds it instead. */
export function protocolMatch(rule: Pick<Rule, 'transport' | 'family'>): string {
  const t = rule.transport;
  if (!carries(t, rule.family)) throw new Error(`internal: iptables: transport ${t} in an ${rule.family} rule`);
  if (t === 'icmpv6') return '-p ipv6-icmp';
  if (transportKind(t) !== 'portless') return `-p ${t}`;
  if (t === 'ah' && rule.family === 'ipv6') return '-m ah';
  return `-p ${TRANSPORT_FACTS[t].number}`;
}

/** What follows the protocol, one entry per rule line: the destination
 * ports of a port transport (`--dport N`, or multiport in chunks of 15);
 * one `--icmp-type N` / `--icmpv6-type N` per ICMP type (the icmp matches
 * take a single type), nothing for any type; nothing for a portless one. */
export function matchTails(rule: Pick<Rule, 'transport' | 'family' | 'ports'>): string[] {
  const kind = transportKind(rule.transport);
  if (kind === 'portless') return [''];
  if (kind === 'icmp') {
    if (isFullSpace(rule.transport, rule.ports)) return [''];
    const option = rule.transport === 'icmp' ? '--icmp-type' : '--icmpv6-type';
    return rule.ports.flatMap((r) => Array.from({ length: r.hi - r.lo + 1 }, (_, i) => ` ${option} ${r.lo + i}`));
  }
  return chunkPorts(rule.ports).map((chunk) => {
    const list = chunk.map((p) => formatPortRange(p, ':')).join(',');
    return chunk.length === 1 ? ` --dport ${list}` : ` -m multiport --dports ${list}`;
  });
}

function ruleLines(rule: Rule, sets: Map<string, AddressSet>): { notes: string[]; lines: string[] } {
  const chain = rule.direction === 'ingress' ? INPUT_CHAIN : OUTPUT_CHAIN;
  const peer = sets.get((rule.direction === 'ingress' ? rule.source : rule.destination)!)!;
  const dir = rule.direction === 'ingress' ? 'src' : 'dst';
  const comment = ruleComment(ruleCitation(rule));
  const proto = protocolMatch(rule);
  return {
    notes: rowNoteLines(rule),
    lines: matchTails(rule).map((tail) => `-A ${chain} -m set --match-set ${ipsetName(peer)} ${dir} ${proto}${tail} -m comment --comment ${comment} -j ACCEPT`),
  };
}

const cidrList = (cidrs: readonly Cidr[]) => cidrs.map(formatAddress).join(',');

/** A baseline rule (literal addresses, no set): `-s`/`-d` absent = any. */
function baselineLines(rule: BaselineRule): { notes: string[]; lines: string[] } {
  const chain = rule.direction === 'ingress' ? INPUT_CHAIN : OUTPUT_CHAIN;
  const words = [`-A ${chain}`];
  if (rule.source) words.push(`-s ${cidrList(rule.source)}`);
  if (rule.destination) words.push(`-d ${cidrList(rule.destination)}`);
  words.push(`-p ${rule.transport}`);
  if (rule.sourcePorts) words.push(portMatch('sport', rule.sourcePorts));
  words.push(portMatch('dport', rule.ports), `-m comment --comment ${iptablesComment(rule.id)}`, '-j ACCEPT');
  return { notes: keptCommentLines(`${rule.id}: ${rule.why}`), lines: [words.join(' ')] };
}

/** ICMP by type number: unambiguous in both iptables and ip6tables. */
function icmpLines(chain: string, family: Family, types: string[]): string[] {
  return types.map((t) =>
    family === 'ipv4'
      ? `-A ${chain} -p icmp --icmp-type ${ICMP_TYPE_NUMBERS.ipv4[t]} -m comment --comment "${t}" -j ACCEPT`
      : `-A ${chain} -p ipv6-icmp --icmpv6-type ${ICMP_TYPE_NUMBERS.ipv6[t]} -m comment --comment "${t}" -j ACCEPT`,
  );
}

/** The rate-limited log before a chain's final DROP: the kernel log (LOG),
 * or NFLOG group N. `way` is "in" or "out". */
function logLine(ir: IR, chain: string, way: 'in' | 'out'): string[] {
  const log = ir.hostPolicy.logDrops;
  if (!log) return [];
  const prefix = `"${log.prefix} ${way}: "`;
  const target = log.group === undefined ? `LOG --log-prefix ${prefix}` : `NFLOG --nflog-group ${log.group} --nflog-prefix ${prefix}`;
  return [`-A ${chain} -m limit --limit ${log.rate} -j ${target}`];
}

function trustedLines(ir: IR, chain: string, flag: '-i' | '-o'): string[] {
  return ir.hostPolicy.trustedInterfaces.map((i) => `-A ${chain} ${flag} ${i} -m comment --comment "trusted interface" -j RETURN`);
}

function rulesFile(ir: IR, header: string[], family: Family): OutputFile {
  const suffix = family === 'ipv4' ? 'v4' : 'v6';
  const host = ir.rules.filter((r) => r.scope === 'host' && r.family === family);
  const restrict = ir.egress === 'restrict';
  const setsByName = new Map(ir.sets.map((s) => [s.name, s]));
  const baseline = ir.hostPolicy.baseline.filter((b) => b.family === family);
  const hook = ir.hostPolicy.iptables.hook;
  const cmd = family === 'ipv4' ? 'iptables' : 'ip6tables';
  const context = {
    header,
    family: suffix,
    cmd,
    bootDir: BOOT_DIR,
    bootCommands: BOOT_COMMANDS,
    liveCommands: LIVE_COMMANDS,
    inputChain: INPUT_CHAIN,
    outputChain: OUTPUT_CHAIN,
    hook,
    hookFirst: hook === 'first',
    hooks: (['INPUT', 'OUTPUT'] as const).map((c) => (hook === 'first' ? `-I ${c} 1` : `-A ${c}`) + ` -j ${c === 'INPUT' ? INPUT_CHAIN : OUTPUT_CHAIN}`),
    restrict,
    trusted: ir.hostPolicy.trustedInterfaces.join(', '),
    hasTrusted: ir.hostPolicy.trustedInterfaces.length > 0,
    trustedIn: trustedLines(ir, INPUT_CHAIN, '-i'),
    trustedOut: restrict ? trustedLines(ir, OUTPUT_CHAIN, '-o') : [],
    icmpIn: icmpLines(INPUT_CHAIN, family, ir.icmp.ingress[family]),
    icmpOut: restrict ? icmpLines(OUTPUT_CHAIN, family, ir.icmp.egress[family]) : [],
    baselineIn: baseline.filter((b) => b.direction === 'ingress').map(baselineLines),
    baselineOut: restrict ? baseline.filter((b) => b.direction === 'egress').map(baselineLines) : [],
    inputRules: host.filter((r) => r.direction === 'ingress').map((r) => ruleLines(r, setsByName)),
    outputRules: restrict ? host.filter((r) => r.direction === 'egress').map((r) => ruleLines(r, setsByName)) : [],
    logIn: logLine(ir, INPUT_CHAIN, 'in'),
    logOut: restrict ? logLine(ir, OUTPUT_CHAIN, 'out') : [],
    logging: !!ir.hostPolicy.logDrops,
    nflog: ir.hostPolicy.logDrops?.group !== undefined,
    logGroup: ir.hostPolicy.logDrops?.group ?? 0,
    logRate: ir.hostPolicy.logDrops?.rate ?? '',
  };
  return { path: `rules.${suffix}`, content: templates.render('rules.hbs', context) };
}

/** One `ipsets` file for both families (ipset-persistent reads one). */
function ipsetsFile(ir: IR, header: string[]): OutputFile {
  const restrict = ir.egress === 'restrict';
  const emitted = ir.rules.filter((r) => r.scope === 'host' && (r.direction === 'ingress' || restrict));
  const used = ir.sets.filter((s) => emitted.some((r) => r.source === s.name || r.destination === s.name));
  const ipsets = (['ipv4', 'ipv6'] as const).flatMap((family) =>
    used
      .filter((s) => s.family === family)
      .map((s) => {
        const entries = hashNetEntries(s.cidrs);
        if (entries.length > IPSET_MAXELEM)
          throw new TargetLimitError('iptables', `group ${s.group} has ${entries.length} ${family} entries, more than an ipset of portcullis holds (maxelem ${IPSET_MAXELEM})`, 'split the group or summarize its addresses into wider CIDRs', s.group);
        return { name: ipsetName(s), group: s.group, options: `hash:net family ${family === 'ipv4' ? 'inet' : 'inet6'} maxelem ${IPSET_MAXELEM}`, entries };
      }),
  );
  const context = { header, bootDir: BOOT_DIR, liveCommand: LIVE_COMMANDS[0], maxelem: IPSET_MAXELEM, ipsets };
  return { path: 'ipsets', content: templates.render('ipsets.hbs', context) };
}

export const iptablesBackend: Backend = {
  name: 'iptables',
  render(ir: IR): OutputFile[] {
    // The same header heads the three files.
    const header = keptCommentBlock(headerLines(ir));
    return checkLines('iptables', [ipsetsFile(ir, header), rulesFile(ir, header, 'ipv4'), rulesFile(ir, header, 'ipv6')], (path) => (path === 'ipsets' ? IPSETS_LINE_LIMIT : RULES_LINE_LIMIT));
  },
};
