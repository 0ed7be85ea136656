// firewalld on a running host (src/targets/live.ts). What is ours is a
// closed list of files under /etc/firewalld, exactly the names a compiled
// tree can have (zones/portcullis.xml, policies/portcullis-out.xml,
// ipsets/portcullis-*.xml), plus the DefaultZone key of firewalld.conf. No
// other zone, policy, ipset, file or key is ever written or deleted.
//
//   check    the tree over a temporary copy of /etc/firewalld (ours not in
//            the tree removed, as apply does), bind-mounted over
//            /etc/firewalld in a private mount namespace (unshare --mount),
//            checked by `firewall-offline-cmd --check-config`. That command
//            exits 0 on a rule with a bad port or an ipset entry it drops
//            (it only warns, and the daemon then loads the zone without
//            them), so a WARNING or ERROR line rejects the tree too, unless
//            the same copy without the tree says it as well (another
//            manager's file); and an ipset a rule names must be in the tree
//            (check-config does not look, the daemon refuses the zone).
//   save     the bytes of every file of ours that exists, and DefaultZone
//   apply    our files written (temporary name + rename), ours not in the
//            tree deleted, `firewall-cmd --reload`, then
//            `firewall-cmd --set-default-zone=portcullis` (host.ts)
//   restore  the saved files back (and ours not saved deleted), the saved
//            DefaultZone written into firewalld.conf, reload
//   read     runtime and permanent configuration through firewalld's own
//            client library (the AGENT, run by firewall-cmd's interpreter),
//            runtime as flows and lines; runtime != permanent, and our
//            files != what the daemon loaded, as drift
//   expected the tree read by firewalld's own XML readers, the same shape
//
// How the daemon decides (firewalld >= 1.0, nftables backend: nftables.py
// _rich_rule_chain_suffix): a zone's chain jumps to its _pre chain (rich
// rules of priority < 0, by priority), _log, _deny (priority-0 drop and
// reject rules), _allow (priority-0 accept rules, and the zone's ports,
// protocols and services), _post (priority > 0, by priority), then ends in
// the zone's target (ACCEPT accepts, anything else drops or rejects).
// Policies (egress: HOST -> ANY) are the same, ending in their target
// (CONTINUE: no verdict). The flow rules are emitted in that order. Among
// rules of the same priority the daemon keeps no order (its rich rules are
// a set: `--list-rich-rules` prints them in hash order), so they are sorted
// by their text; that matters only for an accept and a drop of the same
// non-zero priority matching the same packet, which no tree of ours has.

import * as fs from 'fs';
import * as path from 'path';
import { AddrRange, BITS, Family, FULL_RANGE, mergeRanges, parseAddress, subtractRanges } from '../../addresses';
import { TRANSPORTS as AUDITED_TRANSPORTS } from '../../analysis/flows';
import type { Direction, Transport } from '../../ir/types';
import { carries, fullSpace, parseIcmpType, TRANSPORT_FACTS, TRANSPORTS } from '../../transports';
import { mergePorts, parsePortSpec, PortRange } from '../../ports';
import { HostShell, LiveFlowRule, LiveRead, LiveTarget, multisetMinus, runOk, SavedState, ToolRejected, oneLine } from '../live';
import { SET_DEFAULT_ZONE } from './host';
import { EGRESS_POLICY_NAME, ICMP_TYPES, ZONE_NAME } from './render';

// The Python program live.ts runs with firewalld's own interpreter (the one
// firewall-cmd's #! line names): firewalld's client library over D-Bus for
// the runtime and permanent configuration, its own XML readers for a
// compiled tree, and its own rich-rule parser, so every rule reaches the
// TypeScript side already parsed the way the daemon parses it. One process
// per read instead of one firewall-cmd per zone, policy and ipset.
//
// Modes (argv[1]):
//   live              {defaultZone, runtime, permanent, disk, services, ids}
//   expected DIR      the same shape, read from the tree DIR (nothing on the
//                     host is touched: firewalld's XML readers only)
//   files             {defaultZone, files: {path: base64}}: every file of ours,
//                     and DefaultZone from firewalld.conf
//   write             stdin {write: {path: base64}, defaultZone?}: each file
//                     written to a temporary name beside it and renamed,
//                     every other file of ours deleted, DefaultZone set in
//                     firewalld.conf if given; prints the DefaultZone it had
// Paths are relative to /etc/firewalld and must be names of ours (OURS).
// Python's own output (firewalld's log module prints warnings) goes to
// stderr; stdout holds the JSON only.

