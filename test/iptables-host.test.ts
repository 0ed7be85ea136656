// iptables on a real host, in network namespaces: the boot install (the
// files copied into a private /etc/iptables and loaded by netfilter-persistent's
// own plugins), the live apply next to another manager's chains, sets and
// rules (idempotent, one hook at the asked position), a set that grows past
// 65,536 entries by re-applying, and NFLOG logging of drops.
//
// Needs root, `ip netns`, iptables, ip6tables, ipset, tcpdump and the
// plugins of iptables-persistent / ipset-persistent; fails (never skips)
// without them.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../src/compile';
import { writeOutputs } from '../src/index';
import { iptablesLoader, LIVE_COMMANDS } from '../src/targets/iptables/host';
import { probeSettled } from './helpers/kernel-suite';
import { startNflogCapture } from '../src/verify/nflog';
import { udpEcho } from './helpers/iptables-udp';
import { ProbeCase, requireNetns, startListener, Topology, withTopology } from './helpers/netns';

const PLUGINS = '/usr/share/netfilter-persistent/plugins.d';
const NODE4 = '10.20.0.11';
const NODE6 = '2001:db8:20::11';
const NODE_LL = 'fe80::11';
const SERVER_LL = 'fe80::547';
const ADMIN4 = '198.51.100.10';
const ADMIN6 = '2001:db8:ad::10';
const USER = '192.0.2.77';
const OUTSIDER6 = '2001:db8:99::1';

/** The stock /etc/default/netfilter-persistent of Debian 12 (what a user
 * has), bound over the host's so that a local edit cannot change the test. */
const STOCK_DEFAULTS = 'FLUSH_ON_STOP=0\nIPTABLES_TEST_RULESET=yes\nIP6TABLES_TEST_RULESET=yes\n';

function profile(extra: string[] = [], nodes: string[] = [NODE4, '10.20.0.12']): string {
  return [
    'environment: ipt-host',
    'groups:',
    '  admins: [198.51.100.0/24, "2001:db8:ad::/48"]',
    '  users: [0.0.0.0/0]',
    `  nodes: [${nodes.join(', ')}]`,
    ...extra,
    '',
  ].join('\n');
}

