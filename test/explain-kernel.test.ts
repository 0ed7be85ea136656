// explain agrees with the kernel: in verify's topology, for the example
// profile, explain's verdict equals what a real probe saw on every probed
// flow that both judge the same way (see below), for nftables; and for a
// profile with dual-stack nodes, where IPv6 flows are comparable too.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explainFlow } from '../src/analysis/explain';
import { compile, load } from '../src/compile';
import { buildPlan, verifyTarget } from '../src/verify';
import { fixture } from './helpers/cli';
import { requireNetns } from './helpers/netns';

for (const name of ['example.yaml', 'v6-admins.yaml']) test(`explain = the kernel on every comparable probe of ${name} (nftables)`, async () => {
  requireNetns();
  const profile = { path: name, text: fs.readFileSync(fixture('profiles', name), 'utf8') };
  const loaded = load({ profile });
  const result = compile({ profile, targets: ['nftables'] });
  assert.ok(result.ok);
  if (!result.ok) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pc-xk-${process.pid}-`));
  try {
    fs.writeFileSync(path.join(dir, 'portcullis.nft'), result.files[0].content);
    const plan = buildPlan(loaded.ir);
    const report = await verifyTarget(plan, 'nftables', dir);
    assert.is(report.loadError, undefined);
    assert.is(report.observed.length, plan.cases.length);
    let compared = 0;
    const disagree: string[] = [];
    plan.cases.forEach((k, i) => {
      // Not comparable by design: a family without listed node addresses
      // (explain: "not a node"), and node-to-node egress (explain also needs
      // the receiving node's ingress; the probe sees one node's firewall).
      if (!plan.node[k.family].listed) return;
      if (k.direction === 'egress' && k.peer.groups.includes(loaded.ir.host)) return;
      // Link-local probes carry a scope (fe80::2%veth1); explain takes the address.
      const e = explainFlow(loaded, { from: k.src.replace(/%.*$/, ''), to: k.dst.replace(/%.*$/, ''), port: `${k.port}/${k.transport}` });
      compared++;
      if ((e.verdict === 'allow') !== report.observed[i])
        disagree.push(`${k.direction} ${k.src} -> ${k.dst} ${k.port}/${k.transport}: explain ${e.verdict}, kernel ${report.observed[i] ? 'allowed' : 'denied'}`);
    });
    assert.ok(compared > 300, `only ${compared} comparable probes`);
    assert.equal(disagree, [], disagree.join('\n'));
    console.log(`  ${name}: explain = kernel on ${compared} of ${plan.cases.length} probes (nftables)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