const AGENT = String.raw`
import base64, json, os, re, sys
out = sys.stdout
sys.stdout = sys.stderr
ETC = '/etc/firewalld'
OURS = re.compile(r'^(zones/portcullis\.xml|policies/portcullis-out\.xml|ipsets/portcullis-[A-Za-z0-9_.-]+\.xml)$')
ZONE, POLICY, PREFIX = 'portcullis', 'portcullis-out', 'portcullis-'

def fail(msg):
    sys.stderr.write(msg + '\n')
    sys.exit(1)

def plain(v):
    if isinstance(v, dict): return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)): return [plain(x) for x in v]
    if isinstance(v, bool): return v
    if isinstance(v, int): return int(v)
    if v is None: return None
    return str(v)

def cls(o):
    n = type(o).__name__
    return n[5:].lower() if n.startswith('Rich_') else n.lower()

def rule_json(text):
    from firewall.core.rich import Rich_Rule
    try:
        r = Rich_Rule(rule_str=text)
    except Exception as e:
        return {'text': str(text), 'error': str(e)}
    o = {'text': str(r), 'family': r.family, 'priority': int(r.priority or 0)}
    lim = lambda x: str(x) if x is not None else None
    if r.source is not None:
        o['source'] = {'address': r.source.addr, 'mac': r.source.mac, 'ipset': r.source.ipset, 'invert': bool(r.source.invert)}
    if r.destination is not None:
        o['destination'] = {'address': r.destination.addr, 'ipset': r.destination.ipset, 'invert': bool(r.destination.invert)}
    if r.element is not None:
        e = {'kind': cls(r.element)}
        for k, v in vars(r.element).items():
            e[k] = v if isinstance(v, bool) or v is None else str(v)
        o['element'] = e
    if r.log is not None:
        o['log'] = {'kind': cls(r.log), 'limit': lim(getattr(r.log, 'limit', None))}
    if r.audit is not None:
        o['audit'] = {'limit': lim(getattr(r.audit, 'limit', None))}
    if r.action is not None:
        o['action'] = {'kind': cls(r.action), 'limit': lim(getattr(r.action, 'limit', None))}
    return o

ZLISTS = ['services', 'ports', 'protocols', 'source_ports', 'icmp_blocks', 'forward_ports', 'interfaces', 'sources']
ZBOOLS = ['icmp_block_inversion', 'masquerade', 'forward']
PLISTS = ['services', 'ports', 'protocols', 'source_ports', 'icmp_blocks', 'forward_ports', 'ingress_zones', 'egress_zones']

def norm_zone(d):
    if d is None: return None
    d = plain(d)
    z = {k: d.get(k) or [] for k in ZLISTS}
    for k in ZBOOLS: z[k] = bool(d.get(k, False))
    t = d.get('target') or 'default'
    z['target'] = 'default' if '{' in t else t
    z['short'] = d.get('short') or ''
    z['rules'] = [rule_json(s) for s in d.get('rules_str') or []]
    return z

def norm_policy(d):
    if d is None: return None
    d = plain(d)
    p = {k: d.get(k) or [] for k in PLISTS}
    p['masquerade'] = bool(d.get('masquerade', False))
    p['target'] = d.get('target') or 'CONTINUE'
    p['priority'] = int(d.get('priority', -1))
    p['short'] = d.get('short') or ''
    p['rules'] = [rule_json(s) for s in d.get('rich_rules') or []]
    return p

def norm_ipset(type_, options, entries):
    return {'type': str(type_), 'options': plain(options or {}), 'entries': plain(list(entries or []))}

def norm_service(ports, protocols, source_ports, modules, destination, includes, helpers):
    return plain({'ports': ports or [], 'protocols': protocols or [], 'source_ports': source_ports or [], 'modules': modules or [],
                  'destination': destination or {}, 'includes': includes or [], 'helpers': helpers or []})

def referenced(objs, what):
    names = set()
    for o in objs:
        if not o: continue
        for r in o['rules']:
            for side in ('source', 'destination'):
                s = r.get(side)
                if s and s.get('ipset') and what == 'ipset': names.add(s['ipset'])
            e = r.get('element')
            if what == 'service' and e and e.get('kind') == 'service': names.add(e.get('name'))
        if what == 'service': names.update(o['services'])
    return names

def read_tree(root):
    from firewall.core.io.zone import zone_reader
    from firewall.core.io.policy import policy_reader
    from firewall.core.io.ipset import ipset_reader
    c = {'zone': None, 'policy': None, 'ipsets': {}}
    ids = {}
    zdir, pdir, idir = os.path.join(root, 'zones'), os.path.join(root, 'policies'), os.path.join(root, 'ipsets')
    if os.path.isfile(os.path.join(zdir, ZONE + '.xml')):
        c['zone'] = norm_zone(zone_reader(ZONE + '.xml', zdir).export_config_dict())
        ids['zone'] = {'text': open(os.path.join(zdir, ZONE + '.xml'), encoding='utf-8', errors='replace').read(), 'rules': [r['text'] for r in c['zone']['rules']]}
    if os.path.isfile(os.path.join(pdir, POLICY + '.xml')):
        c['policy'] = norm_policy(policy_reader(POLICY + '.xml', pdir).export_config_dict())
        ids['policy'] = {'text': open(os.path.join(pdir, POLICY + '.xml'), encoding='utf-8', errors='replace').read(), 'rules': [r['text'] for r in c['policy']['rules']]}
    if os.path.isdir(idir):
        for f in sorted(os.listdir(idir)):
            if f.endswith('.xml') and (root != ETC or f.startswith(PREFIX)):
                s = ipset_reader(f, idir)
                c['ipsets'][f[:-4]] = norm_ipset(s.type, s.options, s.entries)
    return c, ids

def tree_services(names):
    from firewall.core.io.service import service_reader
    got = {}
    for n in sorted(names):
        got[n] = None
        for d in (os.path.join(ETC, 'services'), '/usr/lib/firewalld/services'):
            if os.path.isfile(os.path.join(d, n + '.xml')):
                s = service_reader(n + '.xml', d)
                got[n] = norm_service(s.ports, s.protocols, s.source_ports, s.modules, s.destination, s.includes, s.helpers)
                break
    return got

def client():
    from firewall.client import FirewallClient
    fw = FirewallClient()
    if not fw.connected: fail('firewalld is not running (no answer on the system D-Bus)')
    return fw

def missing_ok(f):
    try:
        return f()
    except Exception as e:
        if re.search(r'INVALID_(ZONE|POLICY|IPSET|SERVICE)', str(e)): return None
        raise

def protocol_numbers(objs, services):
    # How this host reads each protocol name (firewalld and nft both use
    # getprotobyname: /etc/protocols), so 'ipip' is 94 here as there.
    import socket
    names = set()
    for o in objs:
        if not o: continue
        names.update(o['protocols'])
        for r in o['rules']:
            e = r.get('element')
            if e and e.get('kind') == 'protocol' and e.get('value') is not None: names.add(e['value'])
    for s in services.values():
        if s: names.update(s['protocols'])
    got = {}
    for n in sorted(names):
        try:
            i = int(n)
            got[n] = i if 0 <= i <= 255 else None
        except ValueError:
            try: got[n] = socket.getprotobyname(n)
            except (OSError, socket.error): got[n] = None
    return got

def live():
    fw = client()
    cfg = fw.config()
    rt = {'zone': norm_zone(missing_ok(lambda: fw.getZoneSettings(ZONE).getSettingsDict())),
          'policy': norm_policy(missing_ok(lambda: fw.getPolicySettings(POLICY).getSettingsDict())), 'ipsets': {}}
    pm = {'zone': norm_zone(missing_ok(lambda: cfg.getZoneByName(ZONE).getSettings().getSettingsDict())),
          'policy': norm_policy(missing_ok(lambda: cfg.getPolicyByName(POLICY).getSettings().getSettingsDict())), 'ipsets': {}}
    objs = [rt['zone'], rt['policy'], pm['zone'], pm['policy']]
    names = referenced(objs, 'ipset')
    for n in sorted(names | {x for x in fw.getIPSets() if str(x).startswith(PREFIX)}):
        s = missing_ok(lambda: fw.getIPSetSettings(n))
        if s is not None: rt['ipsets'][n] = norm_ipset(s.getType(), s.getOptions(), s.getEntries())
    for n in sorted(names | {x for x in cfg.getIPSetNames() if str(x).startswith(PREFIX)}):
        s = missing_ok(lambda: cfg.getIPSetByName(n))
        if s is not None:
            s = s.getSettings()
            pm['ipsets'][n] = norm_ipset(s.getType(), s.getOptions(), s.getEntries())
    services = {}
    for n in sorted(referenced(objs, 'service')):
        s = missing_ok(lambda: fw.getServiceSettings(n))
        services[n] = None if s is None else norm_service(s.getPorts(), s.getProtocols(), s.getSourcePorts(), s.getModules(), s.getDestinations(), s.getIncludes(), s.getHelpers())
    disk_error = None
    try:
        disk, ids = read_tree(ETC)
    except Exception as e:
        disk, ids, disk_error = None, {}, '%s: %s' % (type(e).__name__, e)
    return {'defaultZone': str(fw.getDefaultZone()), 'runtime': rt, 'permanent': pm, 'disk': disk, 'diskError': disk_error, 'services': services, 'ids': ids,
            'protocolNumbers': protocol_numbers(objs, services)}

def expected(root):
    c, ids = read_tree(root)
    services = tree_services(referenced([c['zone'], c['policy']], 'service'))
    return {'defaultZone': ZONE, 'runtime': c, 'permanent': c, 'disk': None, 'services': services, 'ids': ids,
            'protocolNumbers': protocol_numbers([c['zone'], c['policy']], services)}

def ours():
    got = {}
    for d in ('zones', 'policies', 'ipsets'):
        p = os.path.join(ETC, d)
        if not os.path.isdir(p): continue
        for f in sorted(os.listdir(p)):
            rel = d + '/' + f
            if OURS.match(rel) and os.path.isfile(os.path.join(ETC, rel)):
                with open(os.path.join(ETC, rel), 'rb') as fh:
                    got[rel] = base64.b64encode(fh.read()).decode('ascii')
    return got

def conf_default_zone():
    # What --set-default-zone writes and the daemon starts with; without
    # the key firewalld falls back to public.
    try:
        with open(os.path.join(ETC, 'firewalld.conf'), encoding='utf-8', errors='replace') as f:
            for line in f:
                line = line.strip()
                if line.startswith('DefaultZone='): return line.split('=', 1)[1].strip() or 'public'
    except FileNotFoundError:
        pass
    return 'public'

def files():
    return {'defaultZone': conf_default_zone(), 'files': ours()}

def write_file(path, data):
    # A temporary name beside it, then rename: the daemon never reads half a file.
    d = os.path.dirname(path)
    os.makedirs(d, mode=0o755, exist_ok=True)
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644
    tmp = os.path.join(d, '.%s.portcullis-%d' % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)

def write():
    req = json.load(sys.stdin)
    had = conf_default_zone()
    # Ours that the new set does not have go.
    req['delete'] = [p for p in ours() if p not in req.get('write', {})]
    for rel in list(req.get('write', {})) + list(req.get('delete', [])):
        if not OURS.match(rel): fail('not a file of portcullis: %r' % rel)
    for rel, b64 in sorted(req.get('write', {}).items()):
        write_file(os.path.join(ETC, rel), base64.b64decode(b64))
    for rel in sorted(req.get('delete', [])):
        path = os.path.join(ETC, rel)
        if os.path.lexists(path): os.unlink(path)
    zone = req.get('defaultZone')
    if zone is not None:
        # The one key of firewalld.conf that is ours; every other byte stays.
        if not re.match(r'^[A-Za-z0-9_+.-]{1,64}$', zone): fail('not a zone name: %r' % zone)
        path = os.path.join(ETC, 'firewalld.conf')
        with open(path, 'rb') as fh: text = fh.read()
        line = b'DefaultZone=' + zone.encode('ascii')
        new, n = re.subn(rb'(?m)^DefaultZone=.*$', line, text, count=1)
        if n == 0: new = text + (b'' if text.endswith(b'\n') or not text else b'\n') + line + b'\n'
        write_file(path, new)
    for d in ('zones', 'policies', 'ipsets'):
        p = os.path.join(ETC, d)
        if os.path.isdir(p):
            fd = os.open(p, os.O_RDONLY)
            try: os.fsync(fd)
            finally: os.close(fd)
    return {'defaultZone': had}

mode = sys.argv[1] if len(sys.argv) > 1 else ''
try:
    if mode == 'live': result = live()
    elif mode == 'expected': result = expected(sys.argv[2])
    elif mode == 'files': result = files()
    elif mode == 'write': result = write()
    else: fail('unknown mode %r' % mode)
except SystemExit:
    raise
except Exception as e:
    fail('%s: %s' % (type(e).__name__, e))
out.write(json.dumps(result))
out.flush()
`;

