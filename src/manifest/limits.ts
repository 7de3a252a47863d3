import { isAlias, isCollection, isPair, visit, type Alias, type Document } from 'yaml';
import { error, type Diagnostic } from '../diagnostics.js';

/** A manifest lists images and mounts: a few KiB. Anything past this is not one. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** How many values YAML aliases (*name) may add to the document once expanded: refuses "billion laughs". */
export const MAX_ALIAS_VALUES = 10_000;

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) [n, lo, hi] = [2, c === 0xe0 ? 0xa0 : 0x80, c === 0xed ? 0x9f : 0xbf];
    else if (c >= 0xf0 && c <= 0xf4) [n, lo, hi] = [3, c === 0xf0 ? 0x90 : 0x80, c === 0xf4 ? 0x8f : 0xbf];
    else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/**
 * The manifest's text, from its bytes (which must be UTF-8; a byte order mark is kept, YAML
 * skips it) or from text already decoded; refused when larger than MAX_MANIFEST_BYTES.
 */
export function decodeManifest(source: string | Uint8Array, file: string): { text?: string; diagnostics: Diagnostic[] } {
  const size = typeof source === 'string' ? Buffer.byteLength(source, 'utf8') : source.length;
  if (size > MAX_MANIFEST_BYTES) {
    return { diagnostics: [error('manifest-too-large', `the manifest is ${size} bytes; a manifest may be at most ${MAX_MANIFEST_BYTES} bytes (1 MiB)`,
      { file, line: 1, col: 1 }, 'a manifest lists images and mounts, a few KiB: check that this is the right file')] };
  }
  if (typeof source === 'string') return { text: source, diagnostics: [] };
  try {
    return { text: STRICT_UTF8.decode(source), diagnostics: [] };
  } catch {
    const offset = Math.max(0, firstInvalidUtf8(source));
    const before = STRICT_UTF8.decode(source.subarray(0, offset));
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    const bad = source[offset];
    return { diagnostics: [error('not-utf8', `the manifest is not valid UTF-8: byte 0x${(bad ?? 0).toString(16).padStart(2, '0')} at byte offset ${offset}`,
      { file, line, col }, 'save the manifest as UTF-8 (e.g. iconv -f latin1 -t utf-8)')] };
  }
}

/**
 * The alias at which the values that aliases stand for, expanded and counted in document order,
 * pass `limit`; undefined when they stay within it. Linear in the document's size: an anchor's
 * expanded size is counted once.
 */
export function aliasBomb(doc: Document, limit = MAX_ALIAS_VALUES): Alias | undefined {
  // an alias means the last node before it with its anchor (as yaml resolves it), possibly an ancestor
  const anchored = new Map<string, unknown>();
  const target = new Map<Alias, unknown>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) target.set(node, anchored.get(node.source));
      else if (node.anchor) anchored.set(node.anchor, node);
    },
  });
  if (target.size === 0) return undefined;
  const sizes = new Map<unknown, number>();
  const size = (node: unknown): number => {
    if (isAlias(node)) return size(target.get(node));
    if (isPair(node)) return size(node.key) + size(node.value);
    if (!isCollection(node)) return node === null || node === undefined ? 0 : 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    sizes.set(node, 1); // an alias inside its own anchor counts once
    let n = 1;
    for (const item of node.items) n += size(item);
    sizes.set(node, n);
    return n;
  };
  let total = 0;
  for (const [alias, node] of target) {
    total += size(node);
    if (total > limit) return alias;
  }
  return undefined;
}
