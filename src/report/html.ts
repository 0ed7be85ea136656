// The review page as one self-contained HTML file: inline CSS and a small
// script (filter, expand all) admitted by their hashes in a strict CSP, no
// network, no external asset. Every input text goes through esc(); the
// inline JSON escapes '<', '>', '&' and the line separators, so no catalog
// text can end the script element. Works without the script: each cell is
// a <details> element with a title.

import { createHash } from 'crypto';
import { cidrRange, Family, rangesToStrings } from '../addresses';
import type { Loaded } from '../compile';
import type { Change } from '../analysis/diff';
import type { IR } from '../ir/types';
import { formatPortRange } from '../ports';
import type { Cell, Matrix, RoleView } from './matrix';

/** Characters that would hide, reorder or fake text on the page: C0
 * controls but tab and newline, DEL, C1 controls, the bidi embedding,
 * override, isolate and mark characters, the zero-width and other
 * invisible characters (ZWSP, ZWNJ, ZWJ, word joiner, invisible operators,
 * BOM, Hangul fillers, Mongolian vowel separator, interlinear annotation,
 * the tag characters), U+2028 and U+2029. */
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]|[\u{e0000}-\u{e007f}]/gu;

function quoteChar(c: string): string {
  const n = c.codePointAt(0)!;
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : n <= 0xffff ? `\\u${n.toString(16).padStart(4, '0')}` : `\\u{${n.toString(16)}}`;
}

/** `s` as HTML text or a double-quoted attribute value: `&<>"'` as
 * entities, and every INVISIBLE character written visibly as `\xNN`,
 * `\uNNNN` (as the terminal output quotes them), so no input text makes
 * markup, hides text, or reorders what follows it. */
export function esc(s: unknown): string {
  return String(s)
    .replace(INVISIBLE, quoteChar)
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** Longest input text shown where it repeats (a service or heading in every
 * cell of its rule), and anywhere else, in characters. */
export const REPEATED_TEXT_LIMIT = 200;
export const TEXT_LIMIT = 5000;

const clipped = new Map<string, string>();

/** `s` cut to `max` characters (code points), the cut said. Memoised: the
 * same long text is clipped once per cell of its rule. */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const key = `${max}:${s}`;
  let out = clipped.get(key);
  if (out === undefined) {
    const chars = Array.from(s);
    out = chars.length <= max ? s : `${chars.slice(0, max).join('')}… (${chars.length - max} more characters)`;
    if (clipped.size > 10_000) clipped.clear();
    clipped.set(key, out);
  }
  return out;
}

/** Catalog rows, IR rules and refs listed per matrix cell before "+N more". */
export const CELL_LIMIT = 25;

const firstOf = <T>(xs: T[], max: number): { shown: T[]; more: number } => ({ shown: xs.slice(0, max), more: Math.max(0, xs.length - max) });

/** JSON safe inside a <script> element: no '<', '>', '&', U+2028/9 as such. */
export function inlineJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** Addresses listed per group before the list says "and N more". */
export const LIST_LIMIT = 500;
/** Profile lines cited per group in a cell before they are summarised. */
const LINE_LIMIT = 4;

const CSS = `
:root{--add:#d9f7d9;--addb:#1a7f37;--rem:#fde2e1;--remb:#cf222e;--cell:#eef3fb}
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #d0d7de}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f6f8fa;position:sticky;top:0}
td.c{background:var(--cell);min-width:5em}td.e{background:#fff}
td.added{background:var(--add);outline:2px solid var(--addb)}td.removed{background:var(--rem);outline:2px dashed var(--remb)}
td.removed.gone summary{text-decoration:line-through}
td.added.removed{background:linear-gradient(135deg,var(--add) 50%,var(--rem) 50%)}
summary{cursor:pointer}details ul{margin:.2em 0;padding-left:1.2em}
.port{white-space:nowrap;font-family:ui-monospace,monospace}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #d0d7de}
.legend .added{background:var(--add);outline:2px solid var(--addb)}.legend .removed{background:var(--rem);outline:2px dashed var(--remb)}.legend .c{background:var(--cell)}
.on{color:#1a7f37;font-weight:600}.off{color:#6e7781}
pre{max-height:20em;overflow:auto;background:#f6f8fa;padding:.5em}
.note{color:#57606a}.wrap{overflow-x:auto}
#tools{margin:.5em 0}table.changes td{max-width:28em;overflow-wrap:anywhere}td.m{font-family:ui-monospace,monospace}
`;