/** On a real host; never taken from input. */
export const ETC_FIREWALLD = '/etc/firewalld';

/** The names of ours, relative to /etc/firewalld (the AGENT has the same list). */
const OURS = /^(zones\/portcullis\.xml|policies\/portcullis-out\.xml|ipsets\/portcullis-[A-Za-z0-9_.-]+\.xml)$/;
export const ZONE_FILE = `zones/${ZONE_NAME}.xml`;

// ---------------------------------------------------------------- the agent's JSON

interface RichAddr {
  address?: string | null;
  mac?: string | null;
  ipset?: string | null;
  invert: boolean;
}

interface RichJson {
  text: string;
  error?: string;
  family?: string | null;
  priority?: number;
  source?: RichAddr;
  destination?: RichAddr;
  element?: { kind: string; [k: string]: unknown };
  log?: { kind: string; limit: string | null };
  audit?: { limit: string | null };
  action?: { kind: string; limit: string | null };
}

interface ZoneJson {
  target: string;
  short: string;
  services: string[];
  ports: string[][];
  protocols: string[];
  source_ports: string[][];
  icmp_blocks: string[];
  forward_ports: string[][];
  interfaces: string[];
  sources: string[];
  icmp_block_inversion: boolean;
  masquerade: boolean;
  forward: boolean;
  rules: RichJson[];
}

interface PolicyJson {
  target: string;
  short: string;
  priority: number;
  services: string[];
  ports: string[][];
  protocols: string[];
  source_ports: string[][];
  icmp_blocks: string[];
  forward_ports: string[][];
  ingress_zones: string[];
  egress_zones: string[];
  masquerade: boolean;
  rules: RichJson[];
}

interface IpsetJson {
  type: string;
  options: Record<string, string>;
  entries: string[];
}

interface ServiceJson {
  ports: string[][];
  protocols: string[];
  source_ports: string[][];
  modules: string[];
  destination: Record<string, string>;
  includes: string[];
  helpers: string[];
}

interface ConfigJson {
  zone: ZoneJson | null;
  policy: PolicyJson | null;
  ipsets: Record<string, IpsetJson>;
}

