/** What a terminal would act on: C0 controls, DEL, C1 controls, and the bidirectional overrides. */
export const UNSAFE_CHARS = '\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069';
const UNSAFE = new RegExp(`[${UNSAFE_CHARS}]`);
const UNSAFE_OR_BACKSLASH = new RegExp(`[${UNSAFE_CHARS}\\\\]`, 'g');

const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1b': '\\e', '\\': '\\\\' };

/** One unsafe character as an escape: from the table, else \xHH or \uHHHH. */
export function escapeChar(c: string, table: Readonly<Record<string, string>> = NAMED): string {
  return table[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Whether the text holds a character a terminal would act on. */
export const hasUnsafe = (s: string) => UNSAFE.test(s);

/**
 * Text from an image (labels, names, QEMU's messages about a header) as it may reach a
 * terminal: control characters (C0, DEL, C1) and the bidirectional overrides that reorder what
 * a person reads are shown as escapes, never interpreted. Backslashes are doubled only where
 * something was escaped, so ordinary paths read as they are.
 */
export function printable(s: string): string {
  if (!UNSAFE.test(s)) return s;
  return s.replace(UNSAFE_OR_BACKSLASH, (c) => escapeChar(c));
}
