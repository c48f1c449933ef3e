// Plain-text tables for human output (kubectl style: upper-case headers,
// columns separated by two spaces, no borders), and the one place that makes
// text from outside (process names, argv, pod names, API errors) safe to print
// on a terminal.

// What a terminal acts on instead of showing: C0 controls (ESC starts CSI/OSC
// sequences, CR and BS overwrite, BEL rings), DEL, C1 controls (0x9b is a
// one-byte CSI), and the Unicode controls that reorder or break lines.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// JSON.stringify already escapes C0; these are what it leaves raw.
const JSON_RAW_CONTROL = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function hex(code: number, digits: number): string {
  return code.toString(16).padStart(digits, '0');
}

/** `text` with every control character shown as an escape (`\x1b`, `\u202e`): one line, inert on a terminal. */
export function printable(text: string): string {
  return text.replace(CONTROL, (char) => {
    const code = char.charCodeAt(0);
    return code < 0x100 ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
  });
}

/** Pretty JSON that no terminal acts on; JSON.parse of it gives back exactly `value`. */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(JSON_RAW_CONTROL, (char) => `\\u${hex(char.charCodeAt(0), 4)}`);
}

export function formatTable(headers: string[], rows: string[][]): string {
  const cells = rows.map((row) => row.map(printable));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}
