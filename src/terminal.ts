// Text from input that is shown on a terminal (diagnostics, diff, explain,
// lint): control characters are quoted visibly, so a catalog or profile can
// never move the cursor, set a window title (OSC), hide text, or reorder it
// with bidi overrides.

/** C0 controls except tab and newline, DEL, C1 controls, and the bidi
 * embedding, override and isolate marks. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

// eslint-disable-next-line no-control-regex
const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

function quote(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every unsafe character written as `\xNN` or `\uNNNN`; tabs
 * and newlines are kept. */
export function visible(text: string): string {
  return text.replace(UNSAFE, quote);
}

/** Like visible(), for text that must stay on one line: newlines, tabs and
 * line/paragraph separators are quoted too. */
export function visibleLine(text: string): string {
  return text.replace(UNSAFE_LINE, quote);
}

// eslint-disable-next-line no-control-regex
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

/** `value` as JSON (2-space indent, newline-terminated) that is safe on a
 * terminal: JSON.stringify escapes C0 controls; DEL, C1, bidi marks and
 * line separators are written as \uXXXX escapes too. Parses to the same value. */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}