function compileTo(dir: string, text: string): string {
  const r = compile({ profile: { path: 'p.yaml', text }, targets: ['iptables'] });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  writeOutputs(dir, r.files);
  return path.join(dir, r.environment, 'iptables');
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pct-ipth-${process.pid}-`));
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const tcp = (src: string, dst: string, port: number): ProbeCase => ({ src, dst, port });

/** Probes from the world side; the flows `expected` allows get second
 * chances on a slow machine, the others fail fast (a drop drops every time). */
async function reach(t: Topology, cases: ProbeCase[], expected: boolean[], message: string): Promise<void> {
  t.flushNeighbours();
  const got = (await probeSettled(t, t.world, cases, (_, i) => expected[i])).map((r) => r.allowed);
  assert.equal(got, expected, `${message}: ${cases.map((c) => `${c.src}->${c.dst}:${c.port}`).join(', ')}`);
}

const nodeAddrs = [NODE4, NODE6, `${NODE_LL}/64`];
const worldAddrs = [ADMIN4, ADMIN6, USER, OUTSIDER6, `${SERVER_LL}/64`];

/** The DHCPv6 reply (server fe80::547 port 547 -> node fe80::11 port 546),
 * and the same datagram from port 548, which no rule allows. */
async function dhcpv6(t: Topology): Promise<{ reply: string; other: string }> {
  const reply = await udpEcho(t, t.world, `${SERVER_LL}%${t.worldIf}`, 547, `${NODE_LL}%${t.worldIf}`, 546, 5000);
  const other = await udpEcho(t, t.world, `${SERVER_LL}%${t.worldIf}`, 548, `${NODE_LL}%${t.worldIf}`, 546, 2500);
  return { reply, other };
}

test('boot: netfilter-persistent\'s own plugins load the three files from a private /etc/iptables and the host is protected', async () => {
  requireNetns();
  for (const p of ['10-ipset', '15-ip4tables', '25-ip6tables']) assert.ok(fs.existsSync(path.join(PLUGINS, p)), `${PLUGINS}/${p} (iptables-persistent, ipset-persistent)`);
  const work = tmp();
  try {
    const out = compileTo(work, profile());
    const etc = path.join(work, 'etc-iptables');
    fs.mkdirSync(etc);
    // The boot install: copy the three files, nothing else.
    for (const f of ['rules.v4', 'rules.v6', 'ipsets']) fs.copyFileSync(path.join(out, f), path.join(etc, f));
    const defaults = path.join(work, 'netfilter-persistent');
    fs.writeFileSync(defaults, STOCK_DEFAULTS);
    await withTopology({ node: nodeAddrs, world: worldAddrs, prefix: 'pcib' }, async (t) => {
      await startListener(t, t.node, [22, 5432, { port: 546, transport: 'udp' }]);
      const cases = [tcp(ADMIN4, NODE4, 22), tcp(USER, NODE4, 22), tcp(ADMIN4, NODE4, 5432), tcp(ADMIN6, NODE6, 22), tcp(OUTSIDER6, NODE6, 22)];
      await reach(t, cases, [true, true, true, true, true], 'control: without rules every flow gets through');
      assert.equal(await dhcpv6(t), { reply: 'echo', other: 'echo' }, 'control: both datagrams get through without rules');

      const boot = [
        `mount --bind ${sh(etc)} /etc/iptables`,
        `mount --bind ${sh(defaults)} /etc/default/netfilter-persistent`,
        `${PLUGINS}/10-ipset start`,
        `${PLUGINS}/15-ip4tables start`,
        `${PLUGINS}/25-ip6tables start`,
      ].join(' && ');
      const r = t.exec(t.node, ['unshare', '-m', '--propagation', 'private', 'sh', '-ec', boot]);
      assert.is(r.code, 0, `the plugins failed: ${r.stdout}${r.stderr}`);
      assert.not.match(r.stdout + r.stderr, /Warning|Error/, `the plugins complained: ${r.stdout}${r.stderr}`);

      const v4 = t.execOk(t.node, ['iptables', '-S']);
      assert.ok(v4.split('\n').includes('-A INPUT -j PORTCULLIS-INPUT'), `hooked at boot:\n${v4}`);
      assert.not.match(v4, /-A FORWARD/, 'FORWARD is left alone');
      await reach(t, cases, [true, false, false, true, false], 'admin SSH in (v4, v6); user SSH, admin to a nodes-only port and an outsider denied');
      assert.equal(await dhcpv6(t), { reply: 'echo', other: 'timeout' }, 'the DHCPv6 reply (547 -> 546, link-local) gets in; the same from port 548 does not');
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

/** Another manager's state: a chain accepting a bridge, its own set and a
 * rule matching it, a policy, and jumps into our chains left by an older
 * two-step apply (duplicates). */
function foreign(t: Topology): void {
  for (const cmd of ['iptables', 'ip6tables']) {
    const x = (...a: string[]) => t.execOk(t.node, [cmd, ...a]);
    x('-N', 'FOREIGN');
    x('-A', 'FOREIGN', '-i', 'br-x', '-j', 'ACCEPT');
    x('-A', 'INPUT', '-j', 'FOREIGN');
    x('-P', 'FORWARD', 'DROP');
    x('-A', 'FORWARD', '-o', 'br-x', '-j', 'ACCEPT');
    x('-N', 'PORTCULLIS-INPUT');
    x('-A', 'INPUT', '-j', 'PORTCULLIS-INPUT');
    x('-A', 'INPUT', '-j', 'PORTCULLIS-INPUT');
  }
  t.execOk(t.node, ['ipset', 'create', 'foreign-set', 'hash:ip']);
  t.execOk(t.node, ['ipset', 'add', 'foreign-set', USER]);
  // Accepts the user on 5432, which our chain denies: which one wins shows
  // where our jump sits.
  t.execOk(t.node, ['iptables', '-A', 'FOREIGN', '-m', 'set', '--match-set', 'foreign-set', 'src', '-p', 'tcp', '--dport', '5432', '-j', 'ACCEPT']);
}

const notOurs = (save: string) => save.split('\n').filter((l) => l && !l.includes('PORTCULLIS'));
const hooks = (save: string) => save.split('\n').filter((l) => /^-A (INPUT|OUTPUT) .*-j PORTCULLIS-/.test(l));

for (const hook of ['first', 'last'] as const)
  test(`live apply (hook: ${hook}), twice, next to another manager: one jump per chain at the ${hook} position, the other chains, rules, policies and sets untouched`, async () => {
    requireNetns();
    const work = tmp();
    try {
      const out = compileTo(work, profile([`iptables: { hook: ${hook} }`]));
      await withTopology({ node: nodeAddrs, world: worldAddrs, prefix: 'pcil' }, async (t) => {
        await startListener(t, t.node, [22, 5432]);
        foreign(t);
        const before = { v4: notOurs(t.execOk(t.node, ['iptables', '-S'])), v6: notOurs(t.execOk(t.node, ['ip6tables', '-S'])), set: t.execOk(t.node, ['ipset', 'list', 'foreign-set']) };
        await iptablesLoader.load(t, out);
        await iptablesLoader.load(t, out);
        // The header's commands, as a user runs them by hand: the same result.
        for (const c of LIVE_COMMANDS) t.execOk(t.node, ['sh', '-c', c], { cwd: out });
        for (const [fam, cmd] of [['v4', 'iptables'], ['v6', 'ip6tables']] as const) {
          const save = t.execOk(t.node, [cmd, '-S']);
          assert.equal(notOurs(save), before[fam], `${cmd}: another manager's chains, rules and policies are as they were`);
          assert.equal(hooks(save), ['-A INPUT -j PORTCULLIS-INPUT', '-A OUTPUT -j PORTCULLIS-OUTPUT'], `${cmd}: exactly one unconditional jump per chain`);
          const input = t.execOk(t.node, [cmd, '-S', 'INPUT']).split('\n').filter((l) => l.startsWith('-A '));
          const at = input.indexOf('-A INPUT -j PORTCULLIS-INPUT');
          assert.is(at, hook === 'first' ? 0 : input.length - 1, `${cmd}: the jump is the ${hook} rule of INPUT:\n${input.join('\n')}`);
          assert.match(t.execOk(t.node, [cmd, '-S', 'PORTCULLIS-INPUT']), /-A PORTCULLIS-INPUT -j DROP/);
        }
        assert.is(t.execOk(t.node, ['ipset', 'list', 'foreign-set']), before.set, 'the other manager\'s set is untouched');
        // Packets: the admin's SSH passes; the user's 5432 is ours to deny
        // with the jump first, and the other manager's to accept with it last.
        await reach(t, [tcp(ADMIN4, NODE4, 22), tcp(USER, NODE4, 5432), tcp(USER, NODE4, 22)], [true, hook === 'last', false], `hook ${hook}: admin SSH in; the user's 5432 denied by our chain with the jump first, accepted by the other manager's rule with it last`);
      });
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