const JS = `
(function(){
var f=document.getElementById('filter');
if(f){f.hidden=false;f.addEventListener('input',function(){var q=f.value.toLowerCase();
document.querySelectorAll('tr[data-row]').forEach(function(tr){tr.hidden=q!==''&&tr.textContent.toLowerCase().indexOf(q)<0;});});}
var b=document.getElementById('expand');
if(b){b.hidden=false;b.addEventListener('click',function(){var open=b.getAttribute('data-open')!=='1';
document.querySelectorAll('td details').forEach(function(d){d.open=open;});b.setAttribute('data-open',open?'1':'0');b.textContent=open?'Collapse all cells':'Expand all cells';});}
})();
`;

const sha = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export const CSP = `default-src 'none'; style-src ${sha(CSS)}; script-src ${sha(JS)}; img-src data:; base-uri 'none'; form-action 'none'`;

function groupLines(loaded: Loaded, ir: IR, group: string): { lines: string[]; count: number } {
  const members = ir.unions?.[group] ?? [group];
  const entries = members.flatMap((m) => loaded.profile.groups.get(m) ?? []);
  const file = loaded.profile.doc.source.path;
  const lines = entries.map((e) => loaded.profile.doc.pos(e.path).line);
  if (!lines.length) return { lines: [], count: 0 };
  if (lines.length <= LINE_LIMIT) return { lines: lines.map((l) => `${file}:${l}`), count: lines.length };
  return { lines: [`${file}:${Math.min(...lines)}–${Math.max(...lines)}`], count: lines.length };
}

function cellHtml(cell: Cell, m: Matrix, label: string, loaded: Loaded, ir: IR): string {
  const cls = ['c', cell.added ? 'added' : '', cell.removed ? 'removed' : '', cell.removed && !cell.sides.includes('new') ? 'gone' : ''].filter(Boolean).join(' ');
  // A cell's lists are cut at CELL_LIMIT and its texts at
  // REPEATED_TEXT_LIMIT: a rule is in every cell of its ports, so the page
  // stays linear in the catalog whatever its texts and overlaps.
  const rowsShown = firstOf(cell.rows, CELL_LIMIT);
  const more = (n: number, what: string) => (n ? ` (+${n} more ${what})` : '');
  const refs = rowsShown.shown.map((r) => r.ref).join(' ');
  const moreRows = more(rowsShown.more, 'rows');
  const gl = groupLines(loaded, ir, cell.group);
  const mark = cell.added && cell.removed ? ' (changed)' : cell.added ? ' (opened)' : cell.removed ? ' (closed)' : '';
  const short = (t: string) => clip(t, REPEATED_TEXT_LIMIT);
  const title = clip(`${m.direction} ${cell.group} ${label}: ${rowsShown.shown.map((r) => `${r.ref} ${short(r.service)}`).join('; ')}${moreRows}${mark}`, 4 * REPEATED_TEXT_LIMIT);
  const rows =
    rowsShown.shown
      .map((r) => `<li><b>${esc(r.ref)}</b> ${esc(short(r.service))} <span class="note">(${esc(short(r.heading))}${r.row !== undefined ? `, row ${esc(r.row)}` : ''}; rule ${esc(r.ruleId)})</span></li>`)
      .join('') + (rowsShown.more ? `<li class="note">${esc(`and ${rowsShown.more} more rows`)}</li>` : '');
  const profile = gl.count
    ? `<li>profile: ${gl.lines.map((l) => esc(short(l))).join(', ')}${gl.count > LINE_LIMIT ? ` (${esc(gl.count)} entries)` : ''}</li>`
    : `<li class="note">profile: catalog default addresses</li>`;
  const rules = firstOf(cell.rules, CELL_LIMIT);
  return (
    `<td class="${cls}" data-group="${esc(cell.group)}" data-refs="${esc(refs)}"${rowsShown.more ? ` data-more="${rowsShown.more}"` : ''}${cell.added ? ' data-added="1"' : ''}${cell.removed ? ' data-removed="1"' : ''} title="${esc(title)}">` +
    `<details><summary>${esc(refs + moreRows)}${mark ? `<span class="note">${esc(mark)}</span>` : ''}</summary><ul>${rows}${profile}<li class="note">IR: ${rules.shown.map(esc).join(', ')}${esc(more(rules.more, 'rules'))} (${cell.families.map(esc).join(', ')})</li></ul></details></td>`
  );
}

