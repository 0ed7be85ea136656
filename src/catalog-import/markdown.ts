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
  /** Prose between the heading and the table (what the page says about it). */
  intro: string;
  /** The tab the table sits in (`<TabItem value="Canal">`, mkdocs `=== "Canal"`):
   * tabs are alternatives, of which a reader picks one. */
  tab?: { name: string; ordinal: number; of: number };
}

const DELIMITER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const SETEXT = /^ {0,3}(=+|-+)\s*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** Tabbed alternatives: Docusaurus/MDX `<TabItem value="X" label="Y">`, mkdocs-material `=== "X"`. */
const TAB_OPEN = /^\s*<TabItem\b[^>]*?\b(?:label|value)\s*=\s*["']([^"']{1,80})["']|^\s*<Tab\b[^>]*?\btitle\s*=\s*["']([^"']{1,80})["']|^={3}\+?\s+"([^"]{1,80})"\s*$/;
const TAB_CLOSE = /^\s*<\/(TabItem|Tab)>/;
const TABS_CLOSE = /^\s*<\/Tabs>/;
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
  let intro: string[] = [];
  // Open tab groups: the names of their tabs so far, and the tab we are in.
  type TabGroup = { names: string[]; tables: MdTable[]; mkdocs: boolean };
  let tab: { name: string; group: TabGroup } | undefined;
  let group: TabGroup | undefined;
  const closeGroup = () => {
    if (group) for (const t of group.tables) if (t.tab) t.tab.of = group.names.length;
    group = undefined;
    tab = undefined;
  };
  for (; i < lines.length; i++) {
    const l = lines[i];
    const tabOpen = TAB_OPEN.exec(l);
    if (tabOpen && !fence) {
      group ??= { names: [], tables: [], mkdocs: !!tabOpen[3] };
      tab = { name: tabOpen[1] ?? tabOpen[2] ?? tabOpen[3], group };
      group.names.push(tab.name);
    } else if (TAB_CLOSE.test(l) && !fence) tab = undefined;
    else if (TABS_CLOSE.test(l) && !fence) closeGroup();
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
      intro = [];
      // mkdocs tabs end where the next heading starts.
      if (group?.mkdocs) closeGroup();
      continue;
    }
    // Setext: a paragraph line underlined with === or ---; never a table row.
    if (!wasHidden && !hidden && l.trim() && !l.includes('|') && i + 1 < lines.length && SETEXT.test(lines[i + 1]) && !HEADING.test(l) && !TAB_OPEN.test(l)) {
      heading = headingText(l);
      intro = [];
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
      const table: MdTable = { heading, ordinal, header, rows, intro: intro.join(' ').trim(), ...(isHidden ? { hidden: 'html-comment' as const } : {}) };
      if (tab) {
        table.tab = { name: tab.name, ordinal: tab.group.names.length - 1, of: tab.group.names.length };
        tab.group.tables.push(table);
      }
      tables.push(table);
      hidden = inside;
      i = j - 1;
      continue;
    }
    if (!wasHidden && !hidden && l.trim() && intro.length < 20) intro.push(l.trim());
  }
  closeGroup();
  return tables;
}