interface StateJson {
  defaultZone: string;
  runtime: ConfigJson;
  permanent: ConfigJson;
  /** Our files as they are on disk (live only): null when they cannot be read. */
  disk: ConfigJson | null;
  /** Why firewalld's readers refused our files on disk (live only). */
  diskError?: string | null;
  services: Record<string, ServiceJson | null>;
  /** The zone's and policy's file text and rules in file order, for rule ids. */
  ids: { zone?: { text: string; rules: string[] }; policy?: { text: string; rules: string[] } };
  /** Every protocol name or number the objects and services use -> the IP
   * protocol number this host reads it as (getprotobyname), null when none. */
  protocolNumbers?: Record<string, number | null>;
}

interface SavedData {
  /** Path under /etc/firewalld -> base64 of its bytes. */
  files: Record<string, string>;
  defaultZone: string;
}

/** firewalld's interpreter: the #! line of firewall-cmd (firewalld is
 * Python; its client library is importable by that interpreter only). */
function interpreter(sh: HostShell): string[] {
  const out = runOk(sh, ['sh', '-c', 'f=$(command -v firewall-cmd) || { echo "firewall-cmd is not on PATH" >&2; exit 127; }; head -n 1 "$f"']);
  const m = /^#!\s*(\S.*)$/.exec(out.split('\n')[0].trim());
  if (!m) throw new ToolRejected('firewall-cmd has no #! line naming its Python interpreter');
  return m[1].trim().split(/\s+/);
}

