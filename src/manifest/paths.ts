import { posix } from 'node:path';
import { error, type Diagnostic, type SourcePos } from '../diagnostics.js';
import { printable } from '../printable.js';

/** C0 controls, DEL and C1 controls: never in a path imgplan writes into a unit, a command line or a message. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/gu;

const CONTROL_NAMES: Readonly<Record<string, string>> = { '\n': 'a newline', '\r': 'a carriage return', '\t': 'a tab', '\u001b': 'an escape character' };

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The normal form of `p`: what the hint suggests (for a relative path, leading ".." parts stay). */
function normalForm(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * Checks a path from the manifest: no control characters, and normalised (no "." or ".."
 * components, no empty one from "//", no trailing "/"), as systemd asks of Where=. A relative
 * path (images.*.file) may start with ".." parts: that is its normal form.
 */
export function checkPath(value: string, field: string, at: SourcePos): Diagnostic | undefined {
  const control = [...value.matchAll(CONTROL)][0];
  if (control) {
    const c = control[0];
    return error('path-control-char',
      `${field} "${printable(value)}" contains ${CONTROL_NAMES[c] ?? 'a control character'} (${codePoint(c)}) at character ${control.index + 1}`,
      at, 'paths must not contain control characters (U+0000-U+001F, U+007F-U+009F): look for a stray line break, tab or escape sequence in the quoted string');
  }
  const absolute = value.startsWith('/');
  const names = value === '/' ? [] : (absolute ? value.slice(1) : value).split('/');
  const found = new Set<string>();
  let leading = !absolute;
  names.forEach((name, i) => {
    if (leading && name === '..') return;
    leading = false;
    if (name === '..') found.add('a ".." component');
    else if (name === '.') found.add('a "." component');
    else if (name === '' && i < names.length - 1) found.add('an empty component ("//")');
    else if (name === '') found.add('a trailing "/"');
  });
  if (found.size === 0) return undefined;
  const reasons = [...found];
  const normal = normalForm(value);
  // "/" and "." name no file and no mountpoint imgplan accepts: no suggestion then
  const usable = normal !== '.' && normal !== '/' && normal !== value;
  return error('path-not-normalised',
    `${field} "${value}" is not a normalised path: it has ${reasons.length > 1 ? `${reasons.slice(0, -1).join(', ')} and ${reasons.at(-1)}` : reasons[0]}`,
    at, usable ? `write it as ${normal}` : 'write the path without "." or ".." components, "//" or a trailing "/"');
}
