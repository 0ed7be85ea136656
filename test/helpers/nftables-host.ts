// Shared by the nftables host tests (boot, coexistence, DHCPv6, logging):
// compiling the example profile with extra profile text, a temporary
// directory, and one-way UDP delivery with chosen source ports (the prober
// binds port 0; a DHCPv6 reply must come from port 547).
//
// Run as a program (inside a namespace) this file is the UDP receiver or sender:
//   node nftables-host.js recv PORT        prints "ready", then each datagram's text
//   node nftables-host.js send ROUNDS MS   cases as JSON on stdin; prints "done"
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as assert from 'uvu/assert';
import { fixture, runCli } from './cli';
import type { Topology } from './netns';

/** The example profile plus `extra` YAML (top-level sections it lacks). */
export function exampleWith(extra: string): string {
  const text = fs.readFileSync(fixture('profiles', 'example.yaml'), 'utf8');
  return `${text.trimEnd()}\n${extra.trim()}\n`;
}

/** Compiles profile text into DIR/<name>/; returns the nftables output directory. */
export function compileNft(profileText: string, dir: string, name: string): string {
  const profile = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(profile, profileText);
  const out = path.join(dir, name);
  const r = runCli(['compile', '--profile', profile, '--target', 'nftables', '--out-dir', out]);
  assert.is(r.code, 0, `compile failed: ${r.stderr}`);
  const nftDir = path.join(out, 'prod-east', 'nftables');
  assert.ok(fs.existsSync(path.join(nftDir, 'portcullis.nft')), `compile wrote no ${nftDir}/portcullis.nft`);
  return nftDir;
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pct-nft-${tag}-${process.pid}-`));
}

export interface UdpCase {
  /** Local address to send from; a link-local one with its %interface. */
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

interface Wire extends UdpCase {
  id: string;
}

/** Polls cond every 50 ms until it holds (readiness, not a sleep). */
export function waitFor(what: string, cond: () => boolean, timeoutMs = 20000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

/**
 * Sends every case ROUNDS times (one round every intervalMs) from `fromNs`
 * to a receiver on udp `port` in `toNs`; returns, per case, whether any of
 * its datagrams arrived. Waits until every case `expected` says should
 * arrive has delivered its last round (all rounds were sent by then, so the
 * others had as many chances), or timeoutMs.
 */
export async function udpDeliveries(
  t: Topology,
  fromNs: string,
  toNs: string,
  port: number,
  cases: readonly UdpCase[],
  expected: (c: UdpCase, i: number) => boolean,
  { rounds = 10, intervalMs = 100, timeoutMs = 20000 } = {},
): Promise<boolean[]> {
  const recv = t.spawn(toNs, [process.execPath, __filename, 'recv', String(port)]);
  let out = '';
  let err = '';
  recv.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  recv.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  try {
    await waitFor(`the UDP receiver in ${toNs} (${err.trim()})`, () => /^ready$/m.test(out), timeoutMs);
    const wire: Wire[] = cases.map((c, i) => ({ ...c, id: `c${i}` }));
    const r = t.exec(fromNs, [process.execPath, __filename, 'send', String(rounds), String(intervalMs)], JSON.stringify(wire));
    assert.is(r.code, 0, `UDP sender in ${fromNs} failed: ${r.stderr}`);
    const got = () => new Set(out.split('\n'));
    await waitFor(
      `the last round of the datagrams expected to arrive (received: ${[...got()].join(' ')}; sender: ${r.stdout.trim()})`,
      () => wire.every((w, i) => !expected(cases[i], i) || got().has(`${w.id}:${rounds - 1}`)),
      timeoutMs,
    ).catch(() => undefined);
    const seen = got();
    return wire.map((w) => [...seen].some((l) => l.startsWith(`${w.id}:`)));
  } finally {
    t.kill(recv);
  }
}

function receiver(port: number): void {
  const sock = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  sock.on('message', (m) => process.stdout.write(`${m.toString('utf8')}\n`));
  sock.on('error', (e) => {
    console.error(`recv: ${e.message}`);
    process.exit(1);
  });
  sock.bind({ address: '::', port }, () => process.stdout.write('ready\n'));
  process.stdin.on('end', () => process.exit(0)).resume();
}

async function sender(rounds: number, intervalMs: number): Promise<void> {
  const wire = JSON.parse(fs.readFileSync(0, 'utf8')) as Wire[];
  // One socket per (source, source port); several cases may share it.
  const socks = new Map<string, Promise<dgram.Socket>>();
  const sockFor = (w: Wire) => {
    const key = `${w.src} ${w.sport}`;
    if (!socks.has(key))
      socks.set(
        key,
        new Promise((resolve, reject) => {
          const s = dgram.createSocket(w.src.includes(':') ? 'udp6' : 'udp4');
          s.once('error', reject);
          s.bind({ address: w.src, port: w.sport, exclusive: true }, () => resolve(s));
        }),
      );
    return socks.get(key)!;
  };
  const errors: string[] = [];
  for (let r = 0; r < rounds; r++) {
    await Promise.all(
      wire.map(async (w) => {
        const s = await sockFor(w);
        await new Promise<void>((resolve) => s.send(`${w.id}:${r}`, w.dport, w.dst, (e) => (e && errors.push(`${w.id} ${e.message}`), resolve())));
      }),
    );
    await new Promise((res) => setTimeout(res, intervalMs));
  }
  for (const s of socks.values()) (await s).close();
  process.stdout.write(`done${errors.length ? ` (send errors: ${[...new Set(errors)].join('; ')})` : ''}\n`);
}

if (require.main === module) {
  const [role, a, b] = process.argv.slice(2);
  if (role === 'recv') receiver(Number(a));
  else if (role === 'send')
    sender(Number(a), Number(b)).catch((e) => {
      console.error(`send: ${(e as Error).message}`);
      process.exit(1);
    });
  else {
    console.error('usage: recv PORT | send ROUNDS MS');
    process.exit(2);
  }
}
