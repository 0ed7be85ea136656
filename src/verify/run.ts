// `portcullis verify`: compile the profile (or take already-compiled output
// with --from-dir), load it into the node namespace of a fresh topology per
// target, and probe the matrix derived from the IR (see matrix.ts) with real
// packets. Exit 0 all as expected, 1 a mismatch (or a ruleset the kernel
// refused), 2 bad input or an environment that cannot run it.
//
// Per target: build the topology; start one listener per namespace (the
// node's serves every ingress sample port, the world's every egress one),
// and, when the matrix has SCTP, ICMP or portless probes, one raw listener
// per namespace for them (raw.ts: inbound ones are seen on the node,
// outbound ones in the world);
// a control run with no ruleset, in which every probe must get through (or
// a later "denied" would prove nothing); load; probe every inbound case in
// parallel, then every outbound one, each phase right after flushing the
// neighbour caches, so ARP/ND must work through the ruleset (run together,
// the node's own solicitations for outbound probes would teach the peers
// its address and hide a ruleset that drops theirs). A denied probe is one
// that times out: the timeout is 700 ms, or twice the slowest round trip
// of the control run on a busy machine; within a phase, the few
// expected-allowed probes that timed out are probed again with a longer
// timeout, so a slow machine is not reported as a firewall drop (a drop
// drops the second time too). With raw probes, each phase also starts
// from an empty connection tracking table (a portless flow let in would let
// its "reply" out). With host.log.drops on, the log is checked
// too (see checkLog): a capture of the NFLOG group runs from the load to
// the end of the probes, and some denied probe of each direction that has
// a final drop must appear in it with the portcullis prefix. Then tear
// everything down.
//
// Roles. A catalog with several roles is verified once per role (all of
// them, or the one --role names), each with its own IR, plan (the node
// under test one of that role's hosts, a peer in every other role: see
// matrix.ts) and topologies, against the role's tree <env>/<target>/<role>/;
// the report has a section per role, and a mismatch of any role fails.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InputText, load, Loaded, render, roleIRs } from '../compile';
import { CompileError, errorCount, formatDiagnostics } from '../diagnostics';
import type { IR } from '../ir/types';
import { InputError, readCatalogSpec, readFile } from '../sources';
import { visible, visibleLine } from '../terminal';
import type { ListenPort } from './listener';
import { startListener } from './listener';
import { buildPlan, Case, Plan, planContext, probeText } from './matrix';
import { kernelLogMatches, kernelLogVisible, NflogCapture, NflogRecord, PacketSummary, readKernelLog, startNflogCapture } from './nflog';
import { probe, ProbeCase, ProbeResult } from './prober';
import { flushConntrack, isRaw, probeRaw, RawListener, startRawListener } from './raw';
import { hasPorts, Transport, TRANSPORT_FACTS } from '../transports';
import { HOST_TARGETS, HostTarget, LOADERS, unavailable } from './targets';
import { parseAddress } from '../addresses';
import { atCleanup, netnsProblem, NODE_IF, run, Topology } from './topology';

export interface VerifyArgs {
  profile: string;
  catalog?: string;
  /** Verify this role only (a catalog with several); default: every role. */
  role?: string;
  target: string;
  /** Verify the files under DIR/<environment>/<target>/ instead of compiling. */
  'from-dir'?: string;
}

/** Bad input or an environment verify cannot run in: exit 2. */
class VerifyError extends Error {}

/** A denied probe waits this long; raised on a busy machine (see verifyTarget). */
const PROBE_TIMEOUT_MS = 700;
const MAX_PROBE_TIMEOUT_MS = 5000;

export interface Mismatch {
  /** The role whose policy it is, for a catalog with several. */
  role?: string;
  target: HostTarget;
  c: Case;
  seen: ProbeResult;
}

export interface TargetReport {
  /** The role, for a catalog with several. */
  role?: string;
  target: HostTarget;
  how?: string;
  passed: number;
  failed: number;
  /** How long a probe waited before it counted as denied. */
  timeoutMs: number;
  /** Set when the ruleset could not be loaded. */
  loadError?: string;
  mismatches: Mismatch[];
  /** What each probe of plan.cases saw (allowed or not), in order. */
  observed: boolean[];
  /** The log check, when the profile logs drops. */
  log?: LogCheck;
  seconds: number;
}

