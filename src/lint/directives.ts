// Silencing comments, read from the YAML source text by line:
//
//   admins: [0.0.0.0/0]   # portcullis-lint: disable=PC001 reason="lab, no internet route"
//
//   # portcullis-lint: disable=PC005,PC003 reason="example profile"
//   - 198.51.100.0/24
//
// A directive after content applies to the findings on its own line; a
// directive on a comment-only line applies to the next line that has
// content. The reason is required.

export interface Directive {
  /** Line of the comment (1-based) and column of its '#'. */
  line: number;
  col: number;
  /** Line whose findings it silences. */
  target: number;
  ids: string[];
  reason?: string;
  /** Set when the directive is malformed. */
  problem?: string;
  used: Set<string>;
}

/** Column (0-based) of the '#' that starts a YAML comment, or -1. */
export function commentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (quote === '"' && c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if ((c === '"' || c === "'") && (i === 0 || /[\s[{,:-]/.test(line[i - 1]))) quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return i;
  }
  return -1;
}

const MARK = /^#\s*portcullis-lint\s*:\s*(.*)$/;

export function readDirectives(text: string): Directive[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const out: Directive[] = [];
  const pending: Directive[] = [];
  lines.forEach((l, i) => {
    const at = commentStart(l);
    const before = at >= 0 ? l.slice(0, at) : l;
    const hasContent = before.trim() !== '';
    if (hasContent) {
      for (const d of pending.splice(0)) d.target = i + 1;
    }
    if (at < 0) return;
    const m = MARK.exec(l.slice(at));
    if (!m) return;
    const d: Directive = { line: i + 1, col: at + 1, target: i + 1, ids: [], used: new Set() };
    const body = m[1].trim();
    const dm = /^disable\s*=\s*([A-Za-z0-9_,\s]*?)(?:\s+reason\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'))?\s*$/.exec(body);
    if (!dm) d.problem = `cannot read the directive '${body}'; write: portcullis-lint: disable=PC001[,PC003] reason="why"`;
    else {
      d.ids = dm[1]
        .split(',')
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean);
      const reason = (dm[2] ?? dm[3] ?? '').replace(/\\(.)/g, '$1').trim();
      if (reason) d.reason = reason;
      if (!d.ids.length) d.problem = 'the directive names no rule id';
      else if (!d.reason) d.problem = 'the directive gives no reason; add reason="why"';
    }
    out.push(d);
    if (!hasContent) pending.push(d);
  });
  return out;
}