function matrixHtml(m: Matrix, loaded: Loaded, ir: IR, egressAllow: boolean): string {
  const head = m.direction === 'ingress' ? `Ingress to ${m.role}: source groups` : `Egress from ${m.role}: destination groups`;
  const out = [`<h3 id="${esc(`m-${m.role}-${m.direction}`)}">${esc(head)} × ports</h3>`];
  if (m.direction === 'egress' && egressAllow)
    out.push(`<p class="note">egress: allow — all outbound from the nodes is open on every transport; the catalog's egress rows are listed for reference.</p>`);
  if (!m.rows.length) {
    out.push(`<p class="note">no ${esc(m.direction)} rule.</p>`);
    return out.join('\n');
  }
  out.push(
    `<div class="wrap"><table class="matrix" data-role="${esc(m.role)}" data-direction="${esc(m.direction)}"><thead><tr><th>transport</th><th>ports / types</th>${m.groups.map((g) => `<th data-group="${esc(g)}">${esc(g)}</th>`).join('')}</tr></thead><tbody>`,
  );
  for (const r of m.rows) {
    const cells = m.groups.map((g) => {
      const c = r.cells.get(g);
      return c ? cellHtml(c, m, `${r.transport} ${r.label}`.trim(), loaded, ir) : '<td class="e"></td>';
    });
    out.push(`<tr data-row data-transport="${esc(r.transport)}" data-ports="${esc(r.ports.map((p) => formatPortRange(p)).join(','))}"><td>${esc(r.transport)}</td><td class="port">${esc(r.label || '(whole protocol)')}</td>${cells.join('')}</tr>`);
  }
  out.push('</tbody></table></div>');
  return out.join('\n');
}

/** The match with a long port list cut (the whole one is the cell's title). */
function shortMatch(c: Change): string {
  const items = c.ports.length ? c.ports : c.icmp_types ?? [];
  if (items.length <= 12) return c.match;
  return `${c.match.slice(0, c.match.indexOf(' ') + 1)}${items.slice(0, 12).join(', ')} (+${items.length - 12} more)`;
}

function changesHtml(title: string, list: Change[], cls: string): string {
  if (!list.length) return `<p class="note">${esc(title)}: none.</p>`;
  const short = (xs: string[]) => (xs.length > 8 ? `${xs.slice(0, 8).join(', ')} (+${xs.length - 8} more)` : xs.join(', '));
  return (
    `<details${list.length <= 20 ? ' open' : ''}><summary>${esc(list.length)} ${esc(title)}</summary><div class="wrap"><table class="changes ${cls}"><thead><tr><th>${esc(title)}</th><th>match</th><th>sources</th><th>destinations</th><th>catalog rows</th><th>reason</th></tr></thead><tbody>` +
    list
      .map(
        (c) =>
          `<tr class="${cls}"><td>${esc(c.direction)}</td><td class="m" title="${esc(c.match)}">${esc(shortMatch(c))}</td><td>${esc(short(c.sources))}</td><td>${esc(short(c.destinations))}</td><td title="${esc(clip(c.rows.map((r) => `${r.ref} ${clip(r.service, REPEATED_TEXT_LIMIT)}`).join('; '), 4 * REPEATED_TEXT_LIMIT))}">${esc(short(c.rows.map((r) => r.ref)))}</td><td>${esc(clip(c.reason, TEXT_LIMIT))}</td></tr>`,
      )
      .join('') +
    '</tbody></table></div></details>'
  );
}

