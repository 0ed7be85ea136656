// `portcullis apply`: puts a compiled tree live on this host, with a way
// back. It checks the tree with the real tool, saves exactly what the target
// manages, applies, and waits for a confirmation that the operator can still
// get in: `y` on the terminal, or `portcullis apply --confirm` from another
// connection. Without one it restores the saved state (exit 1). One apply
// per network namespace at a time (a lock in /run/portcullis, root-only).

import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { parseAddress } from '../addresses';
import { load, Loaded, render, roleIRs } from '../compile';
import { CompileError, errorCount, formatDiagnostics } from '../diagnostics';
import { writeOutputs } from '../output';
import { readCatalogSpec, readFile } from '../sources';
import type { HostTarget } from '../targets/host';
import { HOST_TARGETS } from '../targets/host';
import { HostShell, liveTarget, LiveFlowRule, LiveTarget, localShell, SavedState, ToolRejected } from '../targets/live';
import { visibleLine } from '../terminal';

export interface ApplyArgs {
  profile?: string;
  catalog?: string;
  /** Which role's policy, for a catalog with several. */
  role?: string;
  target?: string;
  'from-dir'?: string;
  'confirm-timeout'?: number;
  'no-confirm'?: boolean;
  confirm?: boolean;
  force?: boolean;
  json?: boolean;
}

export interface AuditArgs {
  profile: string;
  catalog?: string;
  role?: string;
  target: string;
  format: 'text' | 'markdown' | 'json';
}

/** Bad usage or input (exit 2), reported without a stack trace. */
export class OperateError extends Error {}

/** Root-only: the lock and the confirmation socket live here. */
export const RUN_DIR = '/run/portcullis';
const DEFAULT_CONFIRM_SECONDS = 60;

/** One apply per network namespace: the namespace's inode names the lock
 * and the socket, so namespaces sharing /run (tests, containers) do not
 * collide, and `--confirm` reaches the apply of its own network stack. */
function netnsId(): string {
  return String(fs.statSync('/proc/self/ns/net').ino);
}

function runPaths(): { lock: string; socket: string } {
  const id = netnsId();
  return { lock: path.join(RUN_DIR, `apply-${id}.lock`), socket: path.join(RUN_DIR, `apply-${id}.sock`) };
}

function ensureRunDir(): void {
  fs.mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  fs.chmodSync(RUN_DIR, 0o700);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock or refuses, naming the apply that holds it. A lock left
 * by a process that is gone is taken over. */
function takeLock(file: string): () => void {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (pid && alive(pid)) throw new OperateError(`error: another portcullis apply (pid ${pid}) is running in this network namespace; wait for it to end (it holds ${file})`);
      fs.rmSync(file, { force: true });
    }
  }
}

function parseHostTarget(t: string | undefined): HostTarget {
  if (!t) throw new OperateError('error: --target is required (nftables, iptables or firewalld)');
  if (!(HOST_TARGETS as string[]).includes(t)) throw new OperateError(`error: --target '${visibleLine(t)}' cannot be applied on a host (apply and audit know ${HOST_TARGETS.join(', ')})`);
  return t as HostTarget;
}

function loadProfile(args: { profile?: string; catalog?: string; role?: string }): Loaded {
  if (!args.profile) throw new OperateError('error: --profile is required');
  const profile = readFile(args.profile);
  const catalog = args.catalog ? readCatalogSpec(args.catalog, false) : undefined;
  return selectRole(load({ profile, catalog }), args.role);
}

/** This host's policy: the catalog's only role, or the one --role names.
 * The result has that role alone, so everything after sees one policy. */
export function selectRole(loaded: Loaded, role: string | undefined): Loaded {
  const irs = roleIRs(loaded);
  const names = irs.map((ir) => ir.host);
  if (role === undefined) {
    if (irs.length === 1) return loaded;
    throw new OperateError(`error: catalog '${visibleLine(loaded.catalog.name)}' has ${irs.length} roles (${names.join(', ')}): give --role with the one this host has`);
  }
  const ir = irs.find((x) => x.host === role);
  if (!ir) throw new OperateError(`error: --role '${visibleLine(role)}' is not a role of catalog '${visibleLine(loaded.catalog.name)}' (its roles: ${names.join(', ')})`);
  return { ...loaded, ir, roles: [ir] };
}

