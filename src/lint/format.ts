// Lint output: text (the diagnostics format, with the rule id) and SARIF
// 2.1.0 for code scanning. Both are deterministic: same inputs, same bytes.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import type { Finding, LintReport, Location } from './lint';
import { summary } from './lint';
import { RULES } from './rules';
import { terminalJson, visible, visibleLine } from '../terminal';

/** Findings as text for a terminal: input text (file names, cells,
 * services, notes, source lines) with control and bidi characters quoted,
 * each message on its one line. */
export function formatText(report: LintReport): string {
  const out: string[] = [];
  for (const f of report.findings) {
    if (f.suppressed) continue;
    const { file, pos, sourceLine } = f.location;
    out.push(visibleLine(`${file}:${pos.line}:${pos.col}: ${f.level}: ${f.message} [${f.ruleId}]`));
    if (sourceLine !== undefined) {
      const gutter = String(pos.line);
      // Tabs are kept (visible()), so the caret lines up under the quoted text.
      out.push(`  ${gutter} | ${visible(sourceLine)}`);
      out.push(`  ${' '.repeat(gutter.length)} | ${visible(sourceLine.slice(0, pos.col - 1)).replace(/[^\t]/g, ' ')}^`);
    }
    if (f.hint) out.push(visibleLine(`  hint: ${f.hint}`));
  }
  out.push(summary(report.findings));
  return out.join('\n') + '\n';
}

export const SARIF_SCHEMA_URI = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

function toolVersion(): string {
  for (const p of [path.resolve(__dirname, '..', '..', '..', 'package.json'), path.resolve(__dirname, '..', '..', 'package.json')]) {
    try {
      const v = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (v.name === 'portcullis' && v.version) return v.version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

/** A file as a SARIF artifact URI: relative to the working directory (the
 * repository root in CI) with '/' separators; absolute file: URI outside it. */
export function artifactUri(file: string, cwd = process.cwd()): string {
  const abs = path.resolve(cwd, file);
  const rel = path.relative(cwd, abs);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return pathToFileURL(abs).href;
  return rel.split(path.sep).map(encodeURIComponent).join('/');
}

export function toSarif(report: LintReport, cwd = process.cwd()): object {
  const version = toolVersion();
  const artifacts = report.files;
  const physical = (l: Location) => ({
    artifactLocation: { uri: artifactUri(l.file, cwd), index: artifacts.indexOf(l.file) },
    region: {
      startLine: l.pos.line,
      startColumn: l.pos.col,
      ...(l.length ? { endLine: l.pos.line, endColumn: l.pos.col + l.length } : {}),
      ...(l.sourceLine !== undefined ? { snippet: { text: l.sourceLine } } : {}),
    },
  });
  const sentence = (t: string) => (/[.!?)]$/.test(t) ? t : `${t}.`);
  const text = (f: Finding) => (f.hint ? `${sentence(f.message)} Hint: ${sentence(f.hint)}` : sentence(f.message));
  const results = report.findings.map((f) => ({
    ruleId: f.ruleId,
    ruleIndex: RULES.findIndex((r) => r.id === f.ruleId),
    level: f.level,
    message: { text: text(f) },
    locations: [{ physicalLocation: physical(f.location) }],
    ...(f.related.length
      ? { relatedLocations: f.related.map((r, i) => ({ id: i + 1, physicalLocation: physical(r), message: { text: r.message } })) }
      : {}),
    partialFingerprints: { 'portcullisFinding/v1': createHash('sha256').update(`${f.ruleId}\u0000${artifactUri(f.location.file, cwd)}\u0000${f.key}`).digest('hex') },
    ...(f.suppressed ? { suppressions: [{ kind: 'inSource', justification: f.suppressed.reason, location: { physicalLocation: physical(f.suppressed.location) } }] } : {}),
  }));
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'portcullis',
            semanticVersion: version,
            version,
            rules: RULES.map((r) => ({
              id: r.id,
              name: r.name,
              shortDescription: { text: r.short },
              fullDescription: { text: r.full },
              help: { text: r.help },
              defaultConfiguration: { level: r.level },
              properties: {
                tags: r.tags,
                precision: 'high',
                ...(r.securitySeverity ? { 'security-severity': r.securitySeverity } : {}),
              },
            })),
          },
        },
        artifacts: artifacts.map((file) => ({ location: { uri: artifactUri(file, cwd) } })),
        columnKind: 'utf16CodeUnits',
        results,
      },
    ],
  };
}

export function formatSarif(report: LintReport, cwd = process.cwd()): string {
  return terminalJson(toSarif(report, cwd));
}
