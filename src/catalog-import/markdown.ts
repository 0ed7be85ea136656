// Markdown pipe tables with positions: each table with the heading it sits
// under, the line of its header row, and every cell's text (surrounding
// whitespace trimmed, `\|` unescaped) with its 1-based line and column, so a
// diagnostic can name the cell. YAML front matter and fenced code blocks are
// skipped; ATX and setext headings both count. A table inside an HTML
// comment (or a Liquid `{% comment %}` / MDX `{/* */}` block) is not
// published: it is returned marked `hidden`, so the importer can say it
// skipped it rather than import it or drop it silently.

export interface MdCell {
  text: string;
  line: number;
  /** 1-based column of the cell's first non-blank character (of the cell
   * start when it is empty). */
  col: number;
}

export interface MdRow {
  line: number;
  cells: MdCell[];
}

export interface MdTable {
  /** Nearest heading above the table ('' when none). */
  heading: string;
  /** 0-based index among the tables under the same heading. */
  ordinal: number;
  header: MdRow;
  rows: MdRow[];
  /** Why the page does not show this table, when it does not. */
  hidden?: 'html-comment';
}

const DELIMITER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const SETEXT = /^ {0,3}(=+|-+)\s*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** Openers and closers of text the page does not show. */
const HIDDEN_OPEN = /<!--|\{%-?\s*comment\s*-?%\}|\{\/\*/;
const HIDDEN_CLOSE = /-->|\{%-?\s*endcomment\s*-?%\}|\*\/\}/;

/** A heading's text as the page writes it (the catalog records it, and a
 * --base matches tables by it): only surrounding whitespace is dropped. */
export function headingText(raw: string): string {
  return raw.trim();
}

/** Whether line i closes a hidden block that started earlier (or on it). */
function hiddenState(line: string, inside: boolean): { inside: boolean; touched: boolean } {
  // Scans openers and closers left to right: `a <!-- b --> c <!-- d` ends inside.
  let rest = line;
  let touched = inside;
  for (;;) {
    const re = inside ? HIDDEN_CLOSE : HIDDEN_OPEN;
    const m = re.exec(rest);
    if (!m) return { inside, touched };
    touched = true;
    inside = !inside;
    rest = rest.slice(m.index + m[0].length);
  }
}

export function splitCells(text: string, line: number): MdCell[] {
  let i = 0;
  while (i < text.length && /\s/.test(text[i])) i++;
  if (text[i] === '|') i++;
  const cells: MdCell[] = [];
  let start = i;
  let raw = '';
  const push = () => {
    const lead = raw.length - raw.trimStart().length;
    cells.push({ text: raw.trim().replace(/\\\|/g, '|'), line, col: start + (raw.trim() ? lead : 0) + 1 });
  };
  for (; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === '|') {
      raw += '\\|';
      i++;
      continue;
    }
    if (text[i] === '|') {
      push();
      start = i + 1;
      raw = '';
      continue;
    }
    raw += text[i];
  }
  // A trailing pipe closes the last cell; text after the last pipe is a cell.
  if (raw.trim()) push();
  return cells;
}

export function parseTables(text: string): MdTable[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const tables: MdTable[] = [];
  const perHeading = new Map<string, number>();
  let heading = '';
  let i = 0;
  if (lines[0] === '---') {
    const end = lines.indexOf('---', 1);
    if (end > 0) i = end + 1;
  }
  let fence: string | undefined;
  let hidden = false;
  for (; i < lines.length; i++) {
    const l = lines[i];
    const f = FENCE.exec(l);
    if (fence) {
      if (f && f[1][0] === fence[0] && f[1].length >= fence.length) fence = undefined;
      continue;
    }
    if (f && !hidden) {
      fence = f[1];
      continue;
    }
    const wasHidden = hidden;
    const state = hiddenState(l, hidden);
    hidden = state.inside;
    const h = HEADING.exec(l);
    if (h && !wasHidden && !hidden) {
      heading = headingText(h[2]);
      continue;
    }
    // Setext: a paragraph line underlined with === or ---; never a table row.
    if (!wasHidden && !hidden && l.trim() && !l.includes('|') && i + 1 < lines.length && SETEXT.test(lines[i + 1]) && !HEADING.test(l)) {
      heading = headingText(l);
      i++;
      continue;
    }
    if (l.includes('|') && i + 1 < lines.length && DELIMITER.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      const header = { line: i + 1, cells: splitCells(l, i + 1) };
      const rows: MdRow[] = [];
      let inside = hidden;
      let j = i + 2;
      for (; j < lines.length && lines[j].trim() !== '' && lines[j].includes('|') && !HEADING.test(lines[j]); j++) {
        rows.push({ line: j + 1, cells: splitCells(lines[j], j + 1) });
        inside = hiddenState(lines[j], inside).inside;
      }
      // Hidden if it starts inside a comment, or a comment opens on its header.
      const isHidden = wasHidden || state.touched;
      const ordinal = perHeading.get(heading) ?? 0;
      if (!isHidden) perHeading.set(heading, ordinal + 1);
      tables.push({ heading, ordinal, header, rows, ...(isHidden ? { hidden: 'html-comment' as const } : {}) });
      hidden = inside;
      i = j - 1;
    }
  }
  return tables;
}
