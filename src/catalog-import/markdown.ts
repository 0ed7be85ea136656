// Markdown pipe tables with positions: each table with the heading it sits
// under, the line of its header row, and every cell's text (surrounding
// whitespace trimmed, `\|` unescaped) with its 1-based line and column, so a
// diagnostic can name the cell. YAML front matter and fenced code blocks are
// skipped.

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
}

const DELIMITER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

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
  for (; i < lines.length; i++) {
    const l = lines[i];
    const f = FENCE.exec(l);
    if (fence) {
      if (f && f[1][0] === fence[0] && f[1].length >= fence.length) fence = undefined;
      continue;
    }
    if (f) {
      fence = f[1];
      continue;
    }
    const h = HEADING.exec(l);
    if (h) {
      heading = h[2];
      continue;
    }
    if (l.includes('|') && i + 1 < lines.length && DELIMITER.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      const header = { line: i + 1, cells: splitCells(l, i + 1) };
      const rows: MdRow[] = [];
      let j = i + 2;
      for (; j < lines.length && lines[j].trim() !== '' && lines[j].includes('|') && !HEADING.test(lines[j]); j++)
        rows.push({ line: j + 1, cells: splitCells(lines[j], j + 1) });
      const ordinal = perHeading.get(heading) ?? 0;
      perHeading.set(heading, ordinal + 1);
      tables.push({ heading, ordinal, header, rows });
      i = j - 1;
    }
  }
  return tables;
}
