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
import { ansibleProblem, CONTROLLER_ADDRESS, SshHost, SshHosts, tmpDir } from './helpers/ssh-hosts';

const PLAYBOOK = path.join(ROOT, 'integrations', 'ansible', 'playbook.yml');
const CONFIRM_TIMEOUT = 8;
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

/** The inventory: every host in group `portcullis`, with `profileOf` its
 * profile; per-host directories because the namespaces share one filesystem. */
function writeInventory(name: string, profileOf: (h: SshHost, i: number) => { profile: string; force?: boolean }): string {
  const lines = ['all:', '  vars:', '    ansible_user: root', `    ansible_ssh_private_key_file: ${JSON.stringify(hosts!.clientKey)}`, '    ansible_python_interpreter: /usr/bin/python3'];
  lines.push(`    portcullis_command: ${JSON.stringify([process.execPath, BIN])}`, `    portcullis_confirm_timeout: ${CONFIRM_TIMEOUT}`);
  lines.push('  children:', '    portcullis:', '      hosts:');
  hosts!.hosts.forEach((h, i) => {
    const p = profileOf(h, i);
    lines.push(`        ${h.name}:`, `          ansible_host: ${h.address}`);
    lines.push(`          ansible_remote_tmp: ${JSON.stringify(path.join(h.dir, 'ansible-tmp'))}`, `          ansible_async_dir: ${JSON.stringify(path.join(h.dir, 'ansible-async'))}`);
    lines.push(`          portcullis_remote_dir: ${JSON.stringify(path.join(h.dir, 'stage'))}`, `          portcullis_profile: ${JSON.stringify(p.profile)}`);
    if (p.force) lines.push('          portcullis_force: true');
  });
  const file = path.join(dir, `${name}.inventory.yml`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function writeAnsibleConfig(): string {
  const file = path.join(dir, 'ansible.cfg');
  const ssh = [
    '-F /dev/null',
    '-o ControlMaster=auto -o ControlPersist=60s',
    `-o UserKnownHostsFile=${hosts!.knownHosts} -o StrictHostKeyChecking=yes`,
    '-o IdentitiesOnly=yes -o ConnectTimeout=3',
  ].join(' ');
  fs.writeFileSync(
    file,
    [
      '[defaults]',
      `local_tmp = ${path.join(dir, 'ansible-local')}`,
      'retry_files_enabled = False',
      'host_key_checking = True',
      'timeout = 3',
      'forks = 5',
      '[ssh_connection]',
      'pipelining = True',
      `control_path_dir = ${path.join(dir, 'cp')}`,
      `ssh_args = ${ssh}`,
      '',
    ].join('\n'),
  );
  return file;
}

interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
}

interface PlaybookRun {
  code: number;
  out: string;
  recap: Record<string, Recap>;
  seconds: number;
}

/** ansible-playbook, in the controller's namespace. */
async function playbook(inventory: string, extra: string[] = []): Promise<PlaybookRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ANSIBLE_CONFIG: path.join(dir, 'ansible.cfg'),
    ANSIBLE_HOME: path.join(dir, 'ansible-home'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_STDOUT_CALLBACK: 'default',
  };
  delete env.SSH_AUTH_SOCK;
  delete env.SSH_CONNECTION;
  const started = Date.now();
  const r = await hosts!.controllerRun(['ansible-playbook', '-i', inventory, PLAYBOOK, ...extra], { env, cwd: dir });
  const seconds = (Date.now() - started) / 1000;
  const out = r.stdout + r.stderr;
  const recap: Record<string, Recap> = {};
  const at = out.lastIndexOf('PLAY RECAP');
  for (const m of out.slice(at < 0 ? out.length : at).matchAll(/^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)/gm))
    recap[m[1]] = { ok: +m[2], changed: +m[3], unreachable: +m[4], failed: +m[5], skipped: +m[6], rescued: +m[7] };
  console.log(`  ansible-playbook ${extra.join(' ')} (${path.basename(inventory)}): exit ${r.code}, ${seconds.toFixed(1)} s`);
  return { code: r.code, out, recap, seconds };
}

