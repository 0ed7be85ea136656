#!/usr/bin/env node
// Runs every build/test/*.test.js file in its own node process, a few at a
// time. Most of the suite's time is kernel tests waiting on daemons and
// packets, not CPU, so on a 2-core machine three files at once take well
// under half the time of one uvu process running them in a row. Every file
// gets its own pid, and with it its own namespace and temp file names.
// Prints each file's output when it ends, then uvu's summary lines summed
// (test/run.sh reads "Total:", "Passed:", "Skipped:"). Exit 1 if any file
// failed or ended without its summary.
//
// usage: node tools/run-tests.js [PATTERN]   (PORTCULLIS_TEST_JOBS=N)

'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const dir = path.join(__dirname, '..', 'build', 'test');
const pattern = new RegExp(process.argv[2] || '\\.test\\.js$');
const jobs = Math.max(1, Number(process.env.PORTCULLIS_TEST_JOBS) || Math.min(3, os.cpus().length + 1));

// The long files start first so the run does not end waiting on one of them.
const SLOW = /kernel|firewalld|verify|apply|ansible|host-|nftables-|iptables-host|property/;
const files = fs
  .readdirSync(dir)
  .filter((f) => pattern.test(f) && f.endsWith('.test.js'))
  .sort((a, b) => Number(SLOW.test(b)) - Number(SLOW.test(a)) || a.localeCompare(b));

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const count = (text, label) => {
  const m = new RegExp(`^\\s*${label}:\\s*(\\d+)`, 'm').exec(strip(text));
  return m ? Number(m[1]) : undefined;
};

let total = 0;
let passed = 0;
let skipped = 0;
const broken = [];
const started = Date.now();

function runOne(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [path.join(dir, file)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => {
      const t = count(out, 'Total');
      const p = count(out, 'Passed');
      const s = count(out, 'Skipped') || 0;
      process.stdout.write(`\n=== ${file} (${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${code ?? signal})\n${out}`);
      if (t === undefined || p === undefined) {
        broken.push(file);
        total += 1;
      } else {
        total += t;
        passed += p;
        skipped += s;
        if (code !== 0 || p < t) broken.push(file); // uvu's Total leaves out skipped tests
      }
      resolve();
    });
  });
}

async function main() {
  const queue = [...files];
  await Promise.all(
    Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      while (queue.length) await runOne(queue.shift());
    }),
  );
  process.stdout.write(`\n${files.length} files, ${jobs} at a time, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (broken.length) process.stdout.write(`; failed: ${broken.join(', ')}`);
  process.stdout.write(`\n\n  Total:     ${total}\n  Passed:    ${passed}\n  Skipped:   ${skipped}\n`);
  process.exitCode = broken.length ? 1 : 0;
}

main();
