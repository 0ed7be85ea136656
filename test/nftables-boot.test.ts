// Kernel test: portcullis.nft loaded at boot the way Debian's
// nftables.service does it. In the node namespace, a private mount namespace
// gets a private /etc (an overlay over the real one, so nothing on the host
// changes); there the documented boot install (BOOT_COMMANDS: the file into
// /etc/nftables.d/, an include line appended to the stock /etc/nftables.conf)
// runs, and then the unit's own ExecStart, read from its unit file. Real
// packets then show the policy holds. Also shown: the stock conf's
// `flush ruleset` removes other managers' tables at boot and on every
// `systemctl reload` (ExecReload), while the live `nft -f portcullis.nft`
// does not.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BOOT_COMMANDS, BOOT_CONF, BOOT_INCLUDE, BOOT_PATH, LIVE_COMMANDS } from '../src/targets/nftables/host';
import { NODE4, probeSettled, SRC } from './helpers/kernel-suite';
import { compileNft, exampleWith, tmpDir } from './helpers/nftables-host';
import { requireNetns, startListener, Topology, withTopology } from './helpers/netns';

const UNIT = '/lib/systemd/system/nftables.service';

function unitCommand(key: 'ExecStart' | 'ExecReload'): string {
  assert.ok(fs.existsSync(UNIT), `this test needs Debian's nftables package: no ${UNIT}`);
  const m = new RegExp(`^${key}=(.+)$`, 'm').exec(fs.readFileSync(UNIT, 'utf8'));
  assert.ok(m, `${UNIT} has no ${key}=`);
  // systemd prefixes (-, @, +, !) are not part of the command.
  return m![1].trim().replace(/^[-@+!:]+/, '');
}

const tables = (t: Topology) => t.execOk(t.node, ['nft', 'list', 'tables']).trim().split('\n').sort();

test('nftables at boot: the documented install plus nftables.service ExecStart enforces the policy; flush ruleset removes other tables, the live apply does not', async () => {
  requireNetns();
  const execStart = unitCommand('ExecStart');
  const execReload = unitCommand('ExecReload');
  assert.match(execStart, new RegExp(` -f ${BOOT_CONF}$`), `ExecStart reads ${BOOT_CONF}`);
  const stock = fs.readFileSync(BOOT_CONF, 'utf8');
  assert.match(stock, /^flush ruleset$/m, `the stock ${BOOT_CONF} flushes the ruleset`);

  const dir = tmpDir('boot');
  try {
    const nftDir = compileNft(exampleWith(''), dir, 'boot');
    const upper = path.join(dir, 'etc-upper');
    const work = path.join(dir, 'etc-work');
    fs.mkdirSync(upper);
    fs.mkdirSync(work);
    // Each call: a fresh private mount namespace inside the node's network
    // namespace, with the same private /etc (the overlay's upper layer persists).
    const withPrivateEtc = (t: Topology, commands: readonly string[]) =>
      t.execOk(t.node, [
        'unshare', '-m', '--propagation', 'private', 'sh', '-euc',
        [`mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc`, `cd ${nftDir}`, ...commands].join('\n'),
      ]);

    await withTopology({ node: [NODE4], world: [SRC.admin4, SRC.user], prefix: 'pcnftboot' }, async (t) => {
      await startListener(t, t.node, [22, 5432]);
      const cases = [
        { src: SRC.admin4, dst: NODE4, port: 22, allow: true, why: 'T1.1 SSH from admins' },
        { src: SRC.admin4, dst: NODE4, port: 5432, allow: false, why: 'T2.33 Postgres is nodes only' },
        { src: SRC.user, dst: NODE4, port: 22, allow: false, why: 'SSH is admins only' },
      ];
      const control = await probeSettled(t, t.world, cases, () => true);
      assert.ok(control.every((r) => r.allowed), `topology broken: without a ruleset: ${JSON.stringify(control)}`);

      // Another manager's table, there before the boot load runs.
      t.execOk(t.node, ['nft', 'add', 'table', 'inet', 'othermanager']);
      // The install twice (it must be idempotent), then what the unit runs at boot.
      const conf = withPrivateEtc(t, [...BOOT_COMMANDS, ...BOOT_COMMANDS, `cat ${BOOT_CONF}`, execStart]);
      assert.is(conf, `${stock.endsWith('\n') ? stock : `${stock}\n`}${BOOT_INCLUDE}\n`, `${BOOT_CONF} after the install: the stock file plus one include line`);
      assert.equal(tables(t), ['table inet filter', 'table inet portcullis'], 'after boot: the stock table and ours; `flush ruleset` removed the other table');

      t.flushNeighbours();
      const got = await probeSettled(t, t.world, cases, (_, i) => cases[i].allow);
      const wrong = cases.flatMap((c, i) => (got[i].allowed === c.allow ? [] : [`${c.src} -> :${c.port} (${c.why}): expected ${c.allow ? 'ALLOW' : 'DENY'}, got ${got[i].outcome}`]));
      assert.equal(wrong, [], 'after boot');

      // `systemctl reload nftables` (ExecReload): the same flush.
      t.execOk(t.node, ['nft', 'add', 'table', 'inet', 'othermanager']);
      withPrivateEtc(t, [execReload]);
      assert.equal(tables(t), ['table inet filter', 'table inet portcullis'], 'ExecReload removed the other table');

      // The live apply replaces only our table.
      t.execOk(t.node, ['nft', 'add', 'table', 'inet', 'othermanager']);
      for (const cmd of LIVE_COMMANDS) t.execOk(t.node, ['sh', '-c', cmd], { cwd: nftDir });
      assert.equal(tables(t), ['table inet filter', 'table inet othermanager', 'table inet portcullis'], 'the live apply kept the other table');
    });
    // Nothing outside the private /etc was touched.
    assert.not.ok(fs.existsSync(BOOT_PATH), 'the install leaked into the real /etc');
    assert.is(fs.readFileSync(BOOT_CONF, 'utf8'), stock, `the real ${BOOT_CONF} changed`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
