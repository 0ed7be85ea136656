// Deterministic scale profiles in the contract format: N node addresses,
// N user networks (/24), N/10 admin networks, a share of them IPv6, every
// feature on, egress: restrict. Seeded, so every run measures the same input.
'use strict';

/** mulberry32: a tiny seeded PRNG, enough to shuffle deterministically. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

const V6_SHARE = 0.2;

/** Non-adjacent IPv4 hosts (odd last octet, every other one), so they never merge into wider CIDRs. */
function v4Host(i) {
  return `10.${(i >> 14) & 255}.${(i >> 6) & 255}.${((i & 63) << 2) + 1}`;
}

function scaleProfile(n, seed = 1) {
  const rand = rng(seed + n);
  const v6n = Math.floor(n * V6_SHARE);
  const nodes = [];
  for (let i = 0; i < n - v6n; i++) nodes.push(v4Host(i));
  for (let i = 0; i < v6n; i++) nodes.push(`2001:db8:1:${(i >> 8).toString(16)}::${((i & 255) * 2 + 1).toString(16)}`);
  const users = [];
  // /24s spaced two apart so they stay separate networks.
  for (let i = 0; i < n - v6n; i++) users.push(`${100 + ((i >> 15) & 63)}.${(i >> 7) & 255}.${(i & 127) * 2}.0/24`);
  for (let i = 0; i < v6n; i++) users.push(`2001:db8:2:${(i * 2).toString(16)}::/64`);
  const admins = [];
  const an = Math.max(1, Math.floor(n / 10));
  for (let i = 0; i < an; i++) admins.push(`172.${16 + ((i >> 13) & 15)}.${(i >> 5) & 255}.${(i & 31) << 3}/30`);
  const q = (a) => (a.includes(':') ? `"${a}"` : a);
  const list = (a) => `[${shuffle(a, rand).map(q).join(', ')}]`;
  return [
    `environment: scale-${n}`,
    'groups:',
    `  admins: ${list(admins)}`,
    `  users: ${list(users)}`,
    `  nodes: ${list(nodes)}`,
    '  support: [203.0.113.16/28, "2001:db8:5::/48"]',
    '  smtp_relay: [192.0.2.25]',
    '  ldap_server: [192.0.2.10]',
    '  bmc: [192.0.2.128/26]',
    'features: { debug: true, support: true, smtp: true, ldap: true, file_transfer: true, ipmi: true }',
    'egress: restrict',
    'terraform: { vpc_id: vpc-0123456789abcdef0, name: scale }',
    'azure: { nsg_name: scale-nsg, location: eastus }',
    '',
  ].join('\n');
}

module.exports = { scaleProfile };

if (require.main === module) {
  process.stdout.write(scaleProfile(Number(process.argv[2] || 1000), Number(process.argv[3] || 1)));
}