/** Distinct, non-adjacent /32s (4 apart), so that normalization cannot
 * merge them: 10.64.0.1, 10.64.0.5, ... */
const nodeAddr = (i: number) => `10.${64 + (i >> 14)}.${(i >> 6) & 255}.${(i & 63) * 4 + 1}`;

test('a set grows from 60,000 to 70,000 entries by re-applying live, and the new addresses get in', async () => {
  requireNetns();
  const work = tmp();
  try {
    const small = compileTo(path.join(work, 'small'), profile([], Array.from({ length: 60000 }, (_, i) => nodeAddr(i))));
    const large = compileTo(path.join(work, 'large'), profile([], Array.from({ length: 70000 }, (_, i) => nodeAddr(i))));
    const grown = nodeAddr(65000);
    const outside = nodeAddr(70001);
    await withTopology({ node: [NODE4], world: [grown, outside], prefix: 'pcig' }, async (t) => {
      await startListener(t, t.node, [5432]);
      await iptablesLoader.load(t, small);
      assert.match(t.execOk(t.node, ['ipset', 'list', '-t', 'pc-nodes_v4']), /Number of entries: 60000/);
      await reach(t, [tcp(grown, NODE4, 5432)], [false], 'not a node yet');
      await iptablesLoader.load(t, large);
      assert.match(t.execOk(t.node, ['ipset', 'list', '-t', 'pc-nodes_v4']), /Number of entries: 70000/);
      await reach(t, [tcp(grown, NODE4, 5432), tcp(outside, NODE4, 5432)], [true, false], 'an address only in the grown set gets in (node to node); one outside does not');
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('logging to NFLOG group 7: a denied probe yields a message with prefix "portcullis-drop in: ", an accepted one none', async () => {
  requireNetns();
  const work = tmp();
  try {
    const out = compileTo(work, profile(['host: { log: { drops: true, group: 7, rate: 100/second } }']));
    await withTopology({ node: nodeAddrs, world: worldAddrs, prefix: 'pcin' }, async (t) => {
      await startListener(t, t.node, [22, 5432]);
      await iptablesLoader.load(t, out);
      const cap = await startNflogCapture(t, t.node, 7);
      await reach(t, [tcp(ADMIN4, NODE4, 22), tcp(USER, NODE4, 5432)], [true, false], 'the admin SSH gets in, the user on 5432 is dropped');
      // Wait for the denied probe's record (readiness, not a sleep).
      await cap.waitFor((r) => r.packet?.dport === 5432, 30000);
      cap.stop();
      const records = cap.records();
      const denied = records.filter((r) => r.packet?.src === USER && r.packet.dport === 5432);
      assert.ok(denied.length > 0, `no NFLOG message for the denied probe: ${JSON.stringify(records)}`);
      for (const d of denied) assert.equal([d.prefix, d.group], ['portcullis-drop in: ', 7]);
      assert.not.ok(records.some((r) => r.packet?.dport === 22), 'the accepted probe was not logged');
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test.run();
