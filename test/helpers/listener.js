#!/usr/bin/env node
// TCP echo listener for kernel tests; run inside a namespace:
//   ip netns exec NS node listener.js PORT [PORT...]
// One process listens on every PORT on `::` (dual stack: IPv4 peers arrive as
// ::ffff:a.b.c.d). Each connection gets back the first line it sends (the
// prober's nonce), then is closed. Prints "ready" once all ports listen.
// Exits when stdin closes, so it cannot outlive the test that spawned it.
'use strict';
const net = require('net');

const ports = process.argv.slice(2).map((p) => {
  const n = Number(p);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    console.error(`listener: bad port ${JSON.stringify(p)}`);
    process.exit(2);
  }
  return n;
});

let pending = ports.length;
const ready = () => process.stdout.write('ready\n');

for (const port of ports) {
  const server = net.createServer((sock) => {
    let buf = '';
    let answered = false;
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (chunk) => {
      if (answered) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        answered = true;
        sock.end(buf.slice(0, nl + 1));
      } else if (buf.length > 4096) {
        sock.destroy();
      }
    });
    sock.on('error', () => {});
  });
  server.on('error', (e) => {
    console.error(`listener: port ${port}: ${e.message}`);
    process.exit(1);
  });
  server.listen({ port, host: '::', ipv6Only: false, backlog: 511 }, () => {
    if (--pending === 0) ready();
  });
}
if (ports.length === 0) ready();

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
