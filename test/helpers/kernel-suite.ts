// Kernel test suite shared by the host targets: a target's compiled output,
// loaded into a real network namespace, lets through exactly the TCP flows the
// vendor document and the example profile call for, proven by nonce round
// trips (test/helpers/prober.js).
//
// Needs root and `ip netns` (iproute2) and nft; fails (never skips) without them.
//
// The expectations below are written by hand from ../shared/seeds/network-ports.md,
// catalog/thoughtspot.yaml and fixtures/profiles/example.yaml, NOT derived from
// the compiler's IR or output. Profile facts they rest on:
//   admins  = 198.51.100.0/24, 2001:db8:ad::/48
//   users   = 0.0.0.0/0  -> every IPv4 source is a user; users have no IPv6
//   nodes   = 10.20.0.11, 10.20.0.12, 10.20.0.13 (IPv4 only)
//   support = 203.0.113.16/28, but feature support is off
//   debug on, ipmi off, smtp on (587), ldap on (636), file_transfer on
//   dynamic_ports = 20000-65535
// The node under test is 10.20.0.11 (+ 2001:db8:20::11, which is not in the
// profile: the host end of a rule is not matched by address).

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture } from './cli';
import { probe, ProbeCase, ProbeResult, requireNetns, startListener, Topology, withTopology } from './netns';

export const NODE4 = '10.20.0.11';
export const NODE6 = '2001:db8:20::11';

export const SRC = {
  admin4: '198.51.100.10', // in admins (v4) and, via 0.0.0.0/0, in users
  admin6: '2001:db8:ad::10', // in admins (v6); no IPv6 users exist
  node2: '10.20.0.12', // another node (and a user)
  user: '192.0.2.77', // only a user
  support: '203.0.113.20', // in support (feature off), and a user
  outsider6: '2001:db8:99::1', // in no group at all
} as const;
type Source = keyof typeof SRC;

const PORTS = [22, 80, 443, 2100, 2201, 4021, 4853, 5432, 8080, 12345, 19999, 20000, 30000, 65535] as const;
type Port = (typeof PORTS)[number];

interface Expect {
  allow: boolean;
  why: string;
}
const A = (why: string): Expect => ({ allow: true, why });
const D = (why: string): Expect => ({ allow: false, why });

