import { createHash } from 'node:crypto';
import { dirname, isAbsolute, posix, resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, parseDocument, type Document, type Node } from 'yaml';
import { error, type Diagnostic, type SourcePos } from '../diagnostics.js';
import { printable } from '../printable.js';
import { aliasBomb, decodeManifest, MAX_ALIAS_VALUES } from './limits.js';
import { checkPath } from './paths.js';
import { manifestValidator, type SchemaError } from './schema.js';
import { checkSemantics } from './semantic.js';
import type { Access, ImageFormat, ImageSpec, Manifest, MountSpec, PartitionMethod, QemuBackend, Source } from './types.js';

export interface LoadOptions {
  /** absolute path of the manifest file (positions and relative image paths use it) */
  readonly path: string;
  /** the manifest: its bytes as read (refused unless UTF-8), or its text already decoded */
  readonly text: string | Uint8Array;
  /** the CLI's --allow-writes */
  readonly allowWrites: boolean;
}

export interface LoadResult {
  readonly manifest?: Manifest;
  readonly diagnostics: readonly Diagnostic[];
}

type PathSeg = string | number;

/** Finds where a JSON-pointer-like path sits in the YAML text. */
class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  pos(offset: number): SourcePos {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** Position of the value at `path`, or of its closest existing ancestor. */
  value(path: readonly PathSeg[]): SourcePos {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as Node | undefined;
      if (node && (node as { range?: unknown }).range) return this.pos((node.range as [number, number, number])[0]);
    }
    return { file: this.file, line: 1, col: 1 };
  }

  /** The plain value at `path`, for quoting it back in a message. */
  raw(path: readonly PathSeg[]): unknown {
    return this.doc.getIn(path);
  }

  /** Position of the key `key` in the map at `path` (falls back to the map itself). */
  key(path: readonly PathSeg[], key: string): SourcePos {
    const map = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    if (isMap(map)) {
      for (const item of map.items) {
        if (isPair(item) && isScalar(item.key) && String(item.key.value) === key && item.key.range) {
          return this.pos(item.key.range[0]);
        }
      }
    }
    return this.value(path);
  }
}

function pointerToPath(pointer: string): PathSeg[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describe(path: readonly PathSeg[]): string {
  if (path.length === 0) return 'the manifest';
  return printable(path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join(''));
}

const WHAT_HINT = 'use IMAGE for a whole-image filesystem or IMAGE/partN for partition N (e.g. web01/part1)';

function schemaDiagnostic(e: SchemaError, loc: Locator): Diagnostic {
  const path = pointerToPath(e.instancePath);
  const where = describe(path);
  const last = path[path.length - 1];
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return error('missing-field', `${where} needs the field "${String(p.missingProperty)}"`, loc.value(path));
    case 'additionalProperties': {
      const extra = String(p.additionalProperty);
      const known = Object.keys(((e.parentSchema as { properties?: object } | undefined)?.properties) ?? {});
      return error('unknown-field', `unknown field "${printable(extra)}" in ${where}`, loc.key(path, extra),
        known.length ? `known fields here: ${known.join(', ')}` : undefined);
    }
    case 'propertyNames':
      return error('bad-image-name', `image name "${printable(String(p.propertyName))}" is not allowed`,
        loc.key(path, String(p.propertyName)), 'image names match [a-z][a-z0-9_-]* (lower case, digits, _ and -)');
    case 'enum':
      return error('bad-value', `${where} must be one of: ${(p.allowedValues as unknown[]).join(', ')}`, loc.value(path),
        last === 'format' ? 'the format is never guessed: name the one `qemu-img info IMAGE` reports' : undefined);
    case 'const':
      return error('bad-value', `${where} must be ${JSON.stringify(p.allowedValue)}`, loc.value(path));
    case 'type':
      return error('bad-type', `${where} must be ${String(p.type)}`, loc.value(path));
    case 'minProperties':
      return error('empty', `${where} must list at least one image`, loc.value(path));
    case 'minLength':
      return error('empty', `${where} must not be empty`, loc.value(path));
    case 'uniqueItems':
      return error('duplicate', `${where} lists the same option twice`, loc.value(path));
    case 'pattern': {
      if (last === 'what') return error('bad-what', `${where} "${printable(String(loc.raw(path)))}" is not a valid source`, loc.value(path), WHAT_HINT);
      if (last === 'where') return error('bad-where', `${where} must be an absolute path`, loc.value(path));
      if (path[path.length - 2] === 'options') return error('bad-option', `${where} must be one option without commas, spaces or control characters`,
        loc.value(path), 'write options as a YAML list: options: [nosuid, nodev]');
      return error('bad-value', `${where} has an invalid value`, loc.value(path));
    }
    default:
      return error('schema', `${where} ${e.message ?? 'is invalid'}`, loc.value(path));
  }
}

