import { escapeChar, hasUnsafe, UNSAFE_CHARS } from '../printable.js';
import { isConcat, isRef, type Arg } from './types.js';

const refText = (r: { ref: string; attr: string }) => (r.attr === 'device' ? `{${r.ref}}` : `{${r.ref}:${r.attr}}`);

const ANSI_C_ESCAPED = new RegExp(`[${UNSAFE_CHARS}\\\\']`, 'g');
const ANSI_C: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1b': '\\e', '\\': '\\\\', '\'': '\\\'' };

/** bash's $'…' form: control characters as escapes, so a name from an image cannot drive the terminal. */
function ansiC(t: string): string {
  return `$'${t.replace(ANSI_C_ESCAPED, (c) => escapeChar(c, ANSI_C))}'`;
}

const quote = (t: string) => (/^[\w@%+=:,./-]+$/.test(t) ? t : hasUnsafe(t) ? ansiC(t) : `'${t.replace(/'/g, `'\\''`)}'`);

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