function agent(sh: HostShell, args: string[], input?: string): unknown {
  const argv = [...interpreter(sh), '-c', AGENT, ...args];
  const r = sh.run(argv, input === undefined ? {} : { input });
  if (r.code !== 0) throw new ToolRejected(`firewalld (${args[0]}): ${oneLine((r.stderr || r.stdout).trim().split('\n').slice(-3).join(' '))}`);
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    throw new ToolRejected(`firewalld (${args[0]}) printed no JSON: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- text


/** Rule ids from the XML comments before each group of rules: the first
 * comment after a rule (or at the start) opens a group, and names its rule
 * when it begins "<id>: " or "<id> (anti-lockout|host baseline): ". One
 * entry per <rule> in file order. */
function commentIds(xml: string): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  let current: string | undefined;
  let groupOpen = false;
  for (const m of xml.matchAll(/<!--([\s\S]*?)-->|<rule[\s>/]/g)) {
    if (m[1] !== undefined) {
      const id = /^([A-Za-z0-9_.:-]{1,64})(?: \((?:anti-lockout|host baseline)\))?: /.exec(m[1].trim())?.[1];
      if (id) current = id;
      else if (!groupOpen) current = undefined;
      groupOpen = true;
    } else {
      out.push(current);
      groupOpen = false;
    }
  }
  return out;
}

/** Rule text -> portcullis rule id, from a file's comments; empty when the
 * file's rules and the reader's do not line up (a file firewalld rewrote
 * has no comments). */
function idMap(file: { text: string; rules: string[] } | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (!file) return map;
  const ids = commentIds(file.text);
  if (ids.length !== file.rules.length) return map;
  file.rules.forEach((text, i) => {
    const id = ids[i];
    if (id) map.set(text, id);
  });
  return map;
}

// ---------------------------------------------------------------- flows

const FAMILIES: Family[] = ['ipv4', 'ipv6'];

/** What a rule matches, by transport, in the IR's terms (src/transports.ts):
 * destination ports, ICMP types, or [0-0] for a portless protocol. */
type Ports = Partial<Record<Transport, PortRange[]>>;

/** Every transport, whole: what a rule without a match element, or a
 * target, decides. */
const EVERYTHING: Ports = Object.fromEntries(TRANSPORTS.map((t) => [t, [fullSpace(t)]]));

/** The transports a <port protocol=…> names. */
const PORT_PROTOCOLS = new Set<string>(TRANSPORTS.filter((t) => TRANSPORT_FACTS[t].kind === 'ports'));

/** firewalld icmptype name -> ICMP type number, per ICMP transport: the
 * built-in names that match a whole type (the renderer's; render.ts). A
 * name that matches a type and a code (host-unreachable), or one of the
 * host's own, is narrower than any flow: unmapped. */
const ICMPTYPE_NUMBERS: Record<'icmp' | 'icmpv6', Map<string, number>> = { icmp: new Map(), icmpv6: new Map() };
for (const [family, transport] of [
  ['ipv4', 'icmp'],
  ['ipv6', 'icmpv6'],
] as const)
  for (const [irName, name] of Object.entries(ICMP_TYPES[family])) {
    const n = parseIcmpType(transport, irName);
    if (n === undefined) throw new Error(`internal: firewalld: ICMP type '${irName}' has no number`);
    ICMPTYPE_NUMBERS[transport].set(name, n);
  }

/** An <icmp-type name=…> as ICMP types (either family, as firewalld's
 * icmptype allows); undefined when it is not a whole type. */
function icmptypePorts(name: string): Ports | undefined {
  const out: Ports = {};
  for (const t of ['icmp', 'icmpv6'] as const) {
    const n = ICMPTYPE_NUMBERS[t].get(name);
    if (n !== undefined) out[t] = [{ lo: n, hi: n }];
  }
  return Object.keys(out).length ? out : undefined;
}

class Unmodelled extends Error {}

/** An address or CIDR as firewalld keeps it (host bits allowed: masked). */
function addrRange(text: string): { family: Family; range: AddrRange } {
  const [addr, prefix, extra] = text.trim().split('/');
  const a = extra === undefined ? parseAddress(addr) : undefined;
  if (!a?.ok) throw new Unmodelled();
  const { family, base } = a.cidr;
  const bits = BITS[family];
  const len = prefix === undefined ? bits : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(len >= 0 && len <= bits)) throw new Unmodelled();
  const size = 1n << BigInt(bits - len);
  const lo = base - (base % size);
  return { family, range: { lo, hi: lo + size - 1n } };
}

/** An ipset entry: address, CIDR or "a-b". */
function entryRange(text: string, family: Family): AddrRange {
  const dash = text.indexOf('-');
  if (dash > 0) {
    const lo = addrRange(text.slice(0, dash));
    const hi = addrRange(text.slice(dash + 1));
    if (lo.family !== family || hi.family !== family || lo.range.lo > hi.range.hi) throw new Unmodelled();
    return { lo: lo.range.lo, hi: hi.range.hi };
  }
  const r = addrRange(text);
  if (r.family !== family) throw new Unmodelled();
  return r.range;
}

interface Context {
  ipsets: Record<string, IpsetJson>;
  services: Record<string, ServiceJson | null>;
  /** Protocol name or number -> IP protocol number, as the host reads it. */
  protocols: Record<string, number | null>;
  cache: Map<string, { family: Family; ranges: AddrRange[] }>;
}

function ipsetRanges(ctx: Context, name: string): { family: Family; ranges: AddrRange[] } {
  const hit = ctx.cache.get(name);
  if (hit) return hit;
  const set = ctx.ipsets[name];
  // hash:ip,port and the like match more than an address.
  if (!set || !/^hash:(ip|net)$/.test(set.type)) throw new Unmodelled();
  const family: Family = set.options.family === 'inet6' ? 'ipv6' : 'ipv4';
  const got = { family, ranges: mergeRanges(set.entries.map((e) => entryRange(e, family))) };
  ctx.cache.set(name, got);
  return got;
}

/** What one side of a rule matches: families and their ranges. */
function sideRanges(ctx: Context, side: RichAddr): Partial<Record<Family, AddrRange[]>> {
  let family: Family;
  let ranges: AddrRange[];
  if (side.mac) throw new Unmodelled();
  if (side.ipset) ({ family, ranges } = ipsetRanges(ctx, side.ipset));
  else if (side.address) {
    const r = addrRange(side.address);
    family = r.family;
    ranges = [r.range];
  } else throw new Unmodelled();
  return { [family]: side.invert ? subtractRanges([FULL_RANGE[family]], ranges) : ranges };
}

/** Ports by transport from (port, protocol) pairs (tcp, udp, sctp); other protocols unmodelled. */
function portPairs(pairs: string[][]): Ports {
  const out: Ports = {};
  for (const [port, protocol] of pairs) {
    if (!PORT_PROTOCOLS.has(protocol)) throw new Unmodelled();
    const t = protocol as Transport;
    const p = parsePortSpec(port);
    if (!p) throw new Unmodelled();
    out[t] = mergePorts([...(out[t] ?? []), p]);
  }
  return out;
}

/** A <protocol value=…> (a name as the host's /etc/protocols reads it, or
 * a number) as the IR transport it is, whole; undefined for one the IR
 * does not have (ospf, 94, …). */
function protocolPorts(ctx: Context, value: string): Ports | undefined {
  const n = ctx.protocols[value];
  if (n === undefined || n === null) return undefined;
  const t = TRANSPORTS.find((x) => TRANSPORT_FACTS[x].number === n);
  return t ? { [t]: [fullSpace(t)] } : undefined;
}

/** A service's ports by transport, when ports and protocols are all it has. */
function servicePorts(ctx: Context, name: string): Ports {
  const s = ctx.services[name];
  if (!s || s.source_ports.length || s.modules.length || s.helpers.length || s.includes.length || Object.keys(s.destination).length) throw new Unmodelled();
  const out = portPairs(s.ports);
  for (const p of s.protocols) {
    const whole = protocolPorts(ctx, p);
    if (!whole) throw new Unmodelled();
    Object.assign(out, whole);
  }
  return out;
}

/** One entry of the zone's or policy's chain, before sorting. */
interface Entry {
  /** 0 pre, 1 deny, 2 allow, 3 post, 4 target. */
  rank: number;
  priority: number;
  key: string;
  flows: LiveFlowRule[];
}

interface Reading {
  entries: Entry[];
  other: string[];
  unmapped: string[];
}

function flowsFor(
  direction: Direction,
  families: Family[],
  peers: Partial<Record<Family, AddrRange[]>> | undefined,
  ports: Ports,
  verdict: 'accept' | 'drop',
  origin: string,
  ruleId?: string,
): LiveFlowRule[] {
  const out: LiveFlowRule[] = [];
  for (const family of families) {
    if (peers && !peers[family]) continue;
    const p = peers?.[family] ?? [FULL_RANGE[family]];
    if (!p.length) continue;
    for (const transport of TRANSPORTS) {
      if (!carries(transport, family)) continue;
      const pr = ports[transport];
      if (!pr?.length) continue;
      out.push({ direction, family, transport, ports: pr, peers: p, verdict, ...(ruleId ? { ruleId } : {}), origin });
    }
  }
  return out;
}

type RuleClass = { kind: 'flows'; verdict: 'accept' | 'drop'; flows: LiveFlowRule[] } | { kind: 'other' } | { kind: 'unmapped' };

/** One rich rule of an object whose rules run in `direction` (the peer is
 * the source for ingress, the destination for egress). */
function classifyRule(ctx: Context, r: RichJson, direction: Direction, origin: string, ruleId: string | undefined): RuleClass {
  if (r.error) return { kind: 'unmapped' };
  const element = r.element?.kind;
  const action = r.action?.kind;
  if (!action) {
    // Elements with no verdict of their own: icmp-block drops ICMP (not a
    // TCP/UDP flow), tcp-mss-clamp rewrites; masquerade and forward-port
    // translate addresses, which the flows do not model. Log/audit only: nothing decided.
    return element === 'masquerade' || element === 'forwardport' ? { kind: 'unmapped' } : { kind: 'other' };
  }
  // mark sets a mark and goes on; a limited verdict decides only some packets.
  if (action === 'mark' || r.action?.limit) return { kind: 'unmapped' };
  const verdict = action === 'accept' ? 'accept' : action === 'drop' || action === 'reject' ? 'drop' : undefined;
  if (!verdict) return { kind: 'unmapped' };
  const peerSide = direction === 'ingress' ? r.source : r.destination;
  const hostSide = direction === 'ingress' ? r.destination : r.source;
  try {
    let families: Family[] = r.family === 'ipv4' || r.family === 'ipv6' ? [r.family] : FAMILIES;
    let peers: Partial<Record<Family, AddrRange[]>> | undefined;
    if (peerSide) {
      peers = sideRanges(ctx, peerSide);
      families = families.filter((f) => peers![f]);
    }
    let ports: Ports;
    switch (element) {
      case undefined:
        ports = EVERYTHING;
        break;
      case 'port': {
        const protocol = String(r.element!.protocol);
        // dccp is no IR transport: compared as a line.
        if (!PORT_PROTOCOLS.has(protocol)) return { kind: 'other' };
        ports = portPairs([[String(r.element!.port), protocol]]);
        break;
      }
      case 'protocol': {
        // An IP protocol the IR has not (ospf, 94 "ipip"): compared as a line.
        const whole = protocolPorts(ctx, String(r.element!.value));
        if (!whole) return { kind: 'other' };
        ports = whole;
        break;
      }
      case 'service':
        ports = servicePorts(ctx, String(r.element!.name));
        break;
      case 'icmptype': {
        const types = icmptypePorts(String(r.element!.name));
        if (!types) return { kind: 'unmapped' };
        ports = types;
        break;
      }
      case 'icmpblock':
      case 'tcp_mss_clamp':
        return { kind: 'other' };
      default:
        // source-port, masquerade, forward-port, …
        return { kind: 'unmapped' };
    }
    if (hostSide) {
      // A match on this host's own address: only our baseline's shape (the
      // DHCPv6 reply: accept, udp port, link-local address) is compared as
      // a line; anything else decides traffic the flows cannot show.
      const ours = verdict === 'accept' && !hostSide.invert && !!hostSide.address && element === 'port' && !r.log && !r.audit;
      return ours ? { kind: 'other' } : { kind: 'unmapped' };
    }
    const flows = flowsFor(direction, families, peers, ports, verdict, origin, ruleId);
    return flows.length ? { kind: 'flows', verdict, flows } : { kind: 'other' };
  } catch (e) {
    if (e instanceof Unmodelled) return { kind: 'unmapped' };
    throw e;
  }
}

function rankOf(priority: number, verdict: 'accept' | 'drop'): number {
  if (priority < 0) return 0;
  if (priority > 0) return 3;
  return verdict === 'drop' ? 1 : 2;
}

function readRules(ctx: Context, rules: RichJson[], where: string, direction: Direction | undefined, ids: Map<string, string>, out: Reading): void {
  for (const r of rules) {
    const text = oneLine(r.text);
    const origin = `${where}: ${text}`;
    if (!direction) {
      // A policy of ours that is not HOST -> ANY: its rules decide traffic the reader does not place.
      if (r.action || r.element?.kind === 'masquerade' || r.element?.kind === 'forwardport') out.unmapped.push(origin);
      else out.other.push(origin);
      continue;
    }
    const c = classifyRule(ctx, r, direction, origin, ids.get(r.text));
    if (c.kind === 'flows') out.entries.push({ rank: rankOf(r.priority ?? 0, c.verdict), priority: r.priority ?? 0, key: text, flows: c.flows });
    else if (c.kind === 'other') out.other.push(origin);
    else out.unmapped.push(r.error ? `${origin} (${oneLine(r.error)})` : origin);
  }
}

/** Zone- or policy-level ports, protocols and services: accepts in _allow. */
function readLevel(ctx: Context, o: ZoneJson | PolicyJson, where: string, direction: Direction | undefined, out: Reading): void {
  const add = (what: string, ports: () => Ports) => {
    const origin = `${where}: ${oneLine(what)}`;
    if (!direction) return out.unmapped.push(origin);
    try {
      const flows = flowsFor(direction, FAMILIES, undefined, ports(), 'accept', origin);
      if (flows.length) out.entries.push({ rank: 2, priority: 0, key: origin, flows });
      else out.other.push(origin);
    } catch (e) {
      if (!(e instanceof Unmodelled)) throw e;
      out.unmapped.push(origin);
    }
  };
  for (const [port, protocol] of o.ports) add(`port ${port}/${protocol}`, () => portPairs([[port, protocol]]));
  for (const p of o.protocols) {
    const whole = protocolPorts(ctx, p);
    if (whole) add(`protocol ${p}`, () => whole);
    else out.other.push(`${where}: protocol ${oneLine(p)}`);
  }
  for (const s of o.services) add(`service ${s}`, () => servicePorts(ctx, s));
  for (const [port, protocol] of o.source_ports) out.unmapped.push(`${where}: source-port ${oneLine(`${port}/${protocol}`)}`);
  if (o.masquerade) out.unmapped.push(`${where}: masquerade`);
  for (const f of o.forward_ports) out.unmapped.push(`${where}: forward-port ${oneLine(f.join(' '))}`);
  for (const b of o.icmp_blocks) out.other.push(`${where} icmp-block ${oneLine(b)}`);
}

/** The target's verdict after every rule, as flows: ACCEPT accepts the
 * rest, CONTINUE (policies) decides nothing, anything else drops it. */
function targetEntry(direction: Direction, target: string, where: string): Entry[] {
  if (target === 'CONTINUE') return [];
  const verdict = target === 'ACCEPT' ? 'accept' : 'drop';
  const origin = `${where}: target ${oneLine(target)}`;
  return [{ rank: 4, priority: 0, key: origin, flows: flowsFor(direction, FAMILIES, undefined, EVERYTHING, verdict, origin) }];
}

function ordered(entries: Entry[]): LiveFlowRule[] {
  return [...entries]
    .sort((a, b) => a.rank - b.rank || a.priority - b.priority || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .flatMap((e) => e.flows);
}

function parseState(s: StateJson): LiveRead {
  const rt = s.runtime;
  const ctx: Context = { ipsets: rt.ipsets, services: s.services, protocols: s.protocolNumbers ?? {}, cache: new Map() };
  const other: string[] = [`default zone ${oneLine(s.defaultZone)}`];
  const unmapped: string[] = [];
  const flowRules: LiveFlowRule[] = [];
  const zone = rt.zone;
  if (zone) {
    const where = `zone ${ZONE_NAME}`;
    const reading: Reading = { entries: [], other, unmapped };
    readRules(ctx, zone.rules, where, 'ingress', idMap(s.ids.zone), reading);
    readLevel(ctx, zone, where, 'ingress', reading);
    reading.entries.push(...targetEntry('ingress', zone.target, where));
    flowRules.push(...ordered(reading.entries));
    other.push(`${where} target ${oneLine(zone.target)}`);
    other.push(`${where} icmp-block-inversion ${zone.icmp_block_inversion ? 'yes' : 'no'}`);
    other.push(`${where} forward ${zone.forward ? 'yes' : 'no'}`);
    for (const i of zone.interfaces) other.push(`${where} interface ${oneLine(i)}`);
    for (const x of zone.sources) other.push(`${where} source ${oneLine(x)}`);
  }
  const policy = rt.policy;
  if (policy) {
    const where = `policy ${EGRESS_POLICY_NAME}`;
    const hostOut = policy.ingress_zones.length === 1 && policy.ingress_zones[0] === 'HOST' && policy.egress_zones.length === 1 && policy.egress_zones[0] === 'ANY';
    const direction: Direction | undefined = hostOut ? 'egress' : undefined;
    const reading: Reading = { entries: [], other, unmapped };
    readRules(ctx, policy.rules, where, direction, idMap(s.ids.policy), reading);
    readLevel(ctx, policy, where, direction, reading);
    if (direction) reading.entries.push(...targetEntry(direction, policy.target, where));
    else if (policy.target !== 'CONTINUE') unmapped.push(`${where}: target ${oneLine(policy.target)}`);
    flowRules.push(...ordered(reading.entries));
    other.push(`${where} target ${oneLine(policy.target)}`);
    other.push(`${where} priority ${policy.priority}`);
    for (const z of policy.ingress_zones) other.push(`${where} ingress-zone ${oneLine(z)}`);
    for (const z of policy.egress_zones) other.push(`${where} egress-zone ${oneLine(z)}`);
  }
  for (const [name, set] of Object.entries(rt.ipsets).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!name.startsWith(`${ZONE_NAME}-`)) continue;
    const options = Object.entries(set.options)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    other.push(oneLine(`ipset ${name} type ${set.type}${options ? ` options ${options}` : ''}`));
  }
  // Interim, until audit compares every transport as flows (it takes the
  // list from src/analysis/flows.ts): the rules behind flows of the others
  // are compared as lines too, so a hand-added ESP or ICMP rule is drift,
  // not silence. Nothing is added once that list has them all.
  const unaudited = new Set(flowRules.filter((f) => !AUDITED_TRANSPORTS.includes(f.transport)).map((f) => f.origin));
  for (const origin of unaudited) other.push(`flows audit does not compare yet: ${origin}`);
  const drift = [...configDrift(s.runtime, s.permanent, 'runtime differs from permanent', 'only at runtime', 'only in the permanent configuration')];
  // The files hold our ipsets only; another manager's ipset a rule names is not drift of them.
  const oursOnly = (c: ConfigJson): ConfigJson => ({ ...c, ipsets: Object.fromEntries(Object.entries(c.ipsets).filter(([n]) => n.startsWith(`${ZONE_NAME}-`))) });
  if (s.diskError) drift.push(oneLine(`firewalld cannot read the files of ours in ${ETC_FIREWALLD}: ${s.diskError}`));
  if (s.disk) drift.push(...configDrift(oursOnly(s.disk), oursOnly(s.permanent), 'files differ from what firewalld loaded (edited since the last reload?)', 'only in the files', 'only in the loaded permanent configuration'));
  // Lines compare as multisets; sorted, two reads of the same state are equal.
  return { present: !!zone, flowRules, other: other.sort(), unmapped: unmapped.sort(), drift };
}

// ---------------------------------------------------------------- drift

function listDiff(a: string[], b: string[]): { onlyA: string[]; onlyB: string[] } {
  return { onlyA: multisetMinus(a, b), onlyB: multisetMinus(b, a) };
}

const MAX_LISTED = 5;

/** Differences between two configurations, one line per field. */
function configDrift(a: ConfigJson, b: ConfigJson, title: string, onlyA: string, onlyB: string): string[] {
  const out: string[] = [];
  const lists = (what: string, x: string[], y: string[]) => {
    const d = listDiff(x, y);
    for (const [items, side] of [
      [d.onlyA, onlyA],
      [d.onlyB, onlyB],
    ] as const)
      if (items.length)
        out.push(oneLine(`${title}: ${what} ${side}: ${items.slice(0, MAX_LISTED).join('; ')}${items.length > MAX_LISTED ? ` (+${items.length - MAX_LISTED} more)` : ''}`));
  };
  const objects = (what: string, x: ZoneJson | PolicyJson | null, y: ZoneJson | PolicyJson | null) => {
    if (!x && !y) return;
    if (!x || !y) return out.push(`${title}: ${what} ${x ? onlyA : onlyB}`);
    const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
    for (const k of [...keys].sort()) {
      const vx = (x as unknown as Record<string, unknown>)[k];
      const vy = (y as unknown as Record<string, unknown>)[k];
      if (k === 'rules') lists(`${what} rich rule`, (vx as RichJson[]).map((r) => r.text), (vy as RichJson[]).map((r) => r.text));
      else if (Array.isArray(vx) && Array.isArray(vy)) lists(`${what} ${k}`, vx.map((v) => (Array.isArray(v) ? v.join('/') : String(v))), vy.map((v) => (Array.isArray(v) ? v.join('/') : String(v))));
      else if (JSON.stringify(vx) !== JSON.stringify(vy)) out.push(oneLine(`${title}: ${what} ${k}: ${JSON.stringify(vx)} (${onlyA.replace(/^only /, '')}), ${JSON.stringify(vy)} (${onlyB.replace(/^only /, '')})`));
    }
  };
  objects(`zone ${ZONE_NAME}`, a.zone, b.zone);
  objects(`policy ${EGRESS_POLICY_NAME}`, a.policy, b.policy);
  const names = new Set([...Object.keys(a.ipsets), ...Object.keys(b.ipsets)]);
  for (const n of [...names].sort()) {
    const x = a.ipsets[n];
    const y = b.ipsets[n];
    if (!x || !y) {
      out.push(oneLine(`${title}: ipset ${n} ${x ? onlyA : onlyB}`));
      continue;
    }
    if (x.type !== y.type || JSON.stringify(Object.entries(x.options).sort()) !== JSON.stringify(Object.entries(y.options).sort()))
      out.push(oneLine(`${title}: ipset ${n} type or options: ${x.type} ${JSON.stringify(x.options)}, ${y.type} ${JSON.stringify(y.options)}`));
    lists(`ipset ${n} entry`, x.entries, y.entries);
  }
  return out;
}

// ---------------------------------------------------------------- save / apply / restore

function savedData(saved: SavedState): SavedData {
  const d = saved.data as Partial<SavedData> | null;
  if (saved.target !== 'firewalld' || !d || typeof d.defaultZone !== 'string' || typeof d.files !== 'object' || d.files === null) throw new Error('internal: not a saved firewalld state');
  for (const [p, b64] of Object.entries(d.files)) if (!OURS.test(p) || typeof b64 !== 'string') throw new Error(`internal: a saved firewalld state holds '${p}', not a file of ours`);
  return d as SavedData;
}

/** The tree's files, relative to DIR; refuses anything that is not a name of ours. */
function treeFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (OURS.test(p) && e.isFile()) files[p] = fs.readFileSync(path.join(dir, p)).toString('base64');
      else throw new ToolRejected(`${p} in the compiled tree is not a file portcullis writes to ${ETC_FIREWALLD}`);
    }
  };
  walk('');
  if (!files[ZONE_FILE]) throw new ToolRejected(`the compiled tree has no ${ZONE_FILE}`);
  return files;
}

/** firewall-cmd's exit status when the daemon is not running. */
const FIREWALL_CMD_NOT_RUNNING = 252;

/** Makes our files exactly `files`, and firewalld.conf's DefaultZone
 * `defaultZone` when given; returns the DefaultZone firewalld.conf had. */
function writeOurs(sh: HostShell, files: Record<string, string>, defaultZone?: string): string {
  return (agent(sh, ['write'], JSON.stringify({ write: files, ...(defaultZone === undefined ? {} : { defaultZone }) })) as { defaultZone: string }).defaultZone;
}

const BASE_MARK = '--- portcullis: the host without the tree ---';

/** Two copies of /etc/firewalld without our files, the tree $1 over one of
 * them, each checked by firewall-offline-cmd in a private mount namespace
 * in which the copy is /etc/firewalld, at the same time. Prints the tree's
 * check, then BASE_MARK and the other's; exits with the tree's status. */
const CHECK_SCRIPT = [
  'set -e',
  'tmp=$(mktemp -d)',
  'trap \'rm -rf "$tmp"\' EXIT',
  'mkdir "$tmp/base" "$tmp/tree"',
  'cp -a /etc/firewalld/. "$tmp/base/"',
  'rm -f "$tmp"/base/zones/portcullis.xml "$tmp"/base/policies/portcullis-out.xml "$tmp"/base/ipsets/portcullis-*.xml',
  'cp -a "$tmp/base/." "$tmp/tree/"',
  'cp -r "$1"/. "$tmp/tree/"',
  'chk() { unshare --mount --propagation private sh -c \'mount --bind "$1" /etc/firewalld && exec firewall-offline-cmd --check-config\' sh "$1"; }',
  'chk "$tmp/base" > "$tmp/base.out" 2>&1 &',
  'base=$!',
  'set +e',
  'chk "$tmp/tree" 2>&1',
  'rc=$?',
  'wait $base',
  `printf '%s\\n' '${BASE_MARK}'`,
  'cat "$tmp/base.out"',
  'exit $rc',
].join('\n');

function complaintsOf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /\b(WARNING|ERROR)\b|error:/i.test(l));
}

function check(sh: HostShell, dir: string): void {
  treeFiles(dir);
  const abs = path.resolve(dir);
  const r = sh.run(['sh', '-c', CHECK_SCRIPT, 'sh', abs]);
  const cut = r.stdout.lastIndexOf(BASE_MARK);
  const treeOut = `${cut >= 0 ? r.stdout.slice(0, cut) : r.stdout}\n${r.stderr}`;
  // What the host's other files already warn about is not the tree's fault.
  const known = new Set(cut >= 0 ? complaintsOf(r.stdout.slice(cut + BASE_MARK.length)) : []);
  const complaints = complaintsOf(treeOut).filter((l) => !known.has(l));
  if (r.code !== 0 || complaints.length)
    throw new ToolRejected(
      `\`firewall-offline-cmd --check-config\` on the tree over a copy of ${ETC_FIREWALLD} ${r.code !== 0 ? `failed (exit ${r.code})` : 'warned'}: ${oneLine((complaints.length ? complaints : [treeOut.trim()]).join('; '))}`,
    );
  // An ipset a rule names must exist, or the daemon refuses the zone at load.
  const expected = agent(sh, ['expected', abs]) as StateJson;
  const ipsets = new Set(Object.keys(expected.runtime.ipsets));
  for (const o of [expected.runtime.zone, expected.runtime.policy])
    for (const r of o?.rules ?? [])
      for (const side of [r.source, r.destination])
        if (side?.ipset && !ipsets.has(side.ipset)) throw new ToolRejected(`the tree's rule \`${oneLine(r.text)}\` names ipset ${oneLine(side.ipset)}, which the tree does not have`);
}