export interface LogCheck {
  /** not-checked: this machine cannot show the log (not a failure). */
  status: 'ok' | 'failed' | 'not-checked';
  detail: string;
}

function parseTargets(spec: string): { targets: HostTarget[]; optional: Set<HostTarget> } {
  if (spec === 'all') return { targets: [...HOST_TARGETS], optional: new Set(['firewalld']) };
  const targets: HostTarget[] = [];
  for (const t of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(HOST_TARGETS as string[]).includes(t)) throw new VerifyError(`error: verify cannot run target '${t}': it proves host firewalls only (${HOST_TARGETS.join(', ')}, all)`);
    if (!targets.includes(t as HostTarget)) targets.push(t as HostTarget);
  }
  if (!targets.length) throw new VerifyError('error: --target names no target');
  return { targets, optional: new Set() };
}

const key = (c: ProbeCase) => `${c.transport ?? 'tcp'} ${c.src} ${c.sourcePort ?? '*'} ${c.dst} ${c.port}`;

/** The ports the cases of one direction probe (catalog samples and baseline). */
function listenPorts(plan: Plan, direction: 'ingress' | 'egress'): ListenPort[] {
  const seen = new Map<string, ListenPort>();
  for (const c of plan.cases)
    if (c.direction === direction && (c.transport === 'tcp' || c.transport === 'udp')) seen.set(`${c.transport} ${c.port}`, { port: c.port, transport: c.transport });
  return [...seen.values()].sort((a, b) => a.transport.localeCompare(b.transport) || a.port - b.port);
}

/** The node's addresses UDP is served on: its global ones and, when a
 * probe goes to it, its link-local one (scoped). */
function nodeUdpAddresses(plan: Plan): string[] {
  const out = [plan.node.ipv4.address, plan.node.ipv6.address];
  if (plan.cases.some((c) => c.direction === 'ingress' && c.dst.split('%')[0] === plan.linkLocal.node)) out.push(`${plan.linkLocal.node}%${NODE_IF}`);
  return out;
}

/** The raw transports the cases of one direction probe. */
function rawTransports(plan: Plan, direction: 'ingress' | 'egress'): Transport[] {
  return [...new Set(plan.cases.filter((c) => c.direction === direction && isRaw(c.transport)).map((c) => c.transport))].sort();
}

/** The raw listeners: on the node for inbound raw probes, in the world for outbound ones. */
interface RawListeners {
  ingress?: RawListener;
  egress?: RawListener;
}

/** Probes the cases from where each starts (world for ingress, node for
 * egress): TCP and UDP with the prober, the other transports with the raw
 * prober, seen by the raw listener on the receiving side. */
async function probeCases(t: Topology, cases: readonly Case[], timeoutMs: number, raw: RawListeners): Promise<ProbeResult[]> {
  const strip = (c: Case): ProbeCase => ({ src: c.src, dst: c.dst, port: c.port, transport: c.transport, ...(c.sourcePort ? { sourcePort: c.sourcePort } : {}) });
  const runs: Promise<ProbeResult[]>[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const from = direction === 'ingress' ? t.world : t.node;
    const mine = cases.filter((c) => c.direction === direction);
    const sockets = mine.filter((c) => !isRaw(c.transport));
    const rawCases = mine.filter((c) => isRaw(c.transport));
    if (sockets.length) runs.push(probe(t, from, sockets.map(strip), timeoutMs));
    if (rawCases.length) {
      const listener = raw[direction];
      if (!listener) throw new Error(`internal: no raw listener for ${direction} probes`);
      runs.push(probeRaw(t, from, rawCases.map(strip), timeoutMs, listener));
    }
  }
  const byKey = new Map((await Promise.all(runs)).flat().map((r) => [key(r), r]));
  return cases.map((c) => byKey.get(key(c))!);
}

/** Outcomes of a probe that a busy machine can cause: no answer in time, or
 * neighbour resolution (ARP/ND, 3 tries 1 s apart) given up. */
