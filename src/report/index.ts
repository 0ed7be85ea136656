// `portcullis report`: the review page, one self-contained HTML file of who
// reaches what (./matrix builds it from the IR and the flow model; ./html
// writes it), with `--against OLD` the flows a change opens and closes.

import type { Loaded } from '../compile';
import { renderPage } from './html';
import { buildViews } from './matrix';

export { buildViews } from './matrix';
export type { Matrix, MatrixRow, Cell, RoleView } from './matrix';
export { renderPage, esc, inlineJson, CSP } from './html';

/** The page for a loaded policy, compared with `old` when given. */
export function reportHtml(loaded: Loaded, old?: { loaded: Loaded; name: string }): string {
  return renderPage({ loaded, views: buildViews(loaded, old?.loaded), against: old?.name });
}

export interface ReportCommandArgs {
  profile: string;
  catalog?: string;
  against?: string;
  o?: string;
}

/** report -o: all or nothing (src/atomic-file.ts); a failure is exit 2. */
function writeAtomic(file: string, text: string): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { writeFileAtomic } = require('../atomic-file') as typeof import('../atomic-file');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { InputError } = require('../sources') as typeof import('../sources');
  try {
    writeFileAtomic(file, text, 'the report');
  } catch (e) {
    throw new InputError((e as Error).message);
  }
}

/** The CLI command: exit 0 written, 2 bad input (diagnostics on stderr,
 * nothing written). */
export function reportCommand(args: ReportCommandArgs): number {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { readCatalogSpec, readSpec } = require('../sources') as typeof import('../sources');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { load } = require('../compile') as typeof import('../compile');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { CompileError, errorCount, formatDiagnostics } = require('../diagnostics') as typeof import('../diagnostics');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { visibleLine } = require('../terminal') as typeof import('../terminal');
  const profile = readSpec(args.profile);
  const catalogSpec = args.catalog;
  const sides: (Loaded | undefined)[] = [];
  const specs: [string, string | undefined][] = [['profile', args.profile], ['against', args.against]];
  for (const [which, spec] of specs) {
    if (spec === undefined) continue;
    const input = which === 'profile' ? profile : readSpec(spec);
    const catalog = catalogSpec ? readCatalogSpec(catalogSpec, true) : undefined;
    try {
      sides.push(load({ profile: input, catalog }));
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      if (args.against !== undefined) process.stderr.write(`error in the ${which === 'profile' ? 'new' : 'old'} side (${visibleLine(spec)}):\n`);
      process.stderr.write(formatDiagnostics(e.diagnostics) + '\n');
      const n = errorCount(e.diagnostics);
      process.stderr.write(`${n} error${n === 1 ? '' : 's'}; nothing written.\n`);
      return 2;
    }
  }
  const html = reportHtml(sides[0]!, args.against !== undefined ? { loaded: sides[1]!, name: args.against } : undefined);
  if (args.o !== undefined && args.o !== '-') writeAtomic(args.o, html);
  else process.stdout.write(html);
  return 0;
}
