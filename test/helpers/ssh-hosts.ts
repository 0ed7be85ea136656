// Hosts that Ansible reaches the way it reaches real ones: each host is a
// network namespace running its own sshd, and the controller is one more
// namespace from which ansible-playbook and its ssh connect.
//
//   [ controller ns ] cN <--veth pair--> eth0 [ host N ns ]   (one pair per host)
//
// The controller has 198.18.0.1 on every cN and a /32 route to each host;
// host N is 198.18.N.2 with a route back. 198.18.0.0/15 is the benchmark
// range (RFC 2544): no real network uses it. Nothing is created in the root
// namespace, so test files running at the same time cannot collide: only the
// namespace names differ (they include the pid). All namespaces share the
// filesystem; each sshd has its own config, host key, authorized_keys and
// pid file in the temporary directory, and portcullis names its lock and
// confirmation socket after the network namespace.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { atCleanup, run, runOk } from '../../src/verify/topology';
import type { Cmd } from '../../src/verify/topology';

export const CONTROLLER_ADDRESS = '198.18.0.1';
export const SSHD = '/usr/sbin/sshd';
export const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** Why the Ansible tests cannot run here (ansible-playbook, sshd or the ssh
 * client missing), or undefined when they can. */
export function ansibleProblem(): string | undefined {
  const missing: string[] = [];
  if (run('sh', ['-c', 'command -v ansible-playbook']).code !== 0) missing.push('ansible-playbook (Debian package ansible-core)');
  if (!fs.existsSync(SSHD)) missing.push(`${SSHD} (openssh-server)`);
  for (const tool of ['ssh', 'ssh-keygen', 'ssh-keyscan']) if (run('sh', ['-c', 'command -v "$1"', 'sh', tool]).code !== 0) missing.push(`${tool} (openssh-client)`);
  return missing.length ? `missing ${missing.join(', ')}` : undefined;
}

export interface SshHost {
  /** Inventory name: host1, host2, ... */
  name: string;
  ns: string;
  address: string;
  /** This host's own files (sshd config, keys, the role's staging directory). */
  dir: string;
  sshd?: ChildProcess;
}

export interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
  skipped: number;
  rescued: number;
}

export interface PlaybookRun {
  code: number;
  out: string;
  recap: Record<string, Recap>;
  seconds: number;
}