const SLOW_OUTCOMES = new Set(['timeout', 'EHOSTUNREACH']);

/** How long a listener may take to start (node start-up on a loaded machine). */
const LISTENER_READY_MS = 30000;

/** probeCases; then the cases that `shouldPass` but timed out (or found no
 * neighbour), again, with each longer timeout in turn: on a busy machine a
 * round trip can take a second or more, while a firewall drop drops every
 * time. */
async function probeRounds(t: Topology, cases: readonly Case[], shouldPass: (c: Case) => boolean, timeouts: readonly number[], raw: RawListeners): Promise<ProbeResult[]> {
  let seen = await probeCases(t, cases, timeouts[0], raw);
  for (const timeout of timeouts.slice(1)) {
    const retry = cases.filter((c, i) => shouldPass(c) && !seen[i].allowed && SLOW_OUTCOMES.has(seen[i].outcome));
    if (!retry.length) break;
    const again = new Map((await probeCases(t, retry, timeout, raw)).map((r) => [key(r), r]));
    seen = seen.map((r) => again.get(key(r)) ?? r);
  }
  return seen;
}

export async function verifyTarget(plan: Plan, target: HostTarget, dir: string): Promise<TargetReport> {
  const started = Date.now();
  const report: TargetReport = { ...(plan.role ? { role: plan.role } : {}), target, passed: 0, failed: 0, timeoutMs: PROBE_TIMEOUT_MS, mismatches: [], observed: [], seconds: 0 };
  const label = plan.role ? `role ${plan.role}, ${target}` : target;
  const t = new Topology({
    prefix: 'pcv',
    node: [plan.node.ipv4.address, plan.node.ipv6.address],
    world: plan.peers.map((p) => p.address),
  });
  let stop: (() => void) | undefined;
  const raw: RawListeners = {};
  const rawIn = rawTransports(plan, 'ingress');
  const rawOut = rawTransports(plan, 'egress');
  try {
    await Promise.all([
      startListener(t, t.node, listenPorts(plan, 'ingress'), LISTENER_READY_MS, nodeUdpAddresses(plan)),
      startListener(t, t.world, listenPorts(plan, 'egress'), LISTENER_READY_MS, plan.peers.map((p) => p.address)),
      rawIn.length ? startRawListener(t, t.node, rawIn, LISTENER_READY_MS).then((l) => (raw.ingress = l)) : undefined,
      rawOut.length ? startRawListener(t, t.world, rawOut, LISTENER_READY_MS).then((l) => (raw.egress = l)) : undefined,
    ]);
    const control = await probeRounds(t, plan.cases, () => true, [PROBE_TIMEOUT_MS, 2500, 6000], raw);
    const broken = control.filter((r) => !r.allowed);
    if (broken.length) {
      const shown = broken.slice(0, 10).map((r) => `  ${r.src} -> ${r.dst} ${probeText(r.transport ?? 'tcp', r.port)}: ${r.outcome}`);
      throw new VerifyError(
        `error: ${label}: the test network is broken: with no ruleset loaded, ${broken.length} of ${control.length} probes failed:\n${shown.join('\n')}`,
      );
    }
    // A denied probe is one that times out, so the timeout must comfortably
    // exceed the slowest round trip this machine managed just now.
    const slowest = Math.max(...control.map((r) => r.ms));
    report.timeoutMs = Math.min(MAX_PROBE_TIMEOUT_MS, Math.max(PROBE_TIMEOUT_MS, 2 * slowest));
    const timeouts = [report.timeoutMs, Math.max(2500, 3 * report.timeoutMs)];
    try {
      const loaded = await LOADERS[target].load(t, dir);
      report.how = loaded.how;
      stop = loaded.stop;
    } catch (e) {
      report.loadError = (e as Error).message;
      report.failed = plan.cases.length;
      return report;
    }
    const watch = await startLogWatch(t, plan, raw);
    if (watch.stop) {
      const stopLoad = stop;
      stop = () => {
        watch.stop!();
        stopLoad?.();
      };
    }
    // Inbound, then outbound, each after a flush of the neighbour caches.
    const byKey = new Map<string, ProbeResult>();
    // With raw probes, connection tracking is emptied too: a portless flow
    // (nothing but the two addresses to tell flows apart) let in from a
    // peer would otherwise let the same protocol out to it as its reply.
    for (const direction of ['ingress', 'egress'] as const) {
      t.flushNeighbours();
      if (rawIn.length || rawOut.length) flushConntrack(t, t.node);
      for (const r of await probeRounds(t, plan.cases.filter((c) => c.direction === direction), (c) => c.expect, timeouts, raw)) byKey.set(key(r), r);
    }
    const seen = plan.cases.map((c) => byKey.get(key(c))!);
    if (watch.check) report.log = await watch.check(seen);
    else if (watch.result) report.log = watch.result;
    report.observed = seen.map((r) => r.allowed);
    plan.cases.forEach((c, i) => {
      if (seen[i].allowed === c.expect) report.passed++;
      else {
        report.failed++;
        report.mismatches.push({ ...(plan.role ? { role: plan.role } : {}), target, c, seen: seen[i] });
      }
    });
    return report;
  } finally {
    stop?.();
    t.destroy();
    report.seconds = (Date.now() - started) / 1000;
  }
}

