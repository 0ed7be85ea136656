// The golden files: which profiles, which targets, and where they live.
// fixtures/golden/<environment>/<target>/<file> mirrors `compile --out-dir`,
// so `compile --check --out-dir fixtures/golden --target T` is the same
// comparison. The files of the (profile, target) pairs listed here are
// rewritten ONLY by `npm run golden:update` (test/update-golden.ts) and
// checked by test/golden.test.ts. Other target directories under
// fixtures/golden (e.g. firewalld, owned by its own tests) are left alone
// unless their target is added here.
import * as fs from 'fs';
import * as path from 'path';
import { compile, load } from '../../src/index';
import type { OutputEntry, TargetName } from '../../src/index';
import { ROOT } from './cli';

export const GOLDEN_DIR = path.join(ROOT, 'fixtures', 'golden');

export interface Golden {
  /** Under fixtures/profiles/. */
  profile: string;
  /** Under fixtures/catalogs/; absent: the built-in catalog. */
  catalog?: string;
  targets: TargetName[];
}

/** To cover another target: add it here, run `npm run golden:update`, review the diff. */
export const GOLDEN: Golden[] = (
  [
  { profile: 'example.yaml', targets: ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'] },
  { profile: 'restrict.yaml', targets: ['nftables', 'iptables', 'firewalld'] },
  { profile: 'v6-admins.yaml', targets: ['nftables', 'iptables', 'firewalld'] },
  { profile: 'extra-egress.yaml', targets: ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'] },
  { profile: 'host-options.yaml', targets: ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'] },
  { profile: 'extra-ingress.yaml', targets: ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'] },
  // Every transport (fixtures/catalogs/transports.yaml). A target joins
  // this list once it renders all of them; azure-nsg compiles the profile
  // without the transports NSGs cannot express (transports-azure.yaml).
  // One entry per target, so each target's owner edits only its own line.
  { profile: 'transports.yaml', catalog: 'transports.yaml', targets: ['nftables'] },
  { profile: 'transports.yaml', catalog: 'transports.yaml', targets: ['iptables'] },
  { profile: 'transports.yaml', catalog: 'transports.yaml', targets: ['firewalld'] },
  { profile: 'transports-aws.yaml', catalog: 'transports-aws.yaml', targets: ['terraform-aws'] },
  { profile: 'transports-azure.yaml', catalog: 'transports-azure.yaml', targets: ['azure-nsg'] },
  // Two roles (fixtures/catalogs/roles.yaml): one tree per role, or one
  // combined output for the cloud targets. One entry per target.
  { profile: 'roles.yaml', catalog: 'roles.yaml', targets: ['nftables', 'iptables', 'firewalld'] },
  { profile: 'roles.yaml', catalog: 'roles.yaml', targets: ['terraform-aws'] },
  { profile: 'roles.yaml', catalog: 'roles.yaml', targets: ['azure-nsg'] },
  ] as Golden[]
).filter((g) => g.targets.length > 0);

export function profilePath(name: string): string {
  return path.join(ROOT, 'fixtures', 'profiles', name);
}

/** What the compiler produces now for a golden profile (repo-relative path in diagnostics). */
export function goldenOutputs(g: Golden): { environment: string; files: OutputEntry[] } {
  const rel = path.posix.join('fixtures', 'profiles', g.profile);
  const catalog = g.catalog ? { path: path.posix.join('fixtures', 'catalogs', g.catalog), text: fs.readFileSync(path.join(ROOT, 'fixtures', 'catalogs', g.catalog), 'utf8') } : undefined;
  const r = compile({ profile: { path: rel, text: fs.readFileSync(profilePath(g.profile), 'utf8') }, ...(catalog ? { catalog } : {}), targets: g.targets });
  if (!r.ok) throw new Error(`${rel} does not compile:\n${r.diagnostics.map((d) => `${d.file}:${d.pos?.line}:${d.pos?.col}: ${d.message}`).join('\n')}`);
  return { environment: r.environment, files: r.files };
}

/** Golden outputs of `diff`: fixtures/golden-diff/<name>.{md,json}. */
export const DIFF_GOLDEN_DIR = path.join(ROOT, 'fixtures', 'golden-diff');
export const DIFF_GOLDEN = [{ name: 'admin-added', old: 'example.yaml', new: 'example-plus-admin.yaml' }];

/** What `portcullis diff OLD NEW --format markdown|json` prints now, run from the repository root. */
export function diffOutputs(g: (typeof DIFF_GOLDEN)[number]): Record<'md' | 'json', string> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { diffPolicies, formatDiffMarkdown } = require('../../src/analysis/diff') as typeof import('../../src/analysis/diff');
  const side = (name: string) => {
    const rel = path.posix.join('fixtures', 'profiles', name);
    return load({ profile: { path: rel, text: fs.readFileSync(profilePath(name), 'utf8') } });
  };
  const d = diffPolicies(side(g.old), side(g.new));
  return { md: formatDiffMarkdown(d), json: JSON.stringify(d, null, 2) + '\n' };
}
