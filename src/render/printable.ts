const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1b': '\\e', '\\': '\\\\' };

/**
 * Text from an image (labels, names, QEMU's messages about a header) as it may reach a
 * terminal: control characters (C0, DEL, C1) and the bidirectional overrides that reorder what
 * a person reads are shown as escapes, never interpreted. Backslashes are doubled only where
 * something was escaped, so ordinary paths read as they are.
 */
export function printable(s: string): string {
  const unsafe = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
  if (!unsafe.test(s)) return s;
  return s.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\\]/g, (c) => NAMED[c]
    ?? (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