/** Normalises a mountpoint: absolute, no "." or ".." parts, no trailing slash. */
export function normalizeWhere(where: string): string {
  const n = posix.normalize(where);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function parseWhat(what: string): Source {
  const lv = /^([a-z][a-z0-9_-]*)\/([^/]+)\/([^/]+)$/.exec(what);
  if (lv) return { kind: 'lv', image: lv[1]!, vg: lv[2]!, lv: lv[3]! };
  const m = /^([a-z][a-z0-9_-]*)(?:\/part(\d+))?$/.exec(what);
  if (!m) throw new Error(`unreachable: schema accepted what=${what}`);
  return m[2] ? { kind: 'partition', image: m[1]!, number: Number(m[2]) } : { kind: 'whole', image: m[1]! };
}

/** yaml's own message, reworded where it says little to someone who wrote a manifest */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').replace(/\.$/, '');
  return /Maximum call stack size exceeded/.test(first) ? 'the YAML nests too deeply to read (the parser ran out of stack)' : first;
}

export function loadManifest(opts: LoadOptions): LoadResult {
  const file = opts.path;
  const decoded = decodeManifest(opts.text, file);
  if (decoded.text === undefined) return { diagnostics: decoded.diagnostics };
  const text = decoded.text;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const loc = new Locator(doc, lines, file);
  const diagnostics: Diagnostic[] = [];
  for (const e of doc.errors) {
    const at = e.linePos?.[0] ? { file, line: e.linePos[0].line, col: e.linePos[0].col } : { file, line: 1, col: 1 };
    diagnostics.push(error('yaml', yamlMessage(e.message), at, 'check indentation and quoting; YAML uses spaces, not tabs'));
  }
  if (diagnostics.length) return { diagnostics };

  const bomb = aliasBomb(doc);
  if (bomb) {
    return { diagnostics: [error('yaml-alias-limit',
      `YAML aliases expand the manifest by more than ${MAX_ALIAS_VALUES} values here (at *${bomb.source}): refused as a possible alias bomb`,
      bomb.range ? loc.pos(bomb.range[0]) : { file, line: 1, col: 1 },
      'a manifest needs few aliases: write the values out, or repeat large anchors less')] };
  }
  let data: unknown;
  try {
    // the alias check above is the limit; yaml's own stays as a backstop
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_VALUES }) as unknown;
  } catch (e) {
    return { diagnostics: [error('yaml', yamlMessage((e as Error).message), { file, line: 1, col: 1 }, 'check the anchors (&name) and aliases (*name)')] };
  }
  if (data === null || data === undefined) {
    return { diagnostics: [error('empty', 'the manifest is empty', { file, line: 1, col: 1 },
      'start with "version: 1" and an "images:" map (see examples/)')] };
  }
  const validate = manifestValidator();
  if (!validate(data)) {
    const seen = new Set<string>();
    // an image name that fails propertyNames also yields its inner "pattern" error: keep one
    for (const e of (validate.errors ?? []).filter((x) => x.propertyName === undefined || x.keyword === 'propertyNames')) {
      // "if/then" and composite keywords repeat their children's errors; keep one per place and kind
      const d = schemaDiagnostic(e, loc);
      const key = `${d.at?.line}:${d.at?.col}:${d.code}:${d.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        diagnostics.push(d);
      }
    }
    return { diagnostics: sortDiagnostics(diagnostics) };
  }

  const input = data as {
    images: Record<string, { file: string; format: ImageFormat; access?: Access; partitions?: PartitionMethod; volume_groups?: string[];
      vg_name_clash?: 'refuse' | 'map'; allow_live?: boolean; allow_backing?: string[];
      qemu_backend?: QemuBackend }>;
    mounts?: { what: string; where: string; type?: string; options?: string[]; discard_windows_state?: boolean }[];
  };
  const base = dirname(file);
  const images: ImageSpec[] = Object.entries(input.images).map(([name, img]) => ({
    name,
    file: isAbsolute(img.file) ? posix.normalize(img.file) : resolve(base, img.file),
    format: img.format,
    formatAt: loc.value(['images', name, 'format']),
    access: img.access ?? 'read-only',
    allowLive: img.allow_live === true,
    ...(img.allow_live !== undefined ? { allowLiveAt: loc.value(['images', name, 'allow_live']) } : {}),
    allowBacking: img.allow_backing ?? [],
    ...(img.allow_backing !== undefined ? { allowBackingAt: loc.value(['images', name, 'allow_backing']) } : {}),
    qemuBackend: img.qemu_backend ?? 'auto',
    ...(img.qemu_backend !== undefined ? { qemuBackendAt: loc.value(['images', name, 'qemu_backend']) } : {}),
    at: loc.key(['images'], name),
    fileAt: loc.value(['images', name, 'file']),
    accessAt: img.access ? loc.value(['images', name, 'access']) : loc.key(['images'], name),
    partitions: img.partitions ?? 'auto',
    partitionsAt: img.partitions ? loc.value(['images', name, 'partitions']) : loc.key(['images'], name),
    volumeGroups: img.volume_groups ?? [],
    volumeGroupsAt: (img.volume_groups ?? []).map((_, j) => loc.value(['images', name, 'volume_groups', j])),
    vgNameClash: img.vg_name_clash ?? 'refuse',
  }));
  for (const [name, img] of Object.entries(input.images)) {
    const bad = checkPath(img.file, `images.${name}.file`, loc.value(['images', name, 'file']));
    if (bad) diagnostics.push(bad);
  }
  for (const [i, m] of (input.mounts ?? []).entries()) {
    const bad = checkPath(m.where, `mounts[${i}].where`, loc.value(['mounts', i, 'where']));
    if (bad) diagnostics.push(bad);
  }
  const mounts: MountSpec[] = (input.mounts ?? []).map((m, i) => ({
    source: parseWhat(m.what),
    what: m.what,
    where: normalizeWhere(m.where),
    ...(m.type ? { type: m.type, typeAt: loc.value(['mounts', i, 'type']) } : {}),
    options: m.options ?? [],
    optionsAt: (m.options ?? []).map((_, j) => loc.value(['mounts', i, 'options', j])),
    discardWindowsState: m.discard_windows_state === true,
    ...(m.discard_windows_state !== undefined ? { discardWindowsStateAt: loc.value(['mounts', i, 'discard_windows_state']) } : {}),
    at: loc.value(['mounts', i]),
    whatAt: loc.value(['mounts', i, 'what']),
    whereAt: loc.value(['mounts', i, 'where']),
  }));
  const manifest: Manifest = {
    path: file,
    sha256: createHash('sha256').update(text).digest('hex'),
    images,
    mounts,
  };
  diagnostics.push(...checkSemantics(manifest, { allowWrites: opts.allowWrites }));
  return { manifest, diagnostics: sortDiagnostics(diagnostics) };
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.at?.line ?? 0) - (b.at?.line ?? 0) || (a.at?.col ?? 0) - (b.at?.col ?? 0));
}
