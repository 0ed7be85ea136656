#!/usr/bin/env node
// TCP prober for kernel tests; run inside a namespace:
//   echo '[{"src":"192.0.2.77","dst":"10.20.0.11","port":80}]' \
//     | ip netns exec NS node prober.js [TIMEOUT_MS]
// Opens every case in parallel from `src` (localAddress) to `dst`:`port`,
// sends a random nonce line and counts the flow as allowed only if exactly
// that nonce comes back before TIMEOUT_MS (default 700): a full round trip
// through the firewall, never a bare connect. Prints one JSON array:
//   [{src, dst, port, allowed, outcome, ms}]
// outcome: "echo" | "timeout" | "closed" | "wrong-echo" | an errno code.
'use strict';
const net = require('net');
const crypto = require('crypto');

const timeoutMs = Number(process.argv[2] || 700);
if (!(timeoutMs > 0)) {
  console.error(`prober: bad timeout ${process.argv[2]}`);
  process.exit(2);
}

function probeOne(c) {
  return new Promise((resolve) => {
    const nonce = crypto.randomBytes(16).toString('hex');
    const started = Date.now();
    let buf = '';
    let done = false;
    const sock = net.connect({ host: c.dst, port: c.port, localAddress: c.src });
    const finish = (allowed, outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ src: c.src, dst: c.dst, port: c.port, allowed, outcome, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false, 'timeout'), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(nonce + '\n'));
    sock.on('data', (chunk) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        const line = buf.slice(0, nl);
        finish(line === nonce, line === nonce ? 'echo' : 'wrong-echo');
      }
    });
    sock.on('end', () => finish(false, 'closed'));
    sock.on('close', () => finish(false, 'closed'));
    sock.on('error', (e) => finish(false, e.code || e.message));
  });
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  let cases;
  try {
    cases = JSON.parse(input);
    if (!Array.isArray(cases)) throw new Error('expected a JSON array of {src, dst, port}');
  } catch (e) {
    console.error(`prober: ${e.message}`);
    process.exit(2);
  }
  const results = await Promise.all(cases.map(probeOne));
  process.stdout.write(JSON.stringify(results) + '\n');
});