function describeSaved(saved: SavedState): string {
  const d = savedData(saved);
  const n = Object.keys(d.files).length;
  if (saved.empty) return `nothing of portcullis (default zone ${oneLine(d.defaultZone)})`;
  return `firewalld zone ${ZONE_NAME} (${n} file${n === 1 ? '' : 's'}, default zone ${oneLine(d.defaultZone)})`;
}

export const firewalldLive: LiveTarget = {
  name: 'firewalld',
  tools: ['firewall-cmd', 'firewall-offline-cmd', 'unshare'],
  files: [ZONE_FILE],

  check,

  save(sh) {
    const d = agent(sh, ['files']) as SavedData;
    return { target: 'firewalld', empty: Object.keys(d.files).length === 0, data: { files: d.files, defaultZone: d.defaultZone } satisfies SavedData };
  },

  apply(sh, dir) {
    const confZone = writeOurs(sh, treeFiles(dir));
    // Fails when the daemon is not running (apply.ts then restores): rules
    // that wait for a confirmation must be live, not only on disk.
    runOk(sh, ['firewall-cmd', '--reload']);
    // Zone portcullis exists once reloaded; the command the docs give a user.
    if (confZone !== ZONE_NAME) runOk(sh, [...SET_DEFAULT_ZONE]);
  },

  restore(sh, saved) {
    const d = savedData(saved);
    // DefaultZone straight into firewalld.conf, read by the reload:
    // `firewall-cmd --set-default-zone` changes nothing when the runtime
    // default already is that zone (ZONE_ALREADY_SET, the file left as it
    // was), which it is once our zone is gone, and firewall-offline-cmd
    // refuses a file that names a zone it no longer has.
    writeOurs(sh, d.files, d.defaultZone);
    // A stopped daemon (firewall-cmd's NOT_RUNNING, exit 252) starts from
    // the files: they are what was saved.
    const r = sh.run(['firewall-cmd', '--reload']);
    if (r.code !== 0 && r.code !== FIREWALL_CMD_NOT_RUNNING) throw new ToolRejected(`\`firewall-cmd --reload\` failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
  },

  stateKey(saved) {
    const d = savedData(saved);
    const files = Object.keys(d.files)
      .sort()
      .map((p) => `${p} ${d.files[p]}`);
    return [`default zone ${d.defaultZone}`, ...files].join('\n');
  },

  describe: describeSaved,

  read(sh) {
    return parseState(agent(sh, ['live']) as StateJson);
  },

  readExpected(sh, dir) {
    const s = agent(sh, ['expected', path.resolve(dir)]) as StateJson;
    const read = parseState(s);
    // The files are the permanent configuration: nothing to drift from.
    return { ...read, drift: [] };
  },
};
