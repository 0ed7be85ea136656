// Shared by test/apply-firewalld.test.ts: a real firewalld in the node
// namespace whose /etc/firewalld is a test-owned directory (bind-mounted in
// the daemon's private mount namespace), a HostShell and the CLI run inside
// that mount namespace (so the product uses the real paths), and a digest of
// the host's own /etc/firewalld to prove it was never touched.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { STOCK_FIREWALLD_CONF, startFirewalld, FirewalldDaemon } from '../../src/targets/firewalld/host';
import type { HostShell } from '../../src/targets/live';
import { atCleanup } from '../../src/verify/topology';
import { cliArgv, outcome } from './apply-cli';
import { runCli } from './cli';
import { Cmd, run, Topology } from './netns';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pct-fwd-${tag}-${process.pid}-`));
}

/** Writes profile text to DIR/<name>.yaml and compiles it (firewalld) into
 * DIR/<name>/; returns the profile path and the firewalld tree. */
export function compileFirewalld(text: string, dir: string, name: string, environment = 'prod-east'): { profile: string; out: string; tree: string } {
  const profile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(profile, text);
  const out = path.join(dir, name);
  const r = runCli(['compile', '--profile', profile, '--target', 'firewalld', '--out-dir', out]);
  assert.is(r.code, 0, `compile ${name} failed: ${r.stderr}`);
  const tree = path.join(out, environment, 'firewalld');
  assert.ok(fs.existsSync(path.join(tree, 'zones', 'portcullis.xml')), `compile wrote no ${tree}/zones/portcullis.xml`);
  return { profile, out, tree };
}

/** Every file under DIR (relative path, mode and bytes), as one digest. */
export function treeDigest(dir: string): string {
  const h = crypto.createHash('sha256');
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, p));
      h.update(`${p}\0${st.mode}\0`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) h.update(fs.readFileSync(path.join(dir, p)));
      else if (st.isSymbolicLink()) h.update(fs.readlinkSync(path.join(dir, p)));
      h.update('\0');
    }
  };
  walk('');
  return h.digest('hex');
}

export interface EtcDaemon {
  daemon: FirewalldDaemon;
  /** The test-owned directory the daemon sees as /etc/firewalld. */
  etc: string;
  /** Runs argv in the daemon's mount and network namespaces. */
  sh: HostShell;
  /** firewall-cmd there; throws with the daemon's log on failure. */
  fw(...args: string[]): string;
  /** The CLI there, without SSH_CONNECTION (no client to protect). */
  cli(args: readonly string[]): Cmd;
  cliBackground(args: readonly string[]): Promise<Cmd>;
  stop(): void;
}

/** A firewalld in t.node on a fresh /etc/firewalld: the stock
 * firewalld.conf and empty zones/, ipsets/, policies/ (what a host without
 * portcullis has), bind-mounted over /etc/firewalld for the daemon only. */
export async function startEtcFirewalld(t: Topology): Promise<EtcDaemon> {
  const etc = tmpDir('etc');
  const removeEtc = atCleanup(() => fs.rmSync(etc, { recursive: true, force: true }));
  fs.chmodSync(etc, 0o750);
  fs.copyFileSync(STOCK_FIREWALLD_CONF, path.join(etc, 'firewalld.conf'));
  for (const d of ['zones', 'ipsets', 'policies', 'services', 'icmptypes', 'helpers']) fs.mkdirSync(path.join(etc, d), { mode: 0o755 });
  let daemon: FirewalldDaemon;
  try {
    daemon = await startFirewalld(t, etc, 60000, { overEtc: true });
  } catch (e) {
    removeEtc();
    throw e;
  }
  const inNs = (argv: readonly string[]) => ['--target', String(daemon.pid), '--mount', '--net', ...argv];
  const sh: HostShell = { run: (argv, options) => run('nsenter', inNs(argv), options) };
  return {
    daemon,
    etc,
    sh,
    fw(...args) {
      const r = daemon.exec(['firewall-cmd', ...args]);
      if (r.code !== 0) throw new Error(`firewall-cmd ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}\n${daemon.log().trim()}`);
      return r.stdout;
    },
    cli: (args) => run('nsenter', inNs(cliArgv(args))),
    cliBackground: (args) => outcome(t.spawn(t.node, ['nsenter', ...inNs(cliArgv(args))])),
    stop() {
      daemon.stop();
      removeEtc();
    },
  };
}

/** Every file under DIR as relative path -> text (for exact comparisons). */
export function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      if (fs.statSync(path.join(dir, p)).isDirectory()) walk(p);
      else out[p] = fs.readFileSync(path.join(dir, p), 'utf8');
    }
  };
  walk('');
  return out;
}
