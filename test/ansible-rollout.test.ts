// The Ansible role (integrations/ansible/) driven by the real
// ansible-playbook against three hosts, each a network namespace with its
// own sshd (test/helpers/ssh-hosts.ts): a first rollout applies on every
// host, a second changes nothing, --check --diff shows a hand-made drift
// as audit's flows and changes nothing, and a rollout whose rules drop the
// controller on the second host stops there: that host restores its own
// rules, the third is never touched.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exampleProfile } from './helpers/apply-nftables';
import { BIN, ROOT } from './helpers/cli';
import { requireNetns } from './helpers/netns';
import { waitFor } from './helpers/nftables-host';
import { ansibleProblem, CONTROLLER_ADDRESS, PlaybookRun, SshHost, SshHosts, tmpDir } from './helpers/ssh-hosts';

const PLAYBOOK = path.join(ROOT, 'integrations', 'ansible', 'playbook.yml');
// Short for the test, long enough for a reconnect on a loaded machine.
const CONFIRM_TIMEOUT = 10;
const HOSTS = 3;

const problem = ansibleProblem();
if (problem) console.log(`  SKIPPED test/ansible-rollout.test.ts: ${problem}. Install the Debian packages ansible-core and openssh-server (test/run.sh does) to run it.`);
const t = problem ? test.skip : test;

let dir = '';
let hosts: SshHosts | undefined;
const profiles: Record<'a' | 'c' | 'lockout', string> = { a: '', c: '', lockout: '' };

const noCounts = (s: string) => s.replace(/ packets \d+ bytes \d+/g, '');
const table = (h: SshHost) => hosts!.exec(h, ['nft', 'list', 'table', 'inet', 'portcullis']);
const listing = (h: SshHost) => {
  const r = table(h);
  return r.code === 0 ? noCounts(r.stdout) : `(no table: ${r.stderr.trim()})`;
};

