// What `catalog import` prints: diagnostics whose file names, messages,
// hints and quoted source lines come from the document, the base catalog or
// the map file, with control and bidi characters quoted visibly (a cell can
// hold ESC or an OSC sequence, a file name a newline).

import { Diagnostic, errorCount, formatDiagnostic, formatDiagnostics, MAX_PRINTED } from '../diagnostics';
import { visibleLine } from '../terminal';

/** visibleLine(), but tabs kept (the caret display lines them up). */
function visibleKeepingTabs(s: string): string {
  return s.split('\t').map(visibleLine).join('\t');
}

/** formatDiagnostic() with input text made visible; the caret stays under
 * the character it points at, and FILE:LINE:COL keeps the real column. */
export function formatForTerminal(d: Diagnostic): string {
  const shown: Diagnostic = { ...d, file: visibleLine(d.file), message: visibleLine(d.message), hint: d.hint === undefined ? undefined : visibleLine(d.hint) };
  if (!d.pos || d.sourceLine === undefined) return formatDiagnostic(shown);
  const before = visibleKeepingTabs(d.sourceLine.slice(0, d.pos.col - 1));
  const lines = formatDiagnostic({ ...shown, pos: { line: d.pos.line, col: before.length + 1 }, sourceLine: before + visibleKeepingTabs(d.sourceLine.slice(d.pos.col - 1)) }).split('\n');
  lines[0] = `${shown.file}:${d.pos.line}:${d.pos.col}: ${d.level}: ${shown.message}`;
  return lines.join('\n');
}

/** Errors that stop an import, and the closing count line. */
export function formatImportErrors(ds: Diagnostic[]): string {
  const n = errorCount(ds);
  return `${formatImportDiagnostics(ds).join('\n')}\n${n} error${n === 1 ? '' : 's'}; nothing written.\n`;
}

/** The first MAX_PRINTED diagnostics for the terminal, then a count of the
 * rest (a document of thousands of undecided rows stays readable). */
export function formatImportDiagnostics(ds: Diagnostic[]): string[] {
  return ds.length ? formatDiagnostics(ds, MAX_PRINTED, formatForTerminal).split('\n') : [];
}
