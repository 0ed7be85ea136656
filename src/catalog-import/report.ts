// What `catalog import` prints: diagnostics whose file names, messages,
// hints and quoted source lines come from the document, the base catalog or
// the map file, with control and bidi characters quoted visibly (a cell can
// hold ESC or an OSC sequence, a file name a newline).

import { Diagnostic, errorCount, formatDiagnostics, MAX_PRINTED } from '../diagnostics';

// formatDiagnostic() quotes control and bidi characters itself (file name,
// message, source line with the caret under the quoted text, hint).

/** Errors that stop an import, and the closing count line. */
export function formatImportErrors(ds: Diagnostic[]): string {
  const n = errorCount(ds);
  return `${formatImportDiagnostics(ds).join('\n')}\n${n} error${n === 1 ? '' : 's'}; nothing written.\n`;
}

/** The first MAX_PRINTED diagnostics for the terminal, then a count of the
 * rest (a document of thousands of undecided rows stays readable). */
export function formatImportDiagnostics(ds: Diagnostic[]): string[] {
  return ds.length ? formatDiagnostics(ds, MAX_PRINTED).split('\n') : [];
}