const show = (r: PlaybookRun) => `exit ${r.code}\n${r.out}`;

if (!problem) test.before(async () => {
  requireNetns();
  dir = tmpDir('rollout');
  hosts = new SshHosts(dir, HOSTS);
  await hosts.start();
  writeAnsibleConfig();
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
  const r = await playbook(writeInventory('a', () => ({ profile: profiles.a })));
  assert.is(r.code, 0, show(r));
  for (const h of hosts!.hosts) {
    assert.ok(r.recap[h.name], `${h.name} in the recap:\n${show(r)}`);
    assert.is(r.recap[h.name].changed, 1, `${h.name}: changed once (the apply):\n${show(r)}`);
    assert.is(r.recap[h.name].failed, 0);
    assert.is(table(h).code, 0, `${h.name}: no table inet portcullis`);
    assert.match(listing(h), CONTROLLER_ADDRESS, `${h.name}: the admins set holds the controller`);
    assert.ok(hosts!.reachable(h), `${h.name}: sshd not reachable through the new rules`);
    assert.not.ok(applyRunning(h), `${h.name}: the apply still runs after the playbook`);
  }
});

t('second rollout of the same profile: changed=0 on every host, tables as they were', async () => {
  const before = hosts!.hosts.map(listing);
  const r = await playbook(writeInventory('a', () => ({ profile: profiles.a })));
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
  const r = await playbook(writeInventory('a', () => ({ profile: profiles.a })), ['--check', '--diff', '-e', `portcullis_serial=${HOSTS}`]);
  assert.is(r.code, 0, show(r));
  assert.is(r.recap.host1?.changed, 1, show(r));
  for (const h of hosts!.hosts.slice(1)) assert.is(r.recap[h.name]?.changed, 0, `${h.name}:\n${show(r)}`);
  assert.match(r.out, /host allows, policy does not: ingress tcp 8080\b/);
  assert.match(r.out, /nftables on this host drifted from prod-east/);
  assert.equal(hosts!.hosts.map(listing), before, '--check changed a table');
  for (const h of hosts!.hosts) assert.not.ok(applyRunning(h), `${h.name}: --check started an apply`);
});

t('a rollout whose rules drop the controller on host2 (--force past the anti-lockout check): host1 applied, host2 not confirmed and back to its own rules, host3 never touched', async () => {
  const [h1, h2, h3] = hosts!.hosts;
  const before2 = listing(h2);
  const before3 = listing(h3);
  const inventory = writeInventory('lockout', (h) => (h === h2 ? { profile: profiles.lockout, force: true } : { profile: profiles.c }));
  const r = await playbook(inventory);
  assert.is.not(r.code, 0, `the rollout succeeded:\n${show(r)}`);
  assert.is(r.recap.host1?.changed, 1, `host1 applied C:\n${show(r)}`);
  assert.is(r.recap.host1?.failed, 0);
  assert.match(listing(h1), '192.0.2.0/24');
  assert.is(r.recap.host2?.failed, 1, show(r));
  assert.match(r.out, /host2[^\n]*[\s\S]*not confirmed[^\n]*rolled back to its previous rules/);
  // The role waited for the rollback; the apply process is gone by now.
  await waitFor('host2\'s apply to end', () => !applyRunning(h2), (CONFIRM_TIMEOUT + 30) * 1000);
  assert.fixture(listing(h2), before2, 'host2 is back to exactly its previous rules');
  assert.ok(hosts!.reachable(h2), 'host2 reachable again');
  assert.not.ok(r.recap.host3 && r.recap.host3.ok > 0, `host3 ran tasks:\n${show(r)}`);
  assert.fixture(listing(h3), before3, 'host3 untouched');
  assert.not.match(listing(h3), '192.0.2.0/24');
});

test.run();
