// A small, independent reader of the vendor document's markdown tables (it
// shares no code with the compiler or `catalog import`): every pipe table,
// with the `## ` heading it sits under, the line of its header row, and its
// rows' cells (surrounding whitespace trimmed).

export interface MdTable {
  /** Nearest `## ` heading above the table. */
  heading: string;
  /** 1-based line of the header row. */
  line: number;
  columns: string[];
  rows: { line: number; cells: string[] }[];
}

export function splitRow(line: string): string[] {
  const t = line.trim();
  if (!t.startsWith('|') || !t.endsWith('|')) throw new Error(`not a table row: ${line}`);
  return t.slice(1, -1).split('|').map((c) => c.trim());
}

export function parseMarkdownTables(text: string): MdTable[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const tables: MdTable[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^##\s+(.*?)\s*$/.exec(lines[i]);
    if (h) {
      heading = h[1];
      continue;
    }
    const isRow = (l: string | undefined) => l !== undefined && /^\s*\|.*\|\s*$/.test(l);
    const isSep = (l: string | undefined) => l !== undefined && /^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(l);
    if (isRow(lines[i]) && isSep(lines[i + 1])) {
      const table: MdTable = { heading, line: i + 1, columns: splitRow(lines[i]), rows: [] };
      let j = i + 2;
      for (; isRow(lines[j]); j++) {
        const cells = splitRow(lines[j]);
        if (cells.length !== table.columns.length) throw new Error(`line ${j + 1}: ${cells.length} cells, header has ${table.columns.length}`);
        table.rows.push({ line: j + 1, cells });
      }
      tables.push(table);
      i = j - 1;
    }
  }
  return tables;
}