// The log check.

/** A log line, wherever it was read from. */
interface LogRecord {
  prefix?: string;
  packet?: PacketSummary;
}

interface LogSource {
  /** Where the lines are read, for the report. */
  where: string;
  waitFor(match: (r: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord | undefined>;
  count(): number;
}

interface LogWatch {
  /** Set when the log cannot be checked, or the capture failed to start. */
  result?: LogCheck;
  check?: (seen: readonly ProbeResult[]) => Promise<LogCheck>;
  stop?: () => void;
}

const addrValue = (text: string) => {
  const p = parseAddress(text.split('%')[0]);
  return p.ok ? p.cidr.base : undefined;
};

/** Whether a logged packet is the probe of case c. */
function logged(c: Case, p: PacketSummary | undefined): boolean {
  if (!p || (p.protocol !== c.transport && p.protocol !== String(TRANSPORT_FACTS[c.transport].number))) return false;
  if (hasPorts(c.transport) && p.dport !== c.port) return false;
  if (c.sourcePort !== undefined && p.sport !== c.sourcePort) return false;
  return addrValue(p.src) === addrValue(c.src) && addrValue(p.dst) === addrValue(c.dst);
}

/** "10/minute" -> milliseconds between two log lines once the burst is spent. */
function logInterval(rate: string): number {
  const m = /^(\d+)\/(second|minute|hour)$/.exec(rate);
  if (!m) return 60000;
  return ({ second: 1000, minute: 60000, hour: 3600000 } as const)[m[2] as 'second' | 'minute' | 'hour'] / Math.max(1, Number(m[1]));
}

/** Starts watching the log right after the load: the NFLOG group with
 * tcpdump, else the kernel log when this kernel shows other namespaces'
 * log lines there. */
async function startLogWatch(t: Topology, plan: Plan, raw: RawListeners): Promise<LogWatch> {
  const logDrops = plan.ir.hostPolicy.logDrops;
  if (!logDrops) return {};
  let source: LogSource;
  let stop: (() => void) | undefined;
  if (logDrops.group !== undefined) {
    if (run('sh', ['-c', 'command -v tcpdump']).code !== 0) return { result: { status: 'not-checked', detail: `reading NFLOG group ${logDrops.group} needs tcpdump on PATH` } };
    let capture: NflogCapture;
    try {
      capture = await startNflogCapture(t, t.node, logDrops.group);
    } catch (e) {
      return { result: { status: 'failed', detail: `could not capture NFLOG group ${logDrops.group}: ${(e as Error).message}` } };
    }
    stop = () => capture.stop();
    source = {
      where: `NFLOG group ${logDrops.group}`,
      waitFor: (match, ms) => capture.waitFor((r: NflogRecord) => match(r), ms),
      count: () => capture.records().length,
    };
  } else {
    const k = kernelLogVisible();
    if (!k.visible) return { result: { status: 'not-checked', detail: `drops are logged to the kernel log, which verify cannot read for its namespace: ${k.why}` } };
    const before = readKernelLog();
    if ('error' in before) return { result: { status: 'not-checked', detail: `drops are logged to the kernel log: ${before.error}` } };
    const skip = before.lines.length;
    const records = (): LogRecord[] => {
      const now = readKernelLog();
      if ('error' in now) return [];
      // A ring buffer that wrapped has fewer lines: read all of it then.
      return kernelLogMatches(now.lines.length >= skip ? now.lines.slice(skip) : now.lines, logDrops.prefix).map((l) => ({
        prefix: l.line.includes(`${logDrops.prefix} in: `) ? `${logDrops.prefix} in: ` : l.line.includes(`${logDrops.prefix} out: `) ? `${logDrops.prefix} out: ` : undefined,
        packet: l.packet,
      }));
    };
    source = {
      where: 'the kernel log (dmesg)',
      waitFor: async (match, ms) => {
        const until = Date.now() + ms;
        for (;;) {
          const found = records().find(match);
          if (found || Date.now() >= until) return found;
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      count: () => records().length,
    };
  }
  return { check: (seen) => checkLog(t, plan, seen, source, raw), stop };
}

/** Some denied probe of each direction with a final drop (inbound always,
 * outbound under restrict) must be in the log with the prefix
 * "<prefix> in: " / "<prefix> out: ". The rate limit lets a burst through
 * at once, then one line per interval: when none of the matrix's drops
 * shows (something else spent the burst), one denied probe is sent again,
 * once a second, for up to two intervals. */
async function checkLog(t: Topology, plan: Plan, seen: readonly ProbeResult[], source: LogSource, raw: RawListeners): Promise<LogCheck> {
  const logDrops = plan.ir.hostPolicy.logDrops!;
  const directions = plan.ir.egress === 'restrict' ? (['ingress', 'egress'] as const) : (['ingress'] as const);
  const found: string[] = [];
  const missing: string[] = [];
  const deadlineMs = Math.min(60000, Math.max(10000, 2 * logInterval(logDrops.rate) + 5000));
  for (const direction of directions) {
    const prefix = `${logDrops.prefix} ${direction === 'ingress' ? 'in' : 'out'}: `;
    const denied = plan.cases.filter((c, i) => c.direction === direction && !c.expect && !seen[i].allowed);
    if (!denied.length) continue;
    const match = (cases: readonly Case[]) => (r: LogRecord) => r.prefix === prefix && cases.some((c) => logged(c, r.packet));
    let hit = await source.waitFor(match(denied), 2000);
    if (!hit) {
      const one = denied.find((c) => c.transport === 'tcp') ?? denied[0];
      const until = Date.now() + deadlineMs;
      while (!hit && Date.now() < until) {
        await probeCases(t, [one], 1000, raw);
        hit = await source.waitFor(match([one]), 500);
      }
    }
    const what = direction === 'ingress' ? 'inbound' : 'outbound';
    if (hit) {
      const p = hit.packet!;
      found.push(`${what} ${p.src} -> ${p.dst} ${p.dport !== undefined ? `${p.dport}/` : ''}${p.protocol} logged with prefix ${JSON.stringify(prefix)}`);
    } else {
      missing.push(`no line with prefix ${JSON.stringify(prefix)} for any of the ${denied.length} denied ${what} probes (${source.count()} log lines seen)`);
    }
  }
  if (missing.length) return { status: 'failed', detail: `${source.where}: ${[...missing, ...found].join('; ')}` };
  if (!found.length) return { status: 'not-checked', detail: 'no probe was denied, so nothing had to be logged' };
  return { status: 'ok', detail: `${source.where}: ${found.join('; ')}` };
}

/** Column-aligned rows; the last column is not padded. Cells are input
 * text (services, paths): each stays on its line, controls quoted. */
export function table(cells: string[][], indent = '  '): string {
  const rows = cells.map((r) => r.map(visibleLine));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => indent + r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

function describeHeader(ir: IR, profilePath: string): string {
  return `verify ${visibleLine(profilePath)}: environment ${ir.environment}, catalog ${ir.catalog.name}, egress ${ir.egress}\n`;
}

function describePlan(plan: Plan, profilePath: string): string {
  return describeHeader(plan.ir, profilePath) + describeRolePlan(plan);
}

/** The plan of one role (the whole plan of a one-role catalog). */
function describeRolePlan(plan: Plan): string {
  const { ir } = plan;
  let out = `node under test: ${plan.node.ipv4.address}, ${plan.node.ipv6.address}\n`;
  const rows = [['peer', 'as', 'in groups', 'probed']];
  for (const p of plan.peers) {
    const dirs = [plan.ingress[p.family].includes(p) ? 'inbound from' : '', plan.egress[p.family].includes(p) ? 'outbound to' : ''].filter(Boolean);
    rows.push([p.address, p.role, p.groups.join(', ') || '(none)', dirs.join(', ')]);
  }
  out += 'peers:\n' + table(rows);
  for (const n of plan.notes) out += `note: ${visibleLine(n)}\n`;
  const count = (d: 'ingress' | 'egress') => plan.cases.filter((c) => c.direction === d).length;
  const baseline = plan.cases.filter((c) => c.baseline);
  out += `matrix: ${plan.cases.length} probes per target (inbound ${count('ingress')}, outbound ${count('egress')}; ${baseline.length} of them for the host baseline)\n`;
  const perTransport = new Map<string, number>();
  for (const c of plan.cases) perTransport.set(c.transport, (perTransport.get(c.transport) ?? 0) + 1);
  out += `transports: ${[...perTransport].map(([t, n]) => `${t} ${n}`).join(', ')}\n`;
  for (const c of baseline)
    out += `baseline: ${c.baseline}: ${c.direction === 'ingress' ? 'inbound' : 'outbound'} ${c.src}${c.sourcePort !== undefined ? ` port ${c.sourcePort}` : ''} -> ${c.dst} ${probeText(c.transport, c.port)}, expect ${c.expect ? 'allow' : 'deny'}\n`;
  const logDrops = ir.hostPolicy.logDrops;
  if (logDrops) out += `log: drops are logged (${logDrops.group !== undefined ? `NFLOG group ${logDrops.group}` : 'kernel log'}, ${logDrops.rate}); a denied probe must show with prefix "${logDrops.prefix} in: "${ir.egress === 'restrict' ? ` / "${logDrops.prefix} out: "` : ''}\n`;
  return out;
}

/** A peer that every expected-allowed probe of one direction failed for
 * points at the link (ARP, IPv6 neighbour discovery), not at ports. */
function linkHints(plan: Plan, all: readonly Mismatch[]): string[] {
  const hints: string[] = [];
  const failed = new Map<string, number>();
  const ms = all.filter((m) => m.role === plan.role);
  for (const m of ms) {
    const k = `${m.target} ${m.c.direction} ${m.c.peer.address}`;
    if (m.c.expect) failed.set(k, (failed.get(k) ?? 0) + 1);
  }
  for (const [k, n] of failed) {
    const [target, direction, address] = k.split(' ');
    const expected = plan.cases.filter((c) => c.direction === direction && c.peer.address === address && c.expect).length;
    if (n === expected && n > 1) {
      const v6 = address.includes(':');
      hints.push(
        `${plan.role ? `role ${plan.role}, ` : ''}${target}: every one of the ${n} expected-allowed ${direction === 'ingress' ? 'inbound probes from' : 'outbound probes to'} ${address} failed: ` +
          `look at ${v6 ? 'IPv6 neighbour discovery (ICMPv6 neighbor solicit/advert on input and output)' : 'the link (ARP)'} before ports`,
      );
    }
  }
  return hints;
}

function describeMismatches(ms: readonly Mismatch[]): string {
  if (!ms.length) return '';
  const roles = ms.some((m) => m.role !== undefined);
  const rows = [[...(roles ? ['role'] : []), 'target', 'direction', 'from', 'to', 'port', 'expected', 'seen', 'catalog rows']];
  for (const { role, target, c, seen } of ms)
    rows.push([
      ...(roles ? [role ?? ''] : []),
      target,
      c.direction === 'ingress' ? 'inbound' : 'outbound',
      c.src,
      c.dst,
      `${c.sourcePort !== undefined ? `${c.sourcePort}->` : ''}${probeText(c.transport, c.port)}`,
      c.expect ? 'allow' : 'deny',
      seen.allowed ? 'allow' : `deny (${seen.outcome})`,
      c.why,
    ]);
  return `\nmismatches (${ms.length}):\n` + table(rows);
}

/** A file; with `catalog`, a catalog spec: a file or a built-in catalog's name. */
function readInput(file: string, catalog = false): InputText {
  try {
    return catalog ? readCatalogSpec(file, false) : readFile(file);
  } catch (e) {
    if (e instanceof InputError) throw new VerifyError(e.message);
    throw e;
  }
}

/** The policies verify runs: every role's, or the one --role names. */
function selectRoles(loaded: Loaded, role: string | undefined): IR[] {
  const irs = roleIRs(loaded);
  if (role === undefined) return irs;
  const ir = irs.find((x) => x.host === role);
  const names = irs.map((x) => x.host);
  if (!ir) throw new VerifyError(`error: --role '${visibleLine(role)}' is not a role of catalog '${visibleLine(loaded.catalog.name)}' (its role${names.length === 1 ? '' : 's'}: ${names.join(', ')})`);
  return [ir];
}

/** The key of a role's target in outputDirs' map. */
const dirKey = (plan: Plan, target: HostTarget) => `${plan.role ?? ''}/${target}`;

/** The output directory of each role's target: compiled into a temporary
 * directory, or given by --from-dir; <env>/<target>/, or <env>/<target>/<role>/
 * for a catalog with several roles (as compile writes them). */
function outputDirs(args: VerifyArgs, loaded: Loaded, targets: HostTarget[], plans: readonly Plan[]): Map<string, string> {
  const dirs = new Map<string, string>();
  let base = args['from-dir'];
  if (!base) {
    const result = render(loaded, targets);
    if (!result.ok) throw new VerifyError(formatDiagnostics(result.diagnostics));
    base = fs.mkdtempSync(path.join(os.tmpdir(), `pcv-out-${process.pid}-`));
    const tmp = base;
    atCleanup(() => fs.rmSync(tmp, { recursive: true, force: true }));
    for (const f of result.files) {
      const file = path.join(base, ...f.path.split('/'));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, f.content);
    }
  }
  for (const plan of plans)
    for (const target of targets) {
      const parts = [loaded.ir.environment, target, ...(plan.role ? [plan.role] : [])];
      const dir = path.resolve(base, ...parts);
      if (args['from-dir']) refuseLinks(base, parts);
      const missing = LOADERS[target].files.filter((f) => !fs.existsSync(path.join(dir, f)));
      if (missing.length)
        throw new VerifyError(
          `error: ${visibleLine(dir)}: no ${missing.join(', ')} (--from-dir takes the directory given to compile --out-dir` +
            `${plan.role ? `; with several roles, each role's tree is in <environment>/<target>/<role>/` : ''})`,
        );
      dirs.set(dirKey(plan, target), dir);
    }
  return dirs;
}

/** --from-dir is read by the rules compile writes by: no symbolic link
 * below it is followed (a link to a secret would otherwise reach the loading
 * tool, which quotes the lines it refuses). */
function refuseLinks(base: string, parts: string[]): void {
  const walk = (p: string, below: boolean): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return; // missing: reported by the caller
    }
    if (st.isSymbolicLink()) throw new VerifyError(`error: ${visibleLine(p)} is a symbolic link; verify --from-dir follows none (nothing loaded)`);
    if (below && st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name), true);
  };
  let cur = path.resolve(base);
  parts.forEach((part, i) => walk((cur = path.join(cur, part)), i === parts.length - 1));
}

/** Runs verify; writes the report to `out`, problems to `err`; resolves to the exit code. */
export async function verify(args: VerifyArgs, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    const requested = parseTargets(args.target);
    const profile = readInput(args.profile);
    const catalog = args.catalog ? readInput(args.catalog, true) : undefined;
    let loaded: Loaded;
    try {
      loaded = load({ profile, catalog });
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      const n = errorCount(e.diagnostics);
      err.write(formatDiagnostics(e.diagnostics) + `\n${n} error${n === 1 ? '' : 's'}; nothing verified.\n`);
      return 2;
    }
    const irs = selectRoles(loaded, args.role);
    const problem = netnsProblem();
    if (problem) throw new VerifyError(`error: verify ${problem}; run it as root (sudo)`);
    const targets: HostTarget[] = [];
    const skipped: string[] = [];
    for (const t of requested.targets) {
      const why = unavailable(t);
      if (!why) targets.push(t);
      else if (requested.optional.has(t)) skipped.push(`${t}: not available: ${why}`);
      else throw new VerifyError(`error: cannot verify ${t}: ${why}`);
    }
    const context = planContext(roleIRs(loaded));
    const plans = irs.map((ir) => buildPlan(ir, context));
    const dirs = outputDirs(args, loaded, targets, plans);
    const rawUsed = [...new Set(plans.flatMap((plan) => plan.cases.filter((c) => isRaw(c.transport)).map((c) => c.transport)))];
    if (rawUsed.length && run('sh', ['-c', 'command -v python3']).code !== 0)
      throw new VerifyError(`error: probing ${rawUsed.join(', ')} needs python3 on PATH (it sends and sees the raw IP packets; Node has no raw sockets)`);
    if (!context) out.write(describePlan(plans[0], args.profile));
    else {
      const all = roleIRs(loaded).map((ir) => ir.host);
      out.write(describeHeader(loaded.ir, args.profile));
      out.write(
        args.role !== undefined
          ? `role: ${irs[0].host} (--role; the catalog's roles: ${all.join(', ')})\n`
          : `roles: ${all.join(', ')}: each verified on a node of its own, with its own policy\n`,
      );
    }
    for (const s of skipped) out.write(`${s}\n`);
    const reports: TargetReport[] = [];
    for (const plan of plans) {
      if (plan.role) out.write(`\nrole ${plan.role}:\n${describeRolePlan(plan)}`);
      const label = (target: HostTarget) => (plan.role ? `role ${plan.role}, ${target}` : target);
      for (const target of targets) {
        const r = await verifyTarget(plan, target, dirs.get(dirKey(plan, target))!);
        reports.push(r);
        out.write(
          r.loadError
            ? `${label(target)}: the ruleset did not load, ${r.failed} probes not run: ${visible(r.loadError)}\n`
            : `${label(target)}: loaded with ${r.how}; ${plan.cases.length} probes: ${r.passed} passed, ${r.failed} failed (${r.seconds.toFixed(1)} s` +
                `${r.timeoutMs > PROBE_TIMEOUT_MS ? `; busy machine: probe timeout raised to ${r.timeoutMs} ms` : ''})\n`,
        );
        if (r.log) out.write(`${label(target)}: log ${r.log.status === 'ok' ? 'ok' : r.log.status === 'failed' ? 'FAILED' : 'not checked'}: ${visibleLine(r.log.detail)}\n`);
      }
    }
    const mismatches = reports.flatMap((r) => r.mismatches);
    out.write(describeMismatches(mismatches));
    for (const plan of plans) for (const h of linkHints(plan, mismatches)) out.write(`hint: ${visibleLine(h)}\n`);
    // A log check counts as one check of its target.
    const passed = reports.reduce((n, r) => n + r.passed + (r.log?.status === 'ok' ? 1 : 0), 0);
    const failed = reports.reduce((n, r) => n + r.failed + (r.log?.status === 'failed' ? 1 : 0), 0);
    out.write(`${passed} passed, ${failed} failed\n`);
    return failed ? 1 : 0;
  } catch (e) {
    if (e instanceof VerifyError) {
      err.write(visible(e.message) + '\n');
      return 2;
    }
    throw e;
  }
}

/** The CLI's entry point: verify is asynchronous, so main() returns at once
 * and the exit code is set when verify finishes. */
export function verifyCommand(args: VerifyArgs): void {
  verify(args).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`verify: internal error: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 2;
    },
  );
}
