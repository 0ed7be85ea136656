// Shared by test/apply-nftables.test.ts: profiles compiled into a
// temporary directory, the LiveTarget run inside a namespace, and the flows
// a list of live flow rules lets through, in the same elementary-segment
// form as the IR's flow model (src/analysis/flows.ts), so the two compare.
import * as fs from 'fs';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { AddrRange, Family, FULL_RANGE, mergeRanges, rangesToStrings, subtractRanges, intersectRanges } from '../../src/addresses';
import { buildFlowModel, elementarySegments, setRanges } from '../../src/analysis/flows';
import type { Direction, IR, Transport } from '../../src/ir/types';
import { formatPortRange, PortRange } from '../../src/ports';
import type { HostShell, LiveFlowRule } from '../../src/targets/live';
import { fixture, runCli } from './cli';
import type { Topology } from './netns';

/** A HostShell that runs in the topology's node namespace. */
export function nodeShell(t: Topology): HostShell {
  return { run: (argv, options) => t.exec(t.node, argv, options) };
}

/** The example profile with its `groups:` lines replaced by `groups`, plus `extra` YAML. */
export function exampleProfile(groups: Record<string, string[]>, extra = ''): string {
  const lines = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8').split('\n');
  const out: string[] = [];
  for (const line of lines) {
    const m = /^ {2}(\w+):\s*\[/.exec(line);
    if (m && groups[m[1]]) out.push(`  ${m[1]}: [${groups[m[1]].map((a) => JSON.stringify(a)).join(', ')}]`);
    else out.push(line);
  }
  return `${out.join('\n').trimEnd()}\n${extra.trim()}\n`;
}

/** Writes profile text to DIR/<name>.yaml and compiles it (nftables) into
 * DIR/<name>/; returns the profile path and the nftables directory. */
export function compileProfile(text: string, dir: string, name: string, environment = 'prod-east'): { profile: string; out: string; nftDir: string } {
  const profile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(profile, text);
  const out = path.join(dir, name);
  const r = runCli(['compile', '--profile', profile, '--target', 'nftables', '--out-dir', out]);
  assert.is(r.code, 0, `compile ${name} failed: ${r.stderr}`);
  const nftDir = path.join(out, environment, 'nftables');
  assert.ok(fs.existsSync(path.join(nftDir, 'portcullis.nft')), `compile wrote no ${nftDir}/portcullis.nft`);
  return { profile, out, nftDir };
}

/** One allowed port segment and its peers, as text: "22 10.0.0.0/8,192.0.2.1/32". */
type Lines = string[];

/** Joins adjacent port segments that allow the same peers, and prints them. */
function lines(segments: { ports: PortRange; peers: AddrRange[] }[], family: Family): Lines {
  const joined: { ports: PortRange; key: string }[] = [];
  for (const s of segments) {
    const key = rangesToStrings(s.peers, family).join(',');
    if (!key) continue;
    const last = joined[joined.length - 1];
    if (last && last.key === key && last.ports.hi + 1 === s.ports.lo) last.ports = { lo: last.ports.lo, hi: s.ports.hi };
    else joined.push({ ports: { ...s.ports }, key });
  }
  return joined.map((j) => `${formatPortRange(j.ports)} ${j.key}`);
}

/** What the flow rules of one direction/transport/family let through
 * under first-match semantics, the chain's policy being drop. */
export function liveFlows(rules: readonly LiveFlowRule[], direction: Direction, transport: Transport, family: Family): Lines {
  const mine = rules.filter((r) => r.direction === direction && r.transport === transport && r.family === family);
  const segments = elementarySegments(mine.flatMap((r) => r.ports)).map((ports) => {
    let undecided = [FULL_RANGE[family]];
    let allowed: AddrRange[] = [];
    for (const r of mine) {
      if (!r.ports.some((p) => p.lo <= ports.lo && ports.hi <= p.hi)) continue;
      const hit = intersectRanges(undecided, mergeRanges(r.peers));
      if (r.verdict === 'accept') allowed = mergeRanges([...allowed, ...hit]);
      undecided = subtractRanges(undecided, hit);
    }
    return { ports, peers: allowed };
  });
  return lines(segments, family);
}

/** The IR's flow model for its host rules and, egress, the baseline rules
 * without source ports (those with source ports, DHCP, are not flows to
 * the reader: it compares them as lines). */
export function modelFlows(ir: IR, direction: Direction, transport: Transport, family: Family): Lines {
  const flowIr: IR = { ...ir, hostPolicy: { ...ir.hostPolicy, baseline: ir.hostPolicy.baseline.filter((b) => !b.sourcePorts?.length) } };
  const model = buildFlowModel(flowIr, { ipv4: setRanges(ir, `${ir.host}_v4`), ipv6: setRanges(ir, `${ir.host}_v6`) });
  return lines(model.segments(direction, transport, family), family);
}
