// Kernel test, every host target: under `egress: restrict`, host.platform
// keeps the cloud's endpoints reachable and nothing else; with platform
// none they are cut off like any unlisted destination. Real TCP and UDP
// round trips from the node namespace to listeners on the endpoints'
// addresses in the world namespace (private to the test).
//
// Expectations from the providers' documentation (docs/profile.md), not
// from the compiler: AWS IMDS 169.254.169.254 and fd00:ec2::254 tcp 80,
// Route 53 Resolver 169.254.169.253 udp/tcp 53, Time Sync 169.254.169.123
// udp 123.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LOADERS, unavailable } from '../src/verify/targets';
import type { HostTarget } from '../src/verify/targets';
import { runCli } from './helpers/cli';
import { probeSettled } from './helpers/kernel-suite';
import { requireNetns, startListener, withTopology } from './helpers/netns';

const NODE4 = '10.50.0.11';
const NODE6 = '2001:db8:50::11';
const IMDS4 = '169.254.169.254';
const IMDS6 = 'fd00:ec2::254';
const DNS4 = '169.254.169.253';
const NTP4 = '169.254.169.123';
const OTHER_LINK_LOCAL = '169.254.1.1';
const OTHER = '192.0.2.80';

const profile = (platform: string) => `environment: platform
groups:
  admins: [192.0.2.0/25]
  users:  [10.0.0.0/8]
  nodes:  [${NODE4}, "${NODE6}"]
egress: restrict
host: { platform: ${platform} }
`;

interface Case {
  dst: string;
  port: number;
  transport: 'tcp' | 'udp';
  aws: boolean;
  why: string;
}

const CASES: Case[] = [
  { dst: IMDS4, port: 80, transport: 'tcp', aws: true, why: 'IMDS' },
  { dst: IMDS6, port: 80, transport: 'tcp', aws: true, why: 'IMDS over IPv6' },
  { dst: IMDS4, port: 443, transport: 'tcp', aws: false, why: 'IMDS is http only' },
  { dst: DNS4, port: 53, transport: 'udp', aws: true, why: 'Route 53 Resolver' },
  { dst: DNS4, port: 53, transport: 'tcp', aws: true, why: 'Route 53 Resolver over tcp' },
  { dst: NTP4, port: 123, transport: 'udp', aws: true, why: 'Time Sync' },
  { dst: NTP4, port: 53, transport: 'udp', aws: false, why: 'the time service is not a resolver' },
  { dst: OTHER_LINK_LOCAL, port: 80, transport: 'tcp', aws: false, why: 'other link-local addresses are not the platform' },
  { dst: OTHER, port: 53, transport: 'udp', aws: false, why: 'DNS elsewhere is not allowed by the platform switch' },
];

function compile(dir: string, platform: string, target: HostTarget): string {
  const file = path.join(dir, `${platform}.yaml`);
  fs.writeFileSync(file, profile(platform));
  const out = path.join(dir, `out-${platform}`);
  const r = runCli(['compile', '--profile', file, '--target', target, '--out-dir', out]);
  assert.is(r.code, 0, r.stderr);
  return path.join(out, 'platform', target);
}

for (const target of ['nftables', 'iptables', 'firewalld'] as const) {
  test(`${target}: egress restrict with host.platform aws reaches exactly the AWS endpoints; platform none reaches none`, async () => {
    requireNetns();
    const missing = unavailable(target);
    if (missing) throw new Error(`${target}: ${missing}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pc-platform-${process.pid}-`));
    try {
      for (const platform of ['aws', 'none'] as const) {
        const compiled = compile(dir, platform, target);
        const world = [...new Set(CASES.map((c) => c.dst))];
        await withTopology({ node: [NODE4, NODE6], world, prefix: 'pcplat' }, async (t) => {
          const ports = [...new Set(CASES.map((c) => `${c.port}/${c.transport}`))].map((s) => ({ port: Number(s.split('/')[0]), transport: s.split('/')[1] as 'tcp' | 'udp' }));
          await startListener(t, t.world, ports, 30000, world);
          const probes = CASES.map((c) => ({ src: c.dst.includes(':') ? NODE6 : NODE4, dst: c.dst, port: c.port, transport: c.transport }));
          // Control: every flow works before the firewall is loaded.
          const before = await probeSettled(t, t.node, probes, () => true);
          assert.equal(before.filter((r) => !r.allowed).map((r) => `${r.dst}:${r.port}/${r.transport}`), [], 'topology broken');
          const loaded = await LOADERS[target].load(t, compiled);
          try {
            t.flushNeighbours();
            const expect = (c: Case) => platform === 'aws' && c.aws;
            const seen = await probeSettled(t, t.node, probes, (_, i) => expect(CASES[i]));
            const wrong = CASES.map((c, i) => ({ c, r: seen[i] }))
              .filter(({ c, r }) => r.allowed !== expect(c))
              .map(({ c, r }) => `  ${c.dst}:${c.port}/${c.transport} expected ${expect(c) ? 'ALLOW' : 'DENY'} (${c.why}), got ${r.outcome}`);
            assert.equal(wrong, [], `${target}, platform ${platform}:\n${wrong.join('\n')}`);
          } finally {
            loaded.stop?.();
          }
        });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
