// The report of `portcullis test`: text for a terminal, JUnit XML for CI
// test reports (one testsuite, one testcase per expectation).
//
// Input text (names, addresses as written, catalog rows, file names) is
// hostile: on the terminal every line goes through visibleLine; in XML it
// is escaped, control and bidi characters are quoted as \xNN / \uNNNN
// first (XML 1.0 cannot carry most C0 controls even as references), and
// it never ends a CDATA section because none is used.

import { Explanation, formatExplanation } from '../analysis/explain';
import { visible, visibleLine } from '../terminal';
import type { ExpectationResult, Finding } from './run';
import { describePorts } from './ports';

/** Catalog rows shown in full per rule; the rest by their references. */
const MAX_ROWS = 6;

function shortened(e: Explanation): Explanation {
  return { ...e, rules: e.rules.map((r) => ({ ...r, rows: r.rows.slice(0, MAX_ROWS) })) };
}

function portsText(f: Finding): string {
  return describePorts(f.transport, f.ports);
}

/** The lines that say why an expectation failed (no trailing newline). */
export function failureLines(r: ExpectationResult): string[] {
  const x = r.expectation;
  if (r.vacuous) return [`${x.at}: ${r.vacuous}`];
  const lines: string[] = [];
  for (const f of r.findings) {
    const what = f.problem === 'allowed' ? 'allowed' : 'not allowed';
    const exp = x.kind !== 'only' ? '' : f.problem === 'allowed' ? ' (not in only)' : ' (listed in only)';
    lines.push(`${x.at}: ${what}${exp}: ${portsText(f)} from ${f.sources.join(', ')} to ${f.destinations.join(', ')}`);
    lines.push(`  e.g. ${f.example.from} -> ${f.example.to} ${f.example.port}:`);
    for (const { role, explanation } of f.example.explanations) {
      if (role) lines.push(`    decided by role ${role}:`);
      for (const l of formatExplanation(shortened(explanation)).trimEnd().split('\n')) lines.push(`    ${role ? '  ' : ''}${l}`);
      const extra = explanation.rules.filter((ru) => ru.rows.length > MAX_ROWS);
      for (const ru of extra) lines.push(`    ${role ? '  ' : ''}  rule ${ru.id}: also ${ru.rows.slice(MAX_ROWS).map((row) => row.ref).join(', ')}`);
    }
  }
  if (r.more) lines.push(`  … and ${r.more} more`);
  return lines;
}

/** One line: what failed, for the JUnit message attribute. */
export function failureSummary(r: ExpectationResult): string {
  if (r.vacuous) return r.vacuous;
  const parts = r.findings.slice(0, 3).map((f) => `${f.problem === 'allowed' ? 'allowed' : 'not allowed'}: ${portsText(f)} from ${f.sources.join(', ')} to ${f.destinations.join(', ')}`);
  const n = r.findings.length + (r.more ?? 0);
  return parts.join('; ') + (n > 3 ? `; … ${n - 3} more` : '');
}

export function formatText(results: ExpectationResult[], file: string): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`${r.ok ? 'PASS' : 'FAIL'} ${r.expectation.at}: ${r.expectation.name}`);
    if (!r.ok) for (const l of failureLines(r)) out.push(`  ${l}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  out.push(`${file}: ${results.length} expectation${results.length === 1 ? '' : 's'}, ${results.length - failed} passed, ${failed} failed`);
  return out.map(visibleLine).join('\n') + '\n';
}

// ------------------------------------------------------------------ XML

// Characters XML 1.0 cannot carry (most C0 controls, U+FFFE/FFFF, lone
// surrogates), and those quoted for the terminal anyway (DEL, C1, bidi).
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function quoteUnsafe(text: string, oneLine: boolean): string {
  const t = oneLine ? visibleLine(text) : visible(text);
  return t.replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Text content: `& < >` escaped (so `]]>` is `]]&gt;`). */
export function xmlText(text: string): string {
  return quoteUnsafe(text, false).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An attribute value in double quotes, on one line. */
export function xmlAttr(text: string): string {
  return quoteUnsafe(text, true).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** JUnit XML (the Jenkins/Surefire form): one testsuite named after the
 * file, one testcase per expectation (classname: the file), a failure
 * element with a one-line message and the full explanation as its text. */
export function formatJunit(results: ExpectationResult[], file: string, environment: string): string {
  const failed = results.filter((r) => !r.ok).length;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="${xmlAttr(`portcullis test ${file}`)}" tests="${results.length}" failures="${failed}" errors="0" skipped="0">`,
    '  <properties>',
    `    <property name="environment" value="${xmlAttr(environment)}"/>`,
    '  </properties>',
  ];
  for (const r of results) {
    const x = r.expectation;
    const open = `  <testcase name="${xmlAttr(`${x.name} (line ${x.line})`)}" classname="${xmlAttr(file)}"`;
    if (r.ok) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    lines.push(`    <failure type="portcullis.expectation" message="${xmlAttr(failureSummary(r))}">${xmlText(failureLines(r).join('\n'))}</failure>`);
    lines.push('  </testcase>');
  }
  lines.push('</testsuite>', '');
  return lines.join('\n');
}