// Inbound to the node, egress: allow profile. One row per source, every port.
export const INBOUND: Record<Source, Record<Port, Expect>> = {
  admin4: {
    22: A('T1.1 SSH from admins'),
    80: A('T1.2 HTTP from users; 0.0.0.0/0 covers the admin'),
    443: A('T1.3 HTTPS from users; 0.0.0.0/0 covers the admin'),
    2100: D('T2.3 Oreo RPC is nodes only'),
    2201: A('T1.5 Orion master HTTP from admins, debug on'),
    4021: A('T2.17 Sage metadata: "Admin IP addresses and all nodes", not a debug port'),
    4853: A('T2.32 ELK manager HTTP: admins with debug on'),
    5432: D('T2.33 Postgres is nodes only'),
    8080: D('T2.35 Tomcat is nodes only'),
    12345: A('T1.4 Simba from admins'),
    19999: D('below the dynamic range, no rule'),
    20000: D('dynamic range is nodes only'),
    30000: D('dynamic range is nodes only'),
    65535: D('dynamic range is nodes only'),
  },
  admin6: {
    22: A('T1.1 SSH from admins (v6 admin CIDR)'),
    80: D('T1.2 users are 0.0.0.0/0 only: no IPv6 user'),
    443: D('T1.3 users are 0.0.0.0/0 only: no IPv6 user'),
    2100: D('T2.3 nodes only'),
    2201: A('T1.5 admin debug port, debug on'),
    4021: A('T2.17 admins ungated'),
    4853: A('T2.32 admins with debug on'),
    5432: D('T2.33 nodes only'),
    8080: D('T2.35 nodes only'),
    12345: A('T1.4 Simba from admins'),
    19999: D('no rule'),
    20000: D('dynamic range is nodes only (and nodes have no v6)'),
    30000: D('dynamic range is nodes only'),
    65535: D('dynamic range is nodes only'),
  },
  node2: {
    22: D('T1.1 SSH is admins only; a node is not an admin'),
    80: A('T2.1 nginx node to node (and T1.2 users)'),
    443: A('T2.2 secure nginx node to node (and T1.3 users)'),
    2100: A('T2.3 Oreo RPC node to node'),
    2201: A('T2.7 Orion master HTTP: all nodes'),
    4021: A('T2.17 Sage metadata: all nodes'),
    4853: A('T2.31/32 ELK manager: all nodes'),
    5432: A('T2.33 Postgres node to node'),
    8080: A('T2.35 Tomcat node to node'),
    12345: A('T2.39 Simba node to node'),
    19999: D('one below the dynamic range 20000-65535'),
    20000: A('dynamic range low edge (T2 prose "20K+")'),
    30000: A('inside the dynamic range'),
    65535: A('dynamic range high edge'),
  },
  user: {
    22: D('SSH is admins only'),
    80: A('T1.2 HTTP from users'),
    443: A('T1.3 HTTPS from users'),
    2100: D('nodes only'),
    2201: D('debug ports are for admins, not users'),
    4021: D('admins and nodes only'),
    4853: D('admins (debug) and nodes only'),
    5432: D('nodes only'),
    8080: D('nodes only'),
    12345: D('T1.4 Simba is admins only (T3.4 support is off)'),
    19999: D('no rule'),
    20000: D('dynamic range is nodes only'),
    30000: D('dynamic range is nodes only'),
    65535: D('dynamic range is nodes only'),
  },
  support: {
    22: D('T3.1 support SSH, but feature support is off'),
    80: A('T1.2 HTTP from users (0.0.0.0/0), not via T3.2 which is off'),
    443: A('T1.3 HTTPS from users (0.0.0.0/0), not via T3.3 which is off'),
    2100: D('nodes only'),
    2201: D('admin debug port'),
    4021: D('admins and nodes only'),
    4853: D('admins (debug) and nodes only'),
    5432: D('nodes only'),
    8080: D('nodes only'),
    12345: D('T3.4 support Simba, feature support is off'),
    19999: D('no rule'),
    20000: D('dynamic range is nodes only'),
    30000: D('dynamic range is nodes only'),
    65535: D('dynamic range is nodes only'),
  },
  outsider6: {
    22: D('not an admin'),
    80: D('no IPv6 users'),
    443: D('no IPv6 users'),
    2100: D('in no group'),
    2201: D('in no group'),
    4021: D('in no group'),
    4853: D('in no group'),
    5432: D('in no group'),
    8080: D('in no group'),
    12345: D('in no group'),
    19999: D('in no group'),
    20000: D('in no group'),
    30000: D('in no group'),
    65535: D('in no group'),
  },
};

const isV6 = (a: string) => a.includes(':');

interface Case extends ProbeCase {
  label: string;
  expect: Expect;
}

export function inboundCases(sources: readonly Source[] = Object.keys(SRC) as Source[]): Case[] {
  const cases: Case[] = [];
  for (const s of sources) {
    for (const port of PORTS) {
      const src = SRC[s];
      cases.push({ label: s, src, dst: isV6(src) ? NODE6 : NODE4, port, expect: INBOUND[s][port] });
    }
  }
  return cases;
}

/** Asserts every result against its case; reports all mismatches at once. */
export function check(title: string, cases: readonly Case[], results: readonly ProbeResult[]): void {
  assert.is(results.length, cases.length, `${title}: result count`);
  const bad: string[] = [];
  cases.forEach((c, i) => {
    const r = results[i];
    assert.equal([r.src, r.dst, r.port], [c.src, c.dst, c.port], `${title}: results out of order`);
    if (r.allowed !== c.expect.allow) {
      bad.push(
        `  ${c.label} ${c.src} -> [${c.dst}]:${c.port}: expected ${c.expect.allow ? 'ALLOW' : 'DENY'} (${c.expect.why}), got ${r.allowed ? 'ALLOW' : 'DENY'} (${r.outcome}, ${r.ms} ms)`,
      );
    }
  });
  assert.ok(bad.length === 0, `${title}: ${bad.length} of ${cases.length} probes disagree:\n${bad.join('\n')}`);
}