function badInput(e: CompileError): number {
  process.stderr.write(formatDiagnostics(e.diagnostics) + '\n');
  const n = errorCount(e.diagnostics);
  process.stderr.write(`${n} error${n === 1 ? '' : 's'}; nothing changed on this host.\n`);
  return 2;
}

/** The target's tree: compiled into a private temporary directory, or the
 * one `--from-dir DIR` holds at DIR/<environment>/<target>/ (as `compile
 * --out-dir DIR` wrote it). */
function treeFor(loaded: Loaded, target: HostTarget, lt: LiveTarget, fromDir: string | undefined): { dir: string; cleanup: () => void } {
  const env = loaded.ir.environment;
  if (fromDir) {
    // compile writes one folder per role when the catalog has several.
    const dir = loaded.catalog.roles.length > 1 ? path.join(fromDir, env, target, loaded.ir.host) : path.join(fromDir, env, target);
    const missing = lt.files.filter((f) => !fs.existsSync(path.join(dir, f)));
    if (!fs.existsSync(dir) || missing.length)
      throw new OperateError(`error: --from-dir: ${visibleLine(dir)} does not hold the ${target} tree of environment ${visibleLine(env)}${missing.length ? ` (missing ${missing.join(', ')})` : ''}; write it with \`portcullis compile --out-dir ${visibleLine(fromDir)}\``);
    return { dir, cleanup: () => undefined };
  }
  const result = render(loaded, [target]);
  if (!result.ok) throw new CompileError(result.diagnostics);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-apply-'));
  writeOutputs(tmp, result.files);
  return { dir: path.join(tmp, env, target), cleanup: () => fs.rmSync(tmp, { recursive: true, force: true }) };
}

/** Whether the rules let `addr` reach tcp `port` on this host (first match). */
function admits(rules: LiveFlowRule[], addr: string, port: number): boolean | undefined {
  const a = parseAddress(addr.replace(/^::ffff:(?=\d+\.)/i, ''));
  if (!a.ok) return undefined;
  const { family, base } = a.cidr;
  for (const r of rules) {
    if (r.direction !== 'ingress' || r.transport !== 'tcp' || r.family !== family) continue;
    if (!r.ports.some((p) => p.lo <= port && port <= p.hi)) continue;
    if (r.peers.some((x) => x.lo <= base && base <= x.hi)) return r.verdict === 'accept';
  }
  return false;
}

/** The live connection this apply runs over (SSH sets SSH_CONNECTION:
 * "client port server port"): refuses rules that would drop a new
 * connection from the same client, unless forced. Loopback is always open. */
function checkLockout(sh: HostShell, lt: LiveTarget, dir: string, force: boolean): string | undefined {
  const conn = process.env.SSH_CONNECTION?.trim().split(/\s+/);
  if (!conn || conn.length !== 4) return undefined;
  const [client, , , serverPort] = conn;
  const port = Number(serverPort);
  if (/^(127\.|::1$)/.test(client) || !Number.isInteger(port)) return undefined;
  const verdict = admits(lt.readExpected(sh, dir).flowRules, client, port);
  if (verdict !== false) return undefined;
  const what = `the new ${lt.name} rules drop new connections from ${visibleLine(client)} to tcp ${port}, the SSH connection this apply runs over`;
  if (!force) throw new OperateError(`error: ${what}; nothing changed (add the address to the admins group, or --force to apply anyway: the rollback still runs if you cannot confirm)`);
  return `warning: ${what} (--force)`;
}

type Outcome = 'confirmed' | 'timeout' | 'refused' | 'interrupted';

