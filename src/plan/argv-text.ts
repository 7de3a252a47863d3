import { isConcat, isRef, type Arg } from './types.js';

const refText = (r: { ref: string; attr: string }) => (r.attr === 'device' ? `{${r.ref}}` : `{${r.ref}:${r.attr}}`);

// what a terminal would act on: C0, DEL, C1, and the bidirectional overrides
const CONTROL = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;
const ANSI_C: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1b': '\\e', '\\': '\\\\', '\'': '\\\'' };

/** bash's $'…' form: control characters as escapes, so a name from an image cannot drive the terminal. */
function ansiC(t: string): string {
  return `$'${t.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\\']/g, (c) => ANSI_C[c]
    ?? (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}'`;
}

const quote = (t: string) => (/^[\w@%+=:,./-]+$/.test(t) ? t : CONTROL.test(t) ? ansiC(t) : `'${t.replace(/'/g, `'\\''`)}'`);

/** One argument as a person reads it in a plan or an error: shell-quoted, a ref as {address:attr}. */
export function argText(a: Arg): string {
  if (isConcat(a)) return quote(a.concat.map((p) => (isRef(p) ? refText(p) : p)).join(''));
  if (isRef(a)) return refText(a);
  return quote(a);
}

/** An argv as a person reads it, and could paste into bash. */
export function argvText(argv: readonly Arg[]): string {
  return argv.map(argText).join(' ');
}
