import { isConcat, isRef, type Arg } from './types.js';

/** An argv as a person reads it in a plan or an error: shell-quoted, refs as {address:attr}. */
const refText = (r: { ref: string; attr: string }) => (r.attr === 'device' ? `{${r.ref}}` : `{${r.ref}:${r.attr}}`);
const quote = (t: string) => (/^[\w@%+=:,./-]+$/.test(t) ? t : `'${t.replace(/'/g, `'\\''`)}'`);

export function argText(a: Arg): string {
  if (isConcat(a)) return quote(a.concat.map((p) => (isRef(p) ? refText(p) : p)).join(''));
  if (isRef(a)) return refText(a);
  return quote(a);
}

export function argvText(argv: readonly Arg[]): string {
  return argv.map(argText).join(' ');
}
