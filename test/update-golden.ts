// `npm run golden:update`: rewrites the golden files listed in
// test/helpers/golden.ts from the current compiler. The only way those files
// change; review the resulting `git diff -- fixtures/golden` like any other
// change of policy.
import * as fs from 'fs';
import * as path from 'path';
import { writeOutputs } from '../src/index';
import { DIFF_GOLDEN, DIFF_GOLDEN_DIR, diffOutputs, GOLDEN, GOLDEN_DIR, goldenOutputs } from './helpers/golden';

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function main(): number {
  const owner = new Map<string, string>();
  for (const g of GOLDEN) {
    const { environment, files } = goldenOutputs(g);
    if (owner.has(environment) && owner.get(environment) !== g.profile)
      throw new Error(`golden profiles ${owner.get(environment)} and ${g.profile} share environment '${environment}'`);
    owner.set(environment, g.profile);
    const before = new Map(files.map((f) => [f.path, read(path.join(GOLDEN_DIR, f.path))]));
    // Replaces each <environment>/<target> directory whole (atomically), so
    // files the compiler no longer writes go too. Other targets are untouched.
    writeOutputs(GOLDEN_DIR, files);
    for (const f of files) {
      const old = before.get(f.path);
      const state = old === undefined ? 'created' : old === f.content ? 'unchanged' : 'UPDATED';
      process.stdout.write(`${state.padEnd(9)} fixtures/golden/${f.path}  (fixtures/profiles/${g.profile})\n`);
    }
  }
  for (const env of fs.existsSync(GOLDEN_DIR) ? fs.readdirSync(GOLDEN_DIR).sort() : [])
    if (!owner.has(env)) process.stdout.write(`note      fixtures/golden/${env}/ is not managed here (no profile in test/helpers/golden.ts has this environment)\n`);
  fs.mkdirSync(DIFF_GOLDEN_DIR, { recursive: true });
  for (const g of DIFF_GOLDEN) {
    const outputs = diffOutputs(g);
    for (const ext of ['md', 'json'] as const) {
      const file = path.join(DIFF_GOLDEN_DIR, `${g.name}.${ext}`);
      const old = read(file);
      fs.writeFileSync(file, outputs[ext]);
      const state = old === undefined ? 'created' : old === outputs[ext] ? 'unchanged' : 'UPDATED';
      process.stdout.write(`${state.padEnd(9)} fixtures/golden-diff/${g.name}.${ext}  (diff ${g.old} ${g.new})\n`);
    }
  }
  process.stdout.write('review with: git diff -- fixtures/golden fixtures/golden-diff\n');
  return 0;
}

process.exitCode = main();