function addressesHtml(loaded: Loaded, ir: IR): string {
  const out = ['<table class="groups"><thead><tr><th>group</th><th>description</th><th>IPv4</th><th>IPv6</th><th>addresses</th></tr></thead><tbody>'];
  for (const [name, g] of loaded.catalog.groups) {
    const union = loaded.catalog.unions.get(name);
    const fams = (['ipv4', 'ipv6'] as Family[]).map((f) => ir.sets.find((s) => s.name === `${name}_${f === 'ipv4' ? 'v4' : 'v6'}`));
    const cidrs = fams.flatMap((s, i) => (s ? rangesToStrings(s.cidrs.map(cidrRange), i === 0 ? 'ipv4' : 'ipv6') : []));
    const count = (i: number) => (fams[i] ? `${fams[i]!.cidrs.length} CIDR${fams[i]!.cidrs.length === 1 ? '' : 's'}` : '—');
    const gl = groupLines(loaded, ir, name);
    const src = union ? `union of ${union.join(', ')}` : gl.count ? `profile ${gl.lines.join(', ')}${gl.count > LINE_LIMIT ? ` (${gl.count} entries)` : ''}` : fams.some(Boolean) ? 'catalog default' : 'not used';
    const list = cidrs.length
      ? `<details><summary>${esc(cidrs.length)} entr${cidrs.length === 1 ? 'y' : 'ies'} (${esc(src)})</summary><pre>${esc(cidrs.slice(0, LIST_LIMIT).join('\n'))}${cidrs.length > LIST_LIMIT ? esc(`\n… and ${cidrs.length - LIST_LIMIT} more (see the profile)`) : ''}</pre></details>`
      : `<span class="note">${esc(src)}</span>`;
    out.push(`<tr data-group-row="${esc(name)}"><td>${esc(name)}</td><td>${esc(clip(g.description ?? '', TEXT_LIMIT))}</td><td>${esc(count(0))}</td><td>${esc(count(1))}</td><td>${list}</td></tr>`);
  }
  out.push('</tbody></table>');
  return out.join('\n');
}

function featuresHtml(loaded: Loaded, ir: IR): string {
  const file = loaded.profile.doc.source.path;
  const line = (path: string[]) => `${file}:${loaded.profile.doc.pos(path).line}`;
  const feats = [...loaded.catalog.features].map(([name, f]) => {
    const on = ir.features[name] ?? f.default;
    const from = loaded.profile.features.has(name) ? `profile ${line(['features', name])}` : 'catalog default';
    return `<tr data-feature="${esc(name)}" data-on="${on ? '1' : '0'}"><td>${esc(name)}</td><td class="${on ? 'on' : 'off'}">${on ? 'on' : 'off'}</td><td>${esc(from)}</td><td>${esc(clip(f.description ?? '', TEXT_LIMIT))}</td></tr>`;
  });
  const params = [...loaded.catalog.params].map(([name, p]) => {
    const v = ir.params[name] ?? p.default;
    const from = loaded.profile.params.has(name) ? `profile ${line(['params', name])}` : 'catalog default';
    return `<tr data-param="${esc(name)}"><td>${esc(name)}</td><td class="port">${esc(formatPortRange(v))}</td><td>${esc(from)}</td><td>${esc(clip(p.description ?? '', TEXT_LIMIT))}${p.choices ? esc(` (one of ${p.choices.join(', ')})`) : ''}</td></tr>`;
  });
  return (
    `<h2 id="features">Features</h2>${feats.length ? `<table class="features"><thead><tr><th>feature</th><th>state</th><th>set by</th><th>description</th></tr></thead><tbody>${feats.join('')}</tbody></table>` : '<p class="note">the catalog has no feature.</p>'}` +
    `<h2 id="params">Params</h2>${params.length ? `<table class="params"><thead><tr><th>param</th><th>value</th><th>set by</th><th>description</th></tr></thead><tbody>${params.join('')}</tbody></table>` : '<p class="note">the catalog has no param.</p>'}`
  );
}