/** Waits for `y` on the terminal or a `--confirm` on the socket, up to `seconds`. */
function waitForConfirmation(socketPath: string, seconds: number, describe: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const cleanups: (() => void)[] = [];
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      for (const c of cleanups) c();
      resolve(o);
    };
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer((c) => {
      c.setEncoding('utf8');
      let buf = '';
      c.on('data', (d: string) => {
        buf += d;
        if (!buf.includes('\n')) return;
        if (buf.startsWith('confirm\n') && !done) {
          c.end(`confirmed ${describe}\n`);
          finish('confirmed');
        } else c.end('not waiting\n');
      });
      c.on('error', () => undefined);
    });
    server.listen(socketPath, () => fs.chmodSync(socketPath, 0o600));
    cleanups.push(() => {
      server.close();
      fs.rmSync(socketPath, { force: true });
    });
    const timer = setTimeout(() => finish('timeout'), seconds * 1000);
    cleanups.push(() => clearTimeout(timer));
    // A dropped SSH session must not leave unconfirmed rules behind, nor end
    // the wait: the operator may still confirm from a new connection.
    const onHup = (): void => undefined;
    const onStop = (): void => finish('interrupted');
    process.on('SIGHUP', onHup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
    cleanups.push(() => {
      process.off('SIGHUP', onHup);
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
    });
    if (process.stdin.isTTY) {
      say(`type y and Enter within ${seconds} s to keep the new rules (or run \`portcullis apply --confirm\` from another connection); anything else rolls back`);
      process.stdin.setEncoding('utf8');
      let line = '';
      const onData = (d: string): void => {
        line += d;
        if (!line.includes('\n')) return;
        finish(line.trim().toLowerCase() === 'y' ? 'confirmed' : 'refused');
      };
      process.stdin.on('data', onData);
      cleanups.push(() => {
        process.stdin.off('data', onData);
        process.stdin.pause();
      });
    } else say(`waiting ${seconds} s for \`portcullis apply --confirm\` from another connection; without it the previous rules come back`);
  });
}

/** stderr, where the terminal may be gone (a dropped session): never throws. */
function say(line: string): void {
  try {
    process.stderr.write(line + '\n');
  } catch {
    // the terminal is gone
  }
}

async function confirmCommand(): Promise<number> {
  const { socket } = runPaths();
  return new Promise((resolve) => {
    const c = net.connect(socket);
    let reply = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.write('confirm\n'));
    c.on('data', (d: string) => (reply += d));
    c.on('error', (e: NodeJS.ErrnoException) => {
      say(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'error: no portcullis apply is waiting for confirmation in this network namespace' : `error: cannot reach the waiting apply: ${e.message}`);
      resolve(2);
    });
    c.on('close', () => {
      if (reply.startsWith('confirmed ')) {
        say(visibleLine(reply.trim()));
        resolve(0);
      } else if (reply) {
        say('error: no portcullis apply is waiting for confirmation in this network namespace');
        resolve(2);
      }
    });
  });
}

interface ApplyResult {
  target: HostTarget;
  environment: string;
  changed: boolean;
  confirmed: boolean;
  rolled_back: boolean;
}

function report(args: ApplyArgs, r: ApplyResult): void {
  if (args.json) process.stdout.write(JSON.stringify(r) + '\n');
}