/** Whether a portcullis apply still runs in the host's namespace. */
function applyRunning(h: SshHost): boolean {
  return hosts!.pids(h).some((pid) => {
    try {
      return /portcullis[^\0]*\0apply\0/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
}

/** The host's staging directories (one per compiled tree, named by key). */
const stagings = (h: SshHost) => fs.readdirSync(path.join(h.dir, 'stage')).filter((n) => /^[0-9a-f]{40}$/.test(n));

/** The JSON report of the host's last apply, as the role left it (apply.out). */
function lastApply(h: SshHost): Record<string, unknown> {
  const [key, ...more] = stagings(h);
  assert.is(more.length, 0, `${h.name}: one staging directory`);
  return JSON.parse(fs.readFileSync(path.join(h.dir, 'stage', key, 'apply.out'), 'utf8'));
}

/** The test's inventory: `profileOf` gives each host its profile (and
 * --force, and a catalog). */
function inventory(name: string, profileOf: (h: SshHost) => { profile: string; force?: boolean; catalog?: string }): string {
  return hosts!.writeInventory(name, { portcullis_command: [process.execPath, BIN], portcullis_confirm_timeout: CONFIRM_TIMEOUT }, (h) => {
    const p = profileOf(h);
    return { portcullis_profile: p.profile, ...(p.force ? { portcullis_force: true } : {}), ...(p.catalog ? { portcullis_catalog: p.catalog } : {}) };
  });
}

/** Profile A as the role's users often write it: relative to the directory
 * ansible-playbook runs in (the test's directory), with an explicit catalog. */
const profileA = () => ({ profile: path.basename(profiles.a), catalog: path.join(ROOT, 'catalog', 'thoughtspot.yaml') });

async function playbook(file: string, extra: string[] = []): Promise<PlaybookRun> {
  const r = await hosts!.playbook(PLAYBOOK, file, extra);
  console.log(`  ansible-playbook ${[...extra, path.basename(file)].join(' ')}: exit ${r.code}, ${r.seconds.toFixed(1)} s`);
  return r;
}

const show = (r: PlaybookRun) => `exit ${r.code}\n${r.out}`;

if (!problem) test.before(async () => {
  requireNetns();
  dir = tmpDir('rollout');
  hosts = new SshHosts(dir, HOSTS);
  await hosts.start();
  hosts.writeAnsibleConfig();
  const write = (name: string, text: string) => {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, text);
    return file;
  };
  // A: the controller is an admin, so ssh (22) from it stays open.
  profiles.a = write('a', exampleProfile({ admins: [CONTROLLER_ADDRESS] }));
  // C: another admin network besides the controller.
  profiles.c = write('c', exampleProfile({ admins: [CONTROLLER_ADDRESS, '192.0.2.0/24'] }));
  // Lockout: admins elsewhere; nothing lets the controller reach 22.
  profiles.lockout = write('lockout', exampleProfile({ admins: ['203.0.113.0/24'] }));
});

if (!problem) test.after(() => {
  try {
    hosts?.destroy();
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

t('first rollout: every host applied and confirmed by the reconnect (changed), the table live, sshd still reachable', async () => {
  const r = await playbook(inventory('a', profileA));
  assert.is(r.code, 0, show(r));
  for (const h of hosts!.hosts) {
    assert.ok(r.recap[h.name], `${h.name} in the recap:\n${show(r)}`);
    assert.is(r.recap[h.name].changed, 1, `${h.name}: changed once (the apply):\n${show(r)}`);
    assert.is(r.recap[h.name].failed, 0);
    assert.is(table(h).code, 0, `${h.name}: no table inet portcullis`);
    assert.match(listing(h), CONTROLLER_ADDRESS, `${h.name}: the admins set holds the controller`);
    assert.ok(hosts!.reachable(h), `${h.name}: sshd not reachable through the new rules`);
    assert.not.ok(applyRunning(h), `${h.name}: the apply still runs after the playbook`);
    assert.equal(lastApply(h), { target: 'nftables', environment: 'prod-east', changed: true, confirmed: true, rolled_back: false }, `${h.name}: apply's own report`);
    const stage = path.join(h.dir, 'stage', stagings(h)[0]);
    assert.equal(fs.readdirSync(stage).sort(), ['apply.err', 'apply.out', 'apply.rc', 'catalog.yaml', 'profile.yaml', 'tree']);
    assert.ok(fs.existsSync(path.join(stage, 'tree', 'prod-east', 'nftables', 'portcullis.nft')), `${h.name}: the compiled tree was staged`);
  }
});

t('second rollout of the same profile, all hosts in one batch (portcullis_serial=3): changed=0 on every host, tables as they were', async () => {
  const before = hosts!.hosts.map(listing);
  const r = await playbook(inventory('a', profileA), ['-e', `portcullis_serial=${HOSTS}`]);
  assert.is(r.code, 0, show(r));
  for (const h of hosts!.hosts) {
    assert.ok(r.recap[h.name], `${h.name} in the recap:\n${show(r)}`);
    assert.is(r.recap[h.name].changed, 0, `${h.name}: changed on an unchanged profile:\n${show(r)}`);
  }
  assert.equal(hosts!.hosts.map(listing), before);
});

t('--check --diff: a rule added by hand on host1 shows as audit\'s flow in the diff, host1 changed, the others not; nothing changes', async () => {
  const [h1] = hosts!.hosts;
  hosts!.execOk(h1, ['nft', 'add', 'rule', 'inet', 'portcullis', 'input', 'tcp', 'dport', '8080', 'accept']);
  const before = hosts!.hosts.map(listing);
  const r = await playbook(inventory('a', profileA), ['--check', '--diff', '-e', `portcullis_serial=${HOSTS}`]);
  assert.is(r.code, 0, show(r));
  assert.is(r.recap.host1?.changed, 1, show(r));
  for (const h of hosts!.hosts.slice(1)) assert.is(r.recap[h.name]?.changed, 0, `${h.name}:\n${show(r)}`);
  assert.match(r.out, /host allows, policy does not: ingress tcp 8080\b/);
  assert.match(r.out, /nftables on this host drifted from prod-east/);
  assert.equal(hosts!.hosts.map(listing), before, '--check changed a table');
  for (const h of hosts!.hosts) assert.not.ok(applyRunning(h), `${h.name}: --check started an apply`);
});

t('rules that drop the controller, without portcullis_force: apply\'s anti-lockout check refuses on the host (SSH_CONNECTION), nothing changes, the rollout stops', async () => {
  const h2 = hosts!.hosts[1];
  const before = listing(h2);
  const r = await playbook(inventory('refused', (h) => (h === h2 ? { profile: profiles.lockout } : profileA())), ['--limit', h2.name]);
  assert.is.not(r.code, 0, show(r));
  assert.is(r.recap.host2?.failed, 1, show(r));
  assert.is(r.recap.host2?.changed, 0, show(r));
  assert.match(r.out, /apply refused, nothing changed: error: the new nftables rules drop new connections from 198\.18\.0\.1 to tcp 22/);
  assert.fixture(listing(h2), before, 'a refused apply changed host2');
});

t('a rollout whose rules drop the controller on host2 (--force past the anti-lockout check): host1 applied, host2 not confirmed and back to its own rules, host3 never touched', async () => {
  const [h1, h2, h3] = hosts!.hosts;
  const before2 = listing(h2);
  const before3 = listing(h3);
  const staged3 = stagings(h3);
  const lockoutInventory = inventory('lockout', (h) => (h === h2 ? { profile: profiles.lockout, force: true } : { profile: profiles.c }));
  const r = await playbook(lockoutInventory);
  assert.is.not(r.code, 0, `the rollout succeeded:\n${show(r)}`);
  assert.is(r.recap.host1?.changed, 1, `host1 applied C:\n${show(r)}`);
  assert.is(r.recap.host1?.failed, 0);
  assert.match(listing(h1), '192.0.2.0/24');
  assert.equal(lastApply(h1), { target: 'nftables', environment: 'prod-east', changed: true, confirmed: true, rolled_back: false });
  assert.is(r.recap.host2?.failed, 1, show(r));
  assert.is(r.recap.host2?.changed, 0, `host2 rolled back, so not changed:\n${show(r)}`);
  assert.match(r.out, /host2[^\n]*[\s\S]*not confirmed[^\n]*rolled back to its previous rules/);
  // What failed is the reconnect (the new rules dropped the controller's new
  // connection), or, when a retry got through just after the rollback, the
  // confirmation (the apply had already rolled back).
  assert.match(r.out, /fatal: \[host2\]: FAILED! => [^\n]*(timed out waiting for ping module test|not confirmed; rolled back)/);
  // The role waited for the rollback; the apply process is gone by now.
  await waitFor('host2\'s apply to end', () => !applyRunning(h2), (CONFIRM_TIMEOUT + 30) * 1000);
  assert.fixture(listing(h2), before2, 'host2 is back to exactly its previous rules');
  assert.equal(lastApply(h2), { target: 'nftables', environment: 'prod-east', changed: true, confirmed: false, rolled_back: true });
  assert.ok(hosts!.reachable(h2), 'host2 reachable again');
  assert.not.ok(r.recap.host3 && r.recap.host3.ok > 0, `host3 ran tasks:\n${show(r)}`);
  assert.fixture(listing(h3), before3, 'host3 untouched');
  assert.equal(stagings(h3), staged3, 'nothing was staged on host3');
  assert.not.match(listing(h3), '192.0.2.0/24');
});

test.run();
