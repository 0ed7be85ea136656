// `audit`'s flow comparison over every transport, without a host: two
// LiveReads built by hand (what a target's live reader would give) are
// compared, and the text, markdown and JSON name ICMP types by name and
// portless protocols without ports. The readers themselves are tested
// with the targets.
import * as fs from 'fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FULL_RANGE, cidrRange } from '../src/addresses';
import { load } from '../src/compile';
import { compareLive, formatAuditMarkdown, formatAuditText } from '../src/operate/audit';
import type { LiveFlowRule, LiveRead } from '../src/targets/live';
import type { PortRange } from '../src/ports';
import type { Transport } from '../src/transports';
import { fixture } from './helpers/cli';

const loaded = load({
  profile: { path: 'transports.yaml', text: fs.readFileSync(fixture('profiles', 'transports.yaml'), 'utf8') },
  catalog: { path: 'transports.catalog.yaml', text: fs.readFileSync(fixture('catalogs', 'transports.yaml'), 'utf8') },
});

function rule(transport: Transport, ports: PortRange[], peer: string, ruleId: string, family: 'ipv4' | 'ipv6' = 'ipv4'): LiveFlowRule {
  const r = /^(.*)\/(\d+)$/.exec(peer)!;
  const { parseAddress } = require('../src/addresses') as typeof import('../src/addresses');
  const p = parseAddress(`${r[1]}/${r[2]}`);
  if (!p.ok) throw new Error(peer);
  return { direction: 'ingress', family, transport, ports, peers: [cidrRange(p.cidr)], verdict: 'accept', ruleId, origin: `chain input: ${ruleId} accept` };
}

const read = (flowRules: LiveFlowRule[]): LiveRead => ({ present: true, flowRules, other: [], unmapped: [] });

test('audit: a missing ESP rule, an extra ICMP type and any-type ICMP read as such in text, markdown and JSON', () => {
  const expected = read([
    rule('esp', [{ lo: 0, hi: 0 }], '203.0.113.7/32', 'in-vpn_peers-v4-esp'),
    rule('icmp', [{ lo: 0, hi: 0 }, { lo: 8, hi: 8 }], '192.0.2.50/32', 'in-monitor-v4-icmp'),
    rule('tcp', [{ lo: 22, hi: 22 }], '198.51.100.0/24', 'in-admins-v4-tcp'),
  ]);
  const live = read([
    // ESP gone; echo-request, echo-reply and timestamp-request for the monitor; all ICMPv6 for a stranger; SSH unchanged.
    rule('icmp', [{ lo: 0, hi: 0 }, { lo: 8, hi: 8 }, { lo: 13, hi: 13 }], '192.0.2.50/32', 'in-monitor-v4-icmp'),
    rule('icmpv6', [{ lo: 0, hi: 255 }], '2001:db8:99::1/128', 'hand-made', 'ipv6'),
    rule('tcp', [{ lo: 22, hi: 22 }], '198.51.100.0/24', 'in-admins-v4-tcp'),
  ]);
  const r = compareLive(loaded, 'nftables', 'transports', live, expected);
  assert.is(r.in_sync, false);
  const brief = (f: (typeof r.host_allows)[number]) => [f.transport, f.ports, f.icmp_types, f.match, f.peers];
  assert.equal(r.host_allows.map(brief), [
    ['icmp', [], ['timestamp-request'], 'icmp timestamp-request', ['192.0.2.50/32']],
    ['icmpv6', [], ['any'], 'icmpv6 any type', ['2001:db8:99::1/128']],
  ]);
  assert.equal(r.policy_allows.map(brief), [['esp', [], undefined, 'esp', ['203.0.113.7/32']]]);
  assert.equal(r.policy_allows[0].rows, ['T1.5 IPsec']);
  const text = formatAuditText(r);
  assert.match(text, /^host allows, policy does not: ingress icmp timestamp-request from 192\.0\.2\.50\/32$/m);
  assert.match(text, /^host allows, policy does not: ingress icmpv6 any type from 2001:db8:99::1\/128$/m);
  assert.match(text, /^policy allows, host does not: ingress esp from 203\.0\.113\.7\/32$/m);
  assert.not.match(text, /\b0-0\b|\/esp|tcp 22/);
  const md = formatAuditMarkdown(r);
  assert.match(md, /\| policy allows, host does not \| ingress \| esp \| 203\.0\.113\.7\/32 \| T1\.5 IPsec \|/);
  assert.match(md, /\| ingress \| icmp timestamp-request \|/);
  JSON.parse(JSON.stringify(r));
});

test('audit: the same rules on both sides, every transport: in sync; tcp flows keep their ports', () => {
  const all = loaded.ir.rules
    .filter((x) => x.scope === 'host' && x.direction === 'ingress')
    .map((x) => ({ direction: x.direction, family: x.family, transport: x.transport, ports: x.ports, peers: [FULL_RANGE[x.family]], verdict: 'accept' as const, ruleId: x.id, origin: x.id }));
  assert.ok(new Set(all.map((x) => x.transport)).size >= 8, 'the fixture has most transports');
  assert.is(compareLive(loaded, 'nftables', 'transports', read(all), read(all)).in_sync, true);
  const r = compareLive(loaded, 'nftables', 'transports', read(all), read(all.filter((x) => x.transport !== 'tcp')));
  assert.equal(r.host_allows.map((f) => [f.transport, f.family, f.ports, f.match]), [['tcp', 'ipv4', ['22'], 'tcp 22'], ['tcp', 'ipv6', ['22'], 'tcp 22']]);
});

test.run();