export interface PageInput {
  loaded: Loaded;
  views: RoleView[];
  /** What --against named, when given. */
  against?: string;
}

export function renderPage({ loaded, views, against }: PageInput): string {
  const ir = loaded.ir;
  const title = `portcullis report: ${ir.environment}`;
  const roles = views.map((v) => v.role);
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1>`);
  body.push(
    `<p>catalog <b>${esc(clip(ir.catalog.title ?? ir.catalog.name, TEXT_LIMIT))}</b>${ir.catalog.document ? ` (${esc(clip(ir.catalog.document, TEXT_LIMIT))})` : ''} · profile <code>${esc(loaded.profile.doc.source.path)}</code> · egress <b>${esc(ir.egress)}</b> · role${roles.length === 1 ? '' : 's'} ${roles.map((r) => `<a href="#role-${esc(r)}">${esc(r)}</a>`).join(', ')}</p>`,
  );
  body.push(
    `<p class="legend"><span class="c">allowed: catalog rows</span>${against ? '<span class="added">opened by this change</span><span class="removed">closed by this change</span>' : ''} Each cell lists the catalog rows that open it; open a cell (or hover) for the services, the IR rules and the profile lines.</p>`,
  );
  if (against) {
    const opened = views.reduce((n, v) => n + (v.diff?.opened.length ?? 0), 0);
    const closed = views.reduce((n, v) => n + (v.diff?.closed.length ?? 0), 0);
    body.push(`<h2 id="changes">Changes against <code>${esc(against)}</code></h2><p id="change-summary">${esc(opened)} flow change${opened === 1 ? '' : 's'} opened, ${esc(closed)} closed.</p>`);
    for (const v of views) {
      if (views.length > 1) body.push(`<h3>${esc(v.role)}</h3>`);
      if (!v.diff) body.push(`<p class="note">the old policy has no role ${esc(v.role)}: every cell is new.</p>`);
      else body.push(changesHtml('opened', v.diff.opened, 'added'), changesHtml('closed', v.diff.closed, 'removed'));
    }
  }
  body.push('<p id="tools"><input id="filter" type="search" placeholder="filter rows (port, group, row ref)" hidden> <button id="expand" type="button" hidden>Expand all cells</button></p>');
  for (const v of views) {
    body.push(`<h2 id="role-${esc(v.role)}" data-role-section="${esc(v.role)}">Role ${esc(v.role)}</h2>`);
    body.push(matrixHtml(v.ingress, loaded, v.ir, false));
    body.push(matrixHtml(v.egress, loaded, v.ir, v.ir.egress === 'allow'));
    if (v.offHost.length)
      body.push(
        `<h3>Off-host rules (neither end a ${esc(v.role)} host; not enforced on the hosts)</h3><ul>${v.offHost
          .map((r) => `<li>${esc(r.id)}: ${esc(r.sourceGroup)} → ${esc(r.destinationGroup)} ${esc(r.transport)} ${esc(r.ports.map((p) => formatPortRange(p)).join(', '))} (${esc(r.provenance.map((p) => p.ref).join(', '))})</li>`)
          .join('')}</ul>`,
      );
  }
  body.push(featuresHtml(loaded, ir));
  body.push(`<h2 id="groups">Groups and addresses</h2>${addressesHtml(loaded, ir)}`);
  const data = {
    environment: ir.environment,
    catalog: ir.catalog.name,
    roles,
    egress: ir.egress,
    against: against ?? null,
    opened: views.reduce((n, v) => n + (v.diff?.opened.length ?? 0), 0),
    closed: views.reduce((n, v) => n + (v.diff?.closed.length ?? 0), 0),
  };
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="generator" content="portcullis">`,
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    `<script type="application/json" id="portcullis-data">${inlineJson(data)}</script>`,
    '</head><body>',
    ...body,
    `<script>${JS}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}