/** A denied probe waits this long. */
const PROBE_TIMEOUT_MS = 1500;
/** Second chances for probes that should pass: a loaded 2-core machine can
 * take seconds for one round trip (or for neighbour resolution, which then
 * fails with EHOSTUNREACH), while a firewall drop drops every time. */
const RETRY_TIMEOUTS_MS = [5000, 15000];
const SLOW_OUTCOMES = new Set(['timeout', 'EHOSTUNREACH']);

/** Probes every case in parallel; then the cases `shouldPass` says must get
 * through and did not (timed out, or no neighbour yet) again, with each
 * longer timeout in turn. Results in case order. */
export async function probeSettled(t: Topology, ns: string, cases: readonly ProbeCase[], shouldPass: (c: ProbeCase, i: number) => boolean): Promise<ProbeResult[]> {
  let seen = await probe(t, ns, cases, PROBE_TIMEOUT_MS);
  for (const timeout of RETRY_TIMEOUTS_MS) {
    const retry = cases.map((c, i) => i).filter((i) => shouldPass(cases[i], i) && !seen[i].allowed && SLOW_OUTCOMES.has(seen[i].outcome));
    if (!retry.length) break;
    const again = await probe(t, ns, retry.map((i) => cases[i]), timeout);
    seen = seen.slice();
    retry.forEach((i, j) => (seen[i] = again[j]));
  }
  return seen;
}

/** probeSettled for cases with expectations: second chances for the expected-allowed ones. */
function probeCases(t: Topology, ns: string, cases: readonly Case[]): Promise<ProbeResult[]> {
  return probeSettled(t, ns, cases, (_, i) => cases[i].expect.allow);
}

/** Control run, before any ruleset: every flow must get through, or a later DENY proves nothing. */
export async function assertAllReachable(t: Topology, ns: string, cases: readonly ProbeCase[]): Promise<void> {
  const results = await probeSettled(t, ns, cases, () => true);
  const broken = results.filter((r) => !r.allowed).map((r) => `  ${r.src} -> [${r.dst}]:${r.port} (${r.outcome})`);
  assert.ok(broken.length === 0, `topology broken: without any ruleset these flows failed:\n${broken.join('\n')}`);
}

// Egress: restrict. Expectations for connections the node opens (from
// 10.20.0.11 / 2001:db8:20::11) to listeners in the world namespace.
// Extra world addresses for the catalog's egress destinations (private to
// the namespace): smtp relay 10.20.1.25, LDAP server 10.20.1.10, and the
// file-transfer host 208.83.110.20 (catalog default of group file_transfer).
export const SMTP = '10.20.1.25';
export const LDAP = '10.20.1.10';
export const FILE_TRANSFER = '208.83.110.20';

export const EGRESS: Array<[string, number, Expect]> = [
  [SRC.node2, 5432, A('T2.33 Postgres node to node: node-to-node traffic is allowed egress')],
  [SRC.node2, 443, A('T2.2 secure nginx node to node')],
  [SRC.node2, 30000, A('dynamic range node to node')],
  [SRC.node2, 22, D('no node-to-node rule on 22: SSH is from admins only')],
  [SRC.node2, 25, D('no node-to-node rule on 25')],
  [SMTP, 587, A('T4.2 SMTP to the relay, smtp on, smtp_port 587')],
  [SMTP, 25, D('"25 or 587" is one port: the profile picked 587')],
  [LDAP, 636, A('T4.3 LDAPS to the LDAP server, ldap on, ldap_port 636')],
  [LDAP, 389, D('"389 or 636" is one port: the profile picked 636')],
  [FILE_TRANSFER, 443, A('T4.1 HTTPS to the file-transfer host, file_transfer on')],
  [FILE_TRANSFER, 80, D('T4.1 allows 443 only')],
  [SRC.user, 80, D('users are sources of inbound rules, never egress destinations')],
  [SRC.user, 443, D('users are sources of inbound rules, never egress destinations')],
  [SRC.admin4, 22, D('"bidirectional" does not mean nodes initiate to admins')],
  [SRC.admin4, 443, D('no egress rule to admins')],
  [SRC.support, 22, D('no egress rule to support')],
  [SRC.admin6, 22, D('no egress rule to admins (v6)')],
  [SRC.admin6, 443, D('no egress rule to admins (v6)')],
  [SRC.outsider6, 443, D('no egress rule at all for IPv6')],
];
export const EGRESS_PORTS = [...new Set(EGRESS.map(([, p]) => p))].sort((a, b) => a - b);


