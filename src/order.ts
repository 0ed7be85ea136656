// Output order must not depend on the machine: String.prototype.localeCompare
// follows the ICU data Node was built with (and costs a collator at start-up).
// Code-unit order is the same everywhere.

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
