// A catalog and a profile with a text of the caller's choice in EVERY free
// text field the schemas allow (src/load/schemas.ts), for the line-limit
// tests: catalog title, document, table headings and notes, group, feature
// and param descriptions, every cell of a row, a prose rule's sentence,
// service, description and note, and the profile's extra_egress
// descriptions. Everything else (names, groups, ports, addresses) is fixed
// by the shape, so two inputs of one shape must give the same firewall.
import * as yaml from 'js-yaml';

export interface Shape {
  egress: 'allow' | 'restrict';
  /** Ports of the nodes' egress rule to the backup host (distinct, never
   * adjacent, so none merge): with `egress: allow` the rule is listed in
   * the files' headers ("covered by open outbound"). */
  backupPorts: number;
}

/** Every text field, by the path it has in the YAML. */
export const TEXT_FIELDS = [
  'title',
  'document',
  ...['T1', 'T2'].flatMap((t) => [`tables.${t}.heading`, `tables.${t}.note`]),
  ...['admins', 'nodes', 'monitor', 'backup', 'bmc'].map((g) => `groups.${g}.description`),
  'features.metrics.description',
  'params.app_port.description',
  ...['ssh', 'app', 'gossip', 'metrics', 'ipmi'].flatMap((id) => [
    ...['port', 'protocol', 'service', 'direction', 'source', 'destination', 'description'].map((c) => `rules.${id}.cells.${c}`),
    `rules.${id}.service`,
    `rules.${id}.description`,
    `rules.${id}.note`,
  ]),
  ...['prose', 'service', 'description', 'note'].map((f) => `rules.backup.${f}`),
  'profile.extra_egress.1.description',
  'profile.extra_egress.2.description',
] as const;

export type TextField = (typeof TEXT_FIELDS)[number];

/** Distinct, non-adjacent ports from 20000 up. */
export function spreadPorts(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 20000 + 2 * i);
}

export function hostileInputs(shape: Shape, text: (field: TextField) => string): { catalog: string; profile: string } {
  const row = (id: string, row: number, table: string, rest: object) => ({
    id,
    table,
    row,
    cells: Object.fromEntries(['port', 'protocol', 'service', 'direction', 'source', 'destination', 'description'].map((c) => [c, text(`rules.${id}.cells.${c}` as TextField)])),
    service: text(`rules.${id}.service` as TextField),
    description: text(`rules.${id}.description` as TextField),
    note: text(`rules.${id}.note` as TextField),
    ...rest,
  });
  const catalog = {
    name: 'hostile',
    title: text('title'),
    document: text('document'),
    host: 'nodes',
    tables: {
      T1: { heading: text('tables.T1.heading'), line: 3, note: text('tables.T1.note') },
      T2: { heading: text('tables.T2.heading'), note: text('tables.T2.note') },
    },
    groups: {
      admins: { description: text('groups.admins.description') },
      nodes: { description: text('groups.nodes.description') },
      monitor: { description: text('groups.monitor.description'), default: ['192.0.2.10', '2001:db8:10::10'] },
      backup: { description: text('groups.backup.description'), default: ['198.51.100.7'] },
      bmc: { description: text('groups.bmc.description'), default: ['203.0.113.0/28'] },
    },
    features: { metrics: { description: text('features.metrics.description'), default: true } },
    params: { app_port: { kind: 'port', choices: [8080, 8443], default: 8443, description: text('params.app_port.description') } },
    rules: [
      row('ssh', 1, 'T1', { ports: [22], transport: 'tcp', from: ['admins'], to: ['nodes'], anti_lockout: true }),
      row('app', 2, 'T1', { ports: [{ param: 'app_port' }], transport: 'tcp', from: ['admins'], to: ['nodes'] }),
      row('ipmi', 3, 'T1', { ports: [623], transport: 'udp', from: ['admins'], to: ['bmc'] }),
      row('gossip', 1, 'T2', { ports: [7946], transport: 'udp', from: ['nodes'], to: ['nodes'] }),
      row('metrics', 2, 'T2', { ports: [9100], transport: 'tcp', from: ['monitor'], to: ['nodes'], feature: 'metrics' }),
      {
        id: 'backup',
        table: 'T2',
        prose: text('rules.backup.prose'),
        service: text('rules.backup.service'),
        description: text('rules.backup.description'),
        note: text('rules.backup.note'),
        ports: spreadPorts(shape.backupPorts),
        transport: 'tcp',
        from: ['nodes'],
        to: ['backup'],
      },
    ],
  };
  const profile = {
    environment: 'hostile-lab',
    groups: { admins: ['192.0.2.0/28', '2001:db8:ad::/64'], nodes: ['192.0.2.100', '2001:db8::100'] },
    params: { app_port: 8080 },
    egress: shape.egress,
    extra_egress: [
      { to: ['10.20.0.53', '2001:db8:53::53'], ports: [53], transport: 'udp', description: text('profile.extra_egress.1.description') },
      { to: ['10.20.0.53'], ports: [53, 853], transport: 'tcp', description: text('profile.extra_egress.2.description') },
    ],
    terraform: { name: 'hostile' },
    azure: { nsg_name: 'hostile' },
  };
  // lineWidth -1: js-yaml would fold long strings; quoting and escaping are
  // its own (non-printable characters become \x.. / \u.. escapes).
  const dump = (v: object) => yaml.dump(v, { lineWidth: -1, noRefs: true });
  return { catalog: dump(catalog), profile: dump(profile) };
}

/** The texts the YAML really carries (what the loader will see), by field:
 * to prove a test put the text where it meant to. */
export function textsIn(catalogYaml: string, profileYaml: string): Map<TextField, string> {
  const c = yaml.load(catalogYaml) as Record<string, any>;
  const p = yaml.load(profileYaml) as Record<string, any>;
  const out = new Map<TextField, string>();
  for (const field of TEXT_FIELDS) {
    const parts = field.split('.');
    let v: any;
    if (parts[0] === 'profile') v = p.extra_egress[Number(parts[2]) - 1].description;
    else if (parts[0] === 'rules') {
      const rule = c.rules.find((r: { id: string }) => r.id === parts[1]);
      v = parts.slice(2).reduce((o, k) => o?.[k], rule);
    } else v = parts.reduce((o, k) => o?.[k], c);
    out.set(field, v);
  }
  return out;
}
