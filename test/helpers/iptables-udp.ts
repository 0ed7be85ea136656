// A UDP datagram from a chosen source address AND source port (the prober
// binds port 0), answered by the node's UDP echo listener: true when the
// echo came back, i.e. the datagram got in (its echo is then a tracked reply).
// For the DHCPv6 reply: fe80::…:547 -> fe80::node:546 on the link.
import type { Topology } from '../../src/verify/topology';

const SCRIPT = `
const dgram = require('dgram');
const [src, sport, dst, dport, ms] = process.argv.slice(1);
const s = dgram.createSocket({ type: dst.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
const nonce = String(Math.random()).slice(2);
const done = (ok) => { console.log(ok ? 'echo' : 'timeout'); process.exit(0); };
setTimeout(() => done(false), Number(ms));
s.on('message', (m) => { if (m.toString() === nonce) done(true); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });
s.bind({ address: src, port: Number(sport) }, () => {
  const send = () => s.send(nonce, Number(dport), dst);
  send();
  setInterval(send, 300);
});
`;

export function udpEcho(t: Topology, ns: string, src: string, sport: number, dst: string, dport: number, timeoutMs: number): Promise<string> {
  const c = t.spawn(ns, [process.execPath, '-e', SCRIPT, src, String(sport), dst, String(dport), String(timeoutMs)]);
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('error', reject);
    c.on('close', () => resolve(out.trim()));
  });
}