let counter = 0;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class SshHosts {
  readonly controller: string;
  readonly hosts: SshHost[] = [];
  /** The controller's private key (its .pub is every host's authorized key). */
  readonly clientKey: string;
  readonly knownHosts: string;
  private readonly namespaces: string[] = [];
  private readonly removeAtExit: () => void;
  private destroyed = false;

  /** Namespaces and keys for `count` hosts; call start() to run the sshds. */
  constructor(readonly dir: string, count: number, prefix = 'pcans') {
    const base = `${prefix}-${process.pid}-${counter++}`;
    this.controller = `${base}-ctl`;
    this.clientKey = path.join(dir, 'controller_key');
    this.knownHosts = path.join(dir, 'known_hosts');
    // Last resort (SIGINT, SIGTERM, exit): the namespaces and whatever still runs in them.
    this.removeAtExit = atCleanup(() => this.teardown());
    try {
      this.addNs(this.controller);
      runOk('ip', ['-n', this.controller, 'link', 'set', 'lo', 'up']);
      runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'portcullis-test-controller', '-f', this.clientKey]);
      const knownHosts: string[] = [];
      for (let n = 1; n <= count; n++) {
        const host: SshHost = { name: `host${n}`, ns: `${base}-h${n}`, address: `198.18.${n}.2`, dir: path.join(dir, `host${n}`) };
        fs.mkdirSync(host.dir, { mode: 0o700 });
        this.addNs(host.ns);
        const ctlIf = `c${n}`;
        runOk('ip', ['-n', this.controller, 'link', 'add', ctlIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
        runOk('ip', ['-n', this.controller, 'addr', 'add', `${CONTROLLER_ADDRESS}/32`, 'dev', ctlIf]);
        runOk('ip', ['-n', this.controller, 'link', 'set', ctlIf, 'up']);
        runOk('ip', ['-n', this.controller, 'route', 'add', `${host.address}/32`, 'dev', ctlIf, 'src', CONTROLLER_ADDRESS]);
        runOk('ip', ['-n', host.ns, 'link', 'set', 'lo', 'up']);
        runOk('ip', ['-n', host.ns, 'addr', 'add', `${host.address}/32`, 'dev', 'eth0']);
        runOk('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'up']);
        runOk('ip', ['-n', host.ns, 'route', 'add', `${CONTROLLER_ADDRESS}/32`, 'dev', 'eth0', 'src', host.address]);
        const hostKey = path.join(host.dir, 'ssh_host_ed25519_key');
        runOk('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', host.name, '-f', hostKey]);
        knownHosts.push(`${host.address} ${fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ')}`);
        fs.copyFileSync(`${this.clientKey}.pub`, path.join(host.dir, 'authorized_keys'));
        fs.writeFileSync(path.join(host.dir, 'sshd_config'), sshdConfig(host, hostKey));
        this.hosts.push(host);
      }
      // From the generated host keys, not from a scan: the controller
      // checks each host's identity (StrictHostKeyChecking yes).
      fs.writeFileSync(this.knownHosts, knownHosts.join('\n') + '\n');
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  private addNs(ns: string): void {
    runOk('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
  }

  /** Starts every host's sshd and waits until each answers the SSH banner
   * from the controller's namespace. */
  async start(timeoutMs = 30000): Promise<void> {
    // sshd insists on its privilege separation directory; the package
    // creates it only when it starts the (here never started) service.
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    for (const h of this.hosts) {
      const log = fs.openSync(path.join(h.dir, 'sshd.log'), 'a');
      h.sshd = spawn('ip', ['netns', 'exec', h.ns, SSHD, '-D', '-e', '-f', path.join(h.dir, 'sshd_config')], { stdio: ['ignore', log, log] });
      fs.closeSync(log);
    }
    const started = Date.now();
    for (const h of this.hosts) {
      for (;;) {
        if (h.sshd!.exitCode !== null) throw new Error(`sshd of ${h.name} exited (${h.sshd!.exitCode}):\n${this.sshdLog(h)}`);
        const r = this.controllerExec(['ssh-keyscan', '-T', '2', '-t', 'ed25519', h.address]);
        if (r.code === 0 && r.stdout.includes('ssh-ed25519')) break;
        if (Date.now() - started > timeoutMs) throw new Error(`sshd of ${h.name} (${h.address}) did not answer within ${timeoutMs} ms:\n${this.sshdLog(h)}`);
        await sleep(100);
      }
    }
  }

  sshdLog(h: SshHost): string {
    try {
      return fs.readFileSync(path.join(h.dir, 'sshd.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs a command in a host's namespace (the host's own view); never throws. */
  exec(h: SshHost, argv: readonly string[], input?: string): Cmd {
    return run('ip', ['netns', 'exec', h.ns, ...argv], input);
  }

  execOk(h: SshHost, argv: readonly string[], input?: string): string {
    return runOk('ip', ['netns', 'exec', h.ns, ...argv], input);
  }

  controllerExec(argv: readonly string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string }): Cmd {
    const r = spawnSync('ip', ['netns', 'exec', this.controller, ...argv], { encoding: 'utf8', env: options?.env, cwd: options?.cwd, maxBuffer: 64 * 1024 * 1024 });
    if (r.error) return { code: -1, stdout: '', stderr: String(r.error.message) };
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs a command in the controller's namespace without blocking the event loop. */
  controllerRun(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Cmd> {
    const c = spawn('ip', ['netns', 'exec', this.controller, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env, cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    return new Promise((resolve) => c.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 : -1), stdout, stderr })));
  }

  /** An inventory of every host in group `portcullis`, with `vars` for all
   * and `hostVars` per host (YAML values as JSON); each host gets its own
   * Ansible temp, async and staging directories (the namespaces share one
   * filesystem). */
  writeInventory(name: string, vars: Record<string, unknown>, hostVars: (h: SshHost) => Record<string, unknown>): string {
    const lines = ['all:', '  vars:'];
    const all: Record<string, unknown> = { ansible_user: 'root', ansible_ssh_private_key_file: this.clientKey, ansible_python_interpreter: '/usr/bin/python3', ...vars };
    for (const [k, v] of Object.entries(all)) lines.push(`    ${k}: ${JSON.stringify(v)}`);
    lines.push('  children:', '    portcullis:', '      hosts:');
    for (const h of this.hosts) {
      lines.push(`        ${h.name}:`);
      const mine: Record<string, unknown> = {
        ansible_host: h.address,
        ansible_remote_tmp: path.join(h.dir, 'ansible-tmp'),
        ansible_async_dir: path.join(h.dir, 'ansible-async'),
        portcullis_remote_dir: path.join(h.dir, 'stage'),
        ...hostVars(h),
      };
      for (const [k, v] of Object.entries(mine)) lines.push(`          ${k}: ${JSON.stringify(v)}`);
    }
    const file = path.join(this.dir, `${name}.inventory.yml`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  /** ansible.cfg: the generated key and known_hosts only (no ~/.ssh), a
   * short connect timeout, pipelining, control sockets in the temp dir. */
  writeAnsibleConfig(): string {
    const file = path.join(this.dir, 'ansible.cfg');
    const ssh = ['-F /dev/null', '-o ControlMaster=auto -o ControlPersist=60s', `-o UserKnownHostsFile=${this.knownHosts} -o StrictHostKeyChecking=yes`, '-o IdentitiesOnly=yes -o ConnectTimeout=5'].join(' ');
    fs.writeFileSync(
      file,
      ['[defaults]', `local_tmp = ${path.join(this.dir, 'ansible-local')}`, 'retry_files_enabled = False', 'host_key_checking = True', 'timeout = 5', 'forks = 5', '[ssh_connection]', 'pipelining = True', `control_path_dir = ${path.join(this.dir, 'cp')}`, `ssh_args = ${ssh}`, ''].join('\n'),
    );
    return file;
  }

  /** ansible-playbook in the controller's namespace, with writeAnsibleConfig's
   * config; the recap parsed per host. ANSIBLE_LOG_PATH keeps a timestamped log. */
  async playbook(playbook: string, inventory: string, extra: string[] = []): Promise<PlaybookRun> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ANSIBLE_CONFIG: path.join(this.dir, 'ansible.cfg'),
      ANSIBLE_HOME: path.join(this.dir, 'ansible-home'),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      ANSIBLE_STDOUT_CALLBACK: 'default',
      // The role's build directory on the controller goes to $TMPDIR: ours.
      TMPDIR: path.join(this.dir, 'controller-tmp'),
    };
    fs.mkdirSync(env.TMPDIR!, { recursive: true });
    delete env.SSH_AUTH_SOCK;
    delete env.SSH_CONNECTION;
    const started = Date.now();
    const r = await this.controllerRun(['ansible-playbook', '-i', inventory, playbook, ...extra], { env, cwd: this.dir });
    const seconds = (Date.now() - started) / 1000;
    const out = r.stdout + r.stderr;
    const recap: Record<string, Recap> = {};
    const at = out.lastIndexOf('PLAY RECAP');
    for (const m of out.slice(at < 0 ? out.length : at).matchAll(/^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)/gm))
      recap[m[1]] = { ok: +m[2], changed: +m[3], unreachable: +m[4], failed: +m[5], skipped: +m[6], rescued: +m[7] };
    return { code: r.code, out, recap, seconds };
  }

  /** Whether a new TCP connection from the controller reaches the host's sshd. */
  reachable(h: SshHost, timeoutMs = 3000): boolean {
    const r = this.controllerExec([process.execPath, '-e', REACH, h.address, '22', String(timeoutMs)]);
    return r.stdout.trim() === 'open';
  }

  /** The process ids running in a host's namespace. */
  pids(h: SshHost): number[] {
    return run('ip', ['netns', 'pids', h.ns])
      .stdout.split(/\s+/)
      .filter(Boolean)
      .map(Number);
  }

  private teardown(): void {
    for (const h of this.hosts) if (h.sshd && h.sshd.exitCode === null) h.sshd.kill('SIGKILL');
    // What still runs in the namespaces was started by this test (sshd
    // sessions, the apply Ansible left in the background): end it first,
    // or a namespace outlives its deletion in its processes.
    for (const ns of this.namespaces) {
      for (const pid of run('ip', ['netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of this.namespaces.splice(0)) run('ip', ['netns', 'delete', ns]);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.teardown();
    this.removeAtExit();
  }
}

/** A node one-liner: prints "open" when a TCP connect succeeds within the timeout. */
const REACH = `const [h, p, t] = process.argv.slice(1);
const s = require('net').connect(Number(p), h);
const done = (w) => { console.log(w); process.exit(0); };
s.setTimeout(Number(t), () => done('timeout'));
s.on('connect', () => done('open'));
s.on('error', (e) => done(e.code));`;

function sshdConfig(h: SshHost, hostKey: string): string {
  return [
    `ListenAddress ${h.address}`,
    'Port 22',
    `HostKey ${hostKey}`,
    `PidFile ${path.join(h.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(h.dir, 'authorized_keys')}`,
    // The temporary directory sits under the world-writable /tmp.
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxStartups 50',
    'MaxSessions 50',
    'LogLevel VERBOSE',
    `Subsystem sftp ${SFTP_SERVER}`,
    '',
  ].join('\n');
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pct-ans-${tag}-${process.pid}-`));
}

export type { Cmd };