export async function applyCommand(args: ApplyArgs, sh: HostShell = localShell): Promise<number> {
  if (args.confirm) return confirmCommand();
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new OperateError('error: apply changes the host firewall and needs root');
  const target = parseHostTarget(args.target);
  let loaded: Loaded;
  try {
    loaded = loadProfile(args);
  } catch (e) {
    if (e instanceof CompileError) return badInput(e);
    throw e;
  }
  const seconds = args['confirm-timeout'] ?? DEFAULT_CONFIRM_SECONDS;
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86400) throw new OperateError('error: --confirm-timeout must be a number of seconds from 1 to 86400');
  const lt = liveTarget(target);
  const missing = lt.tools.filter((tool) => sh.run(['sh', '-c', 'command -v "$1"', 'sh', tool]).code !== 0);
  if (missing.length) throw new OperateError(`error: ${target} needs ${missing.join(', ')} on PATH; nothing changed`);
  let tree: { dir: string; cleanup: () => void };
  try {
    tree = treeFor(loaded, target, lt, args['from-dir']);
  } catch (e) {
    if (e instanceof CompileError) return badInput(e);
    throw e;
  }
  ensureRunDir();
  const paths = runPaths();
  const unlock = takeLock(paths.lock);
  const environment = loaded.ir.environment;
  const result: ApplyResult = { target, environment, changed: false, confirmed: false, rolled_back: false };
  try {
    try {
      lt.check(sh, tree.dir);
      const warning = checkLockout(sh, lt, tree.dir, !!args.force);
      if (warning) say(warning);
    } catch (e) {
      if (e instanceof ToolRejected) {
        say(`error: ${target} rejected the compiled rules: ${visibleLine(e.message)}\nnothing changed on this host.`);
        return 2;
      }
      throw e;
    }
    let saved: SavedState;
    try {
      saved = lt.save(sh);
    } catch (e) {
      if (e instanceof ToolRejected) {
        say(`error: cannot save ${target}'s current state for a rollback: ${visibleLine(e.message)}\nnothing changed on this host.`);
        return 2;
      }
      throw e;
    }
    try {
      lt.apply(sh, tree.dir);
    } catch (e) {
      lt.restore(sh, saved);
      if (e instanceof ToolRejected) {
        say(`error: applying failed: ${visibleLine(e.message)}\nrestored the previous state: ${visibleLine(lt.describe(saved))}`);
        return 2;
      }
      throw e;
    }
    result.changed = lt.stateKey(lt.save(sh)) !== lt.stateKey(saved);
    if (!result.changed) {
      say(`${target}: unchanged (the host already had these rules)`);
      report(args, result);
      return 0;
    }
    say(`${target}: applied ${visibleLine(environment)}`);
    if (args['no-confirm']) {
      report(args, result);
      return 0;
    }
    const outcome = await waitForConfirmation(paths.socket, seconds, `${target} ${environment}`);
    if (outcome === 'confirmed') {
      result.confirmed = true;
      say(`${target}: confirmed; keeping ${visibleLine(environment)}`);
      report(args, result);
      return 0;
    }
    lt.restore(sh, saved);
    result.rolled_back = true;
    const why = outcome === 'timeout' ? `not confirmed within ${seconds} s` : outcome === 'refused' ? 'not confirmed (answer was not y)' : 'interrupted before confirmation';
    say(`${target}: ${why}: rolled back to the previous state: ${visibleLine(lt.describe(saved))}`);
    report(args, result);
    return 1;
  } finally {
    unlock();
    tree.cleanup();
  }
}

export async function auditCommand(args: AuditArgs, sh: HostShell = localShell): Promise<number> {
  const target = parseHostTarget(args.target);
  let loaded: Loaded;
  try {
    loaded = loadProfile(args);
  } catch (e) {
    if (e instanceof CompileError) return badInput(e);
    throw e;
  }
  const lt = liveTarget(target);
  let tree: { dir: string; cleanup: () => void };
  try {
    tree = treeFor(loaded, target, lt, undefined);
  } catch (e) {
    if (e instanceof CompileError) return badInput(e);
    throw e;
  }
  try {
    const { compareLive, formatAuditMarkdown, formatAuditText } = require('./audit') as typeof import('./audit');
    let r;
    try {
      r = compareLive(loaded, target, loaded.ir.environment, lt.read(sh), lt.readExpected(sh, tree.dir));
    } catch (e) {
      if (e instanceof ToolRejected) {
        say(`error: cannot read ${target}'s state: ${visibleLine(e.message)}`);
        return 2;
      }
      throw e;
    }
    const { terminalJson } = require('../terminal') as typeof import('../terminal');
    process.stdout.write(args.format === 'json' ? terminalJson(r) : args.format === 'markdown' ? formatAuditMarkdown(r) : formatAuditText(r));
    return r.in_sync ? 0 : 1;
  } finally {
    tree.cleanup();
  }
}
