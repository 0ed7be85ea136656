#!/usr/bin/env node
// `npm run bench`: cold start, scale and kernel-load numbers; prints a table
// and writes bench/results.json. A script, not a test: CI does not run it.
// Needs the build (npm run build), /usr/bin/time, and for the kernel part
// nft, ipset, iptables and `unshare -Urn`.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { scaleProfile } = require('./scale-profile');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'portcullis.js');
const EXAMPLE = path.join(ROOT, 'fixtures', 'profiles', 'example.yaml');
const HOSTS = ['nftables', 'iptables', 'firewalld'];
const CLOUDS = ['terraform-aws', 'azure-nsg'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pc-bench-'));
const quick = process.argv.includes('--quick');
/** --only=cold|many|scale|kernel|audit: one part (results.json is written only by a full run). */
const only = (process.argv.find((a) => a.startsWith('--only=')) || '').slice('--only='.length) || undefined;
const part = (name) => !only || only === name;

function ms(ns) {
  return Number(ns) / 1e6;
}

function timed(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const t = ms(process.hrtime.bigint() - t0);
  return { t, code: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** Wall seconds (the median of `runs` processes, timed here: GNU time
 * rounds to 10 ms) and peak RSS (the largest, by GNU time) of a command. */
function measured(args, runs = 1) {
  const each = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    const kb = Number(r.stderr.trim().split('\n').pop());
    each.push({ sec, rssMB: kb / 1024, code: r.status, stderr: r.stderr });
    if (r.status !== 0) break;
  }
  return { ...each[each.length - 1], sec: median(each.map((e) => e.sec)), rssMB: Math.max(...each.map((e) => e.rssMB)) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const results = { machine: { cpus: os.cpus().length, model: os.cpus()[0].model, memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version, kernel: os.release() } };

// Cold start: whole process, all targets, interleaved with bare node.
if (part('cold')) {
  const runs = quick ? 5 : 11;
  const node0 = [];
  const cli = [];
  const out = path.join(tmp, 'cold');
  for (let i = 0; i < runs; i++) {
    node0.push(timed(process.execPath, ['-e', '0']).t);
    const r = timed(process.execPath, [BIN, 'compile', '--profile', EXAMPLE, '--target', 'all', '--out-dir', out]);
    if (r.code !== 0) throw new Error(`compile failed: ${r.stderr}`);
    cli.push(r.t);
  }
  results.cold = { runs, nodeMs: median(node0), compileMs: median(cli), ratio: median(cli) / median(node0) };
  console.log(`cold start (median of ${runs} interleaved runs): node -e 0 ${results.cold.nodeMs.toFixed(1)} ms, compile --target all ${results.cold.compileMs.toFixed(1)} ms, ratio ${results.cold.ratio.toFixed(2)}x`);
}

// Many environments in one run: 50 example-like profiles (each its own
// environment and node addresses), all targets, against one profile; whole
// processes, interleaved with bare node, writing into an out-dir that holds
// the previous run's tree (as a CI job does) and with --check.
function manyProfiles(dir, count) {
  fs.mkdirSync(dir, { recursive: true });
  const text = fs.readFileSync(EXAMPLE, 'utf8');
  for (let i = 1; i <= count; i++) {
    const env = `env-${String(i).padStart(2, '0')}`;
    fs.writeFileSync(path.join(dir, `${env}.yaml`), text.replace(/^environment: \S+/m, `environment: ${env}`).replace(/10\.20\.0\./g, `10.20.${i}.`));
  }
}
if (part('many')) {
  const count = 50;
  const runs = quick ? 3 : 7;
  const dir = path.join(tmp, 'many');
  manyProfiles(dir, count);
  const out1 = path.join(tmp, 'many-out1');
  const outN = path.join(tmp, 'many-outN');
  const t = { node: [], one: [], many: [], check: [] };
  const run = (key, args) => {
    const r = timed(process.execPath, [BIN, 'compile', ...args]);
    if (r.code !== 0) throw new Error(`${key}: exit ${r.code}: ${r.stderr.slice(0, 500)}`);
    t[key].push(r.t);
  };
  for (let i = 0; i < runs; i++) {
    t.node.push(timed(process.execPath, ['-e', '0']).t);
    run('one', ['--profile', EXAMPLE, '--target', 'all', '--out-dir', out1]);
    run('many', ['--profile', dir, '--target', 'all', '--out-dir', outN]);
    run('check', ['--profile', dir, '--target', 'all', '--out-dir', outN, '--check']);
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  results.many = { profiles: count, runs, nodeMs: m.node, oneMs: m.one, manyMs: m.many, checkMs: m.check, ratio: m.many / m.one, checkRatio: m.check / m.one, load: os.loadavg()[0] };
  console.log(`\n${count} profiles, all targets, one run (median of ${runs} interleaved runs; load average ${os.loadavg()[0].toFixed(2)}):`);
  console.log(`node -e 0 ${m.node.toFixed(0)} ms; one profile ${m.one.toFixed(0)} ms; ${count} profiles ${m.many.toFixed(0)} ms (${results.many.ratio.toFixed(2)}x one), with --check ${m.check.toFixed(0)} ms (${results.many.checkRatio.toFixed(2)}x one)`);
}

// Scale: per target, wall time and peak RSS.
if (part('scale')) {
results.scale = {};
const sizes = quick ? [1000, 10000] : [1000, 10000, 100000];
console.log('\nscale: wall s (median of 5 up to N = 10,000) / peak RSS MB per target (all features, egress restrict)');
console.log(['N', ...HOSTS, 'hosts together', ...CLOUDS].map((h) => h.padEnd(18)).join(''));
for (const n of sizes) {
  const profile = path.join(tmp, `scale-${n}.yaml`);
  fs.writeFileSync(profile, scaleProfile(n));
  const row = {};
  for (const target of [...HOSTS, HOSTS.join(','), ...CLOUDS]) {
    // Up to N = 10,000, the median of 5 (a run moves by 10-20% on this machine).
    const m = measured([BIN, 'compile', '--profile', profile, '--target', target, '--out-dir', path.join(tmp, 'out')], n <= 10000 ? 5 : 1);
    const key = target.includes(',') ? 'hosts' : target;
    row[key] = { sec: m.sec, rssMB: Math.round(m.rssMB), status: m.code === 0 ? 'ok' : m.code === 2 ? 'quota error' : `exit ${m.code}` };
    if (m.code !== 0 && m.code !== 2) throw new Error(`${target} at N=${n} failed: ${m.stderr}`);
  }
  results.scale[n] = row;
  const cell = (c) => `${c.sec.toFixed(2)} / ${c.rssMB}${c.status === 'ok' ? '' : ' (quota)'}`.padEnd(18);
  console.log([String(n).padEnd(18), ...HOSTS.map((h) => cell(row[h])), cell(row.hosts), ...CLOUDS.map((c) => cell(row[c]))].join(''));
}
if (results.scale[100000]) {
  const g = (k) => results.scale[100000][k].sec / results.scale[10000][k].sec;
  results.growth10kTo100k = Object.fromEntries(['hosts', ...HOSTS].map((k) => [k, Number(g(k).toFixed(2))]));
  console.log(`growth 10k -> 100k: ${Object.entries(results.growth10kTo100k).map(([k, v]) => `${k} ${v}x`).join(', ')}`);
}

}

// Kernel: load time and rule count in a fresh namespace.
function kernel(n) {
  const profile = path.join(tmp, `scale-${n}.yaml`);
  if (!fs.existsSync(profile)) fs.writeFileSync(profile, scaleProfile(n));
  const out = path.join(tmp, `k${n}`);
  const c = timed(process.execPath, [BIN, 'compile', '--profile', profile, '--target', 'nftables,iptables', '--out-dir', out]);
  if (c.code !== 0) throw new Error(c.stderr);
  const dir = path.join(out, `scale-${n}`);
  const script = `set -e
    now() { date +%s%N; }
    a=$(now); nft -f ${dir}/nftables/portcullis.nft; b=$(now)
    echo "nft_ms $(( (b - a) / 1000000 ))"
    echo "nft_rules $(nft -j list ruleset | grep -o '"rule":' | wc -l)"
    a=$(now)
    ipset restore -exist < ${dir}/iptables/ipsets
    iptables-restore --noflush < ${dir}/iptables/rules.v4; ip6tables-restore --noflush < ${dir}/iptables/rules.v6
    b=$(now)
    echo "ipt_ms $(( (b - a) / 1000000 ))"
    echo "ipt_rules $(( $(iptables -S | grep -c '^-A') + $(ip6tables -S | grep -c '^-A') ))"`;
  // As root, a fresh `ip netns` namespace: what applying the rules takes. In
  // an unprivileged `unshare -Urn` namespace nft cannot enlarge its netlink
  // socket buffer (SO_SNDBUFFORCE needs CAP_NET_ADMIN in the initial user
  // namespace), so a transaction over the default buffer fails there with
  // "Message too long"; that outcome is recorded too.
  const ns = `pcb-${process.pid}-${n}`;
  let r;
  if (process.getuid && process.getuid() === 0 && spawnSync('ip', ['netns', 'add', ns]).status === 0) {
    try {
      r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', script], { encoding: 'utf8' });
    } finally {
      spawnSync('ip', ['netns', 'delete', ns]);
    }
  } else {
    r = spawnSync('unshare', ['-Urn', 'sh', '-c', script], { encoding: 'utf8' });
  }
  const unpriv = spawnSync('unshare', ['-Urn', 'nft', '-f', `${dir}/nftables/portcullis.nft`], { encoding: 'utf8' });
  const result = r.status !== 0 ? { error: r.stderr.trim() } : Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  result.nft_unshare = unpriv.status === 0 ? 'ok' : unpriv.stderr.trim().split('\n')[0];
  return result;
}
if (part('kernel')) {
results.kernel = { 1000: kernel(1000), 10000: kernel(10000) };
console.log('\nkernel (fresh network namespace, as root): load ms / rule count');
for (const n of [1000, 10000]) {
  const k = results.kernel[n];
  console.log(k.error ? `N=${n}: ${k.error}` : `N=${n}: nft -f ${k.nft_ms} ms / ${k.nft_rules} rules; ipset+iptables-restore ${k.ipt_ms} ms / ${k.ipt_rules} rules; nft -f in unshare -Urn: ${k.nft_unshare}`);
}

}

// Audit: `portcullis apply --no-confirm` then `portcullis audit` (whole
// processes) on a host of N nodes, as root in a fresh `ip netns` namespace
// per target: what a nightly audit job costs. The audit reads the live state
// and compiles and reads the expected one (in a throwaway namespace).
const AUDITED = (process.env.PORTCULLIS_BENCH_AUDIT || 'nftables,iptables').split(',');
function auditBench(n, target) {
  const profile = path.join(tmp, `scale-${n}.yaml`);
  if (!fs.existsSync(profile)) fs.writeFileSync(profile, scaleProfile(n));
  const ns = `pcba-${process.pid}-${n}-${target}`;
  if (spawnSync('ip', ['netns', 'add', ns]).status !== 0) return { error: 'needs root and ip netns' };
  const env = { ...process.env };
  delete env.SSH_CONNECTION;
  const inNs = (args) => spawnSync('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], { encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024 });
  try {
    const a = inNs(['apply', '--profile', profile, '--target', target, '--no-confirm']);
    if (a.status !== 0) return { error: `apply exit ${a.status}: ${a.stderr.trim().split('\n')[0]}` };
    const runs = [];
    let code;
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      const t0 = process.hrtime.bigint();
      const r = inNs(['audit', '--profile', profile, '--target', target]);
      runs.push(ms(process.hrtime.bigint() - t0));
      code = r.status;
    }
    return { auditMs: Math.round(median(runs)), exit: code };
  } finally {
    spawnSync('ip', ['netns', 'delete', ns]);
  }
}
if (part('audit') && process.getuid && process.getuid() === 0) {
  results.audit = {};
  console.log('\naudit after apply (fresh network namespace, as root): wall ms of `portcullis audit`, exit code (0 = in sync)');
  for (const n of [1000, 10000]) {
    results.audit[n] = {};
    for (const target of AUDITED) {
      const a = auditBench(n, target);
      results.audit[n][target] = a;
      console.log(a.error ? `N=${n} ${target}: ${a.error}` : `N=${n} ${target}: ${a.auditMs} ms, exit ${a.exit}`);
    }
  }
}

if (!only) fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify(results, null, 2) + '\n');
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`\nmachine: ${results.machine.cpus} x ${results.machine.model}, ${results.machine.memGB} GB, node ${results.machine.node}, kernel ${results.machine.kernel}`);
console.log(only ? `(--only=${only}: bench/results.json not written)` : 'written: bench/results.json');