/** How one target's output is produced and loaded into the node namespace. */
export interface KernelTarget {
  name: string;
  /** Compile the profile into outDir; return what load() needs. */
  compile(profile: string, outDir: string): string;
  /** Load the compiled output into the node namespace; may return a stop() for what it started. */
  load(t: Topology, compiled: string): void | { stop?(): void } | Promise<void | { stop?(): void }>;
  /** Loads are applied twice (re-applying must be harmless) unless false (a daemon is started once). */
  repeatable?: boolean;
  /** Optional extra checks after loading (e.g. other tables survive). */
  afterLoad?(t: Topology, compiled: string, outDir: string): void;
  /** Optional set-up before the first load (e.g. a bystander table). */
  beforeLoad?(t: Topology): void;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pct-kern-${process.pid}-`));
}

async function loadTarget(t: Topology, target: KernelTarget, compiled: string): Promise<() => void> {
  const first = await target.load(t, compiled);
  const second = target.repeatable === false ? undefined : await target.load(t, compiled);
  return () => {
    for (const l of [second, first]) if (l) l.stop?.();
  };
}

export function defineKernelSuite(test: Test, target: KernelTarget): void {
  test(`${target.name} in a namespace: inbound matrix of the example profile, proven by TCP round trips`, async () => {
    requireNetns();
    const out = tmpDir();
    try {
      const compiled = target.compile(fixture('profiles', 'example.yaml'), out);
      await withTopology({ node: [NODE4, NODE6], world: Object.values(SRC) }, async (t) => {
        await startListener(t, t.node, PORTS);
        const cases = inboundCases();
        await assertAllReachable(t, t.world, cases);
        target.beforeLoad?.(t);
        const stop = await loadTarget(t, target, compiled);
        try {
          target.afterLoad?.(t, compiled, out);
          t.flushNeighbours();
          check('inbound', cases, await probeCases(t, t.world, cases));
        } finally {
          stop();
        }
      });
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test(`${target.name} in a namespace: egress restrict blocks unlisted outbound, keeps node-to-node, catalog egress and inbound`, async () => {
    requireNetns();
    const out = tmpDir();
    try {
      const text = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
      const restricted = text.replace(/^egress: allow\b/m, 'egress: restrict');
      assert.is.not(restricted, text, 'could not switch the example profile to egress: restrict');
      const profile = path.join(out, 'restrict.yaml');
      fs.writeFileSync(profile, restricted);
      const compiled = target.compile(profile, out);

      const egressCases: Case[] = EGRESS.map(([dst, port, expect]) => ({
        label: 'node',
        src: isV6(dst) ? NODE6 : NODE4,
        dst,
        port,
        expect,
      }));
      // Inbound must still work with the output chain at policy drop: replies
      // leave through `ct state established`, IPv6 needs the node's neighbour
      // advertisements/solicitations out.
      const inCases = inboundCases(['admin6', 'admin4', 'user', 'outsider6']).filter((c) => c.port === 22 || c.port === 80);

      await withTopology({ node: [NODE4, NODE6], world: [...Object.values(SRC), SMTP, LDAP, FILE_TRANSFER] }, async (t) => {
        await startListener(t, t.node, [22, 80]);
        await startListener(t, t.world, EGRESS_PORTS);
        await Promise.all([assertAllReachable(t, t.node, egressCases), assertAllReachable(t, t.world, inCases)]);

        const stop = await loadTarget(t, target, compiled);
        try {
          // Two phases, each after a neighbour flush: probed together, the
          // node's own outbound lookups would teach the peers its address
          // and hide a ruleset that drops inbound neighbour solicitations.
          t.flushNeighbours();
          check('egress restrict: outbound from the node', egressCases, await probeCases(t, t.node, egressCases));
          t.flushNeighbours();
          check('egress restrict: inbound', inCases, await probeCases(t, t.world, inCases));
        } finally {
          stop();
        }
      });
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
}
