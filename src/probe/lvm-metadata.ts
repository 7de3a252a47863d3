/**
 * LVM2 physical volumes read from their bytes, without attaching anything: the PV label, the
 * metadata area header, and the volume group's text metadata (the same text `vgcfgbackup`
 * writes). This tells the plan, before any loop device exists, which VG an image holds, its UUID,
 * its other PVs, and where each LV's extents lie; and it is what imgplan maps a guest VG from
 * when its name clashes with a host VG. Pure over a byte reader, like the NTFS reader.
 */
import { crc32 } from 'node:zlib';
import { ascii, bounded, boundedReader, MalformedImageError, u32, u64, type ByteReader } from './bytes.js';

export interface LvmStripe {
  /** the PV's key in the metadata, e.g. "pv0" */
  readonly pv: string;
  /** first physical extent on that PV */
  readonly pe: number;
}

export interface LvmSegment {
  readonly startExtent: number;
  readonly extentCount: number;
  /** "striped" (also plain linear, with one stripe), "thin-pool", "thin", "snapshot", "raid1", … */
  readonly type: string;
  readonly stripeSize?: number;
  readonly stripes: readonly LvmStripe[];
}

export interface LvmLv {
  readonly name: string;
  readonly uuid: string;
  readonly status: readonly string[];
  readonly segments: readonly LvmSegment[];
}

export interface LvmPvMeta {
  readonly key: string;
  readonly uuid: string;
  /** the device the PV was last seen on, inside the guest (e.g. /dev/vda2) */
  readonly device?: string;
  /** in 512-byte sectors */
  readonly peStart: number;
  readonly peCount: number;
  readonly devSize?: number;
}

export interface LvmVg {
  readonly name: string;
  readonly uuid: string;
  readonly seqno: number;
  /** in 512-byte sectors */
  readonly extentSize: number;
  readonly status: readonly string[];
  readonly pvs: readonly LvmPvMeta[];
  readonly lvs: readonly LvmLv[];
}

export interface LvmPv {
  readonly pvUuid: string;
  /** the VG in this PV's metadata area; absent for an orphan PV or one without a metadata area */
  readonly vg?: LvmVg;
  readonly problems: readonly string[];
}

/**
 * Where an LV's bytes lie on this PV (offset from the PV's start), when the LV is one linear
 * segment on it: then a loop at that offset reads the LV without device-mapper.
 */
export function linearLvRange(pv: LvmPv, lv: LvmLv): { readonly offset: number; readonly size: number } | undefined {
  const seg = lv.segments[0];
  const pvMeta = pv.vg?.pvs.find((p) => p.key === seg?.stripes[0]?.pv);
  if (!seg || seg.stripes.length !== 1 || pvMeta?.uuid !== pv.pvUuid) return undefined;
  const es = pv.vg!.extentSize * 512;
  return { offset: pvMeta.peStart * 512 + seg.stripes[0]!.pe * es, size: seg.extentCount * es };
}

class LvmFormatError extends MalformedImageError {}

const LABEL = 'LABELONE';
const LABEL_TYPE = 'LVM2 001';
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
const MDA_HEADER_SIZE = 512;
const SECTOR = 512;

/**
 * LVM's calc_crc(INITIAL_CRC, buf): CRC-32 (polynomial 0xEDB88320, reflected) from LVM's own
 * initial value and without the final inversion; zlib's crc32 inverts before and after.
 */
const INITIAL_CRC = 0xf597a6cf;
export const lvmCrc = (bytes: Uint8Array): number => (crc32(bytes, (INITIAL_CRC ^ 0xffffffff) >>> 0) ^ 0xffffffff) >>> 0;

/** Bounds on what a PV's metadata may say (everything in it comes from the guest image). */
export const LVM_LIMITS = {
  /** the VG metadata text: LVM's default metadata area is 1 MiB, and the text is a few KiB */
  text: 1024 * 1024,
  /** metadata areas in a PV label (LVM writes at most two) */
  mdas: 8,
  /** nesting of sections in the text (LVM's own is 4: VG, logical_volumes, LV, segment) */
  depth: 32,
  pvs: 1024,
  lvs: 4096,
  segments: 1024,
  /** stripes of one segment (LVM's maximum is 128) */
  stripes: 128,
} as const;


/** "Dd7fSkqjhk…" (32 characters, as on disk and in dm UUIDs) → "Dd7fSk-qjhk-…" (as LVM prints it). */
export function formatLvmUuid(raw: string): string {
  return [raw.slice(0, 6), raw.slice(6, 10), raw.slice(10, 14), raw.slice(14, 18), raw.slice(18, 22), raw.slice(22, 26), raw.slice(26, 32)].join('-');
}

// ---- the text format: `key = value`, `section { … }`, values "string", number, [list] ----

export type LvmValue = string | number | readonly (string | number)[] | LvmSection;
export interface LvmSection {
  readonly [key: string]: LvmValue;
}

/** Parses LVM's metadata text (a small config language). Throws LvmFormatError with the line. */
export function parseLvmText(text: string): LvmSection {
  let pos = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new LvmFormatError(`metadata text line ${line}: ${msg}`);
  };
  if (text.length > LVM_LIMITS.text) fail(`the text is ${text.length} characters, more than ${LVM_LIMITS.text}`);
  const skip = () => {
    while (pos < text.length) {
      const c = text[pos]!;
      if (c === '\n') line++;
      if (c === '#') {
        while (pos < text.length && text[pos] !== '\n') pos++;
      } else if (/\s/.test(c) || c === '\0') pos++;
      else break;
    }
  };
  const ident = () => {
    const m = /^[A-Za-z0-9_.+\-/]+/.exec(text.slice(pos, pos + 256));
    if (!m) fail(`expected a name, found "${text.slice(pos, pos + 10)}"`);
    pos += m![0].length;
    return m![0];
  };
  const scalar = (): string | number => {
    if (text[pos] === '"') {
      let s = '';
      for (pos++; pos < text.length && text[pos] !== '"'; pos++) {
        if (text[pos] === '\\') pos++;
        if (text[pos] === '\n') line++;
        s += text[pos];
      }
      if (text[pos] !== '"') fail('unterminated string');
      pos++;
      return s;
    }
    const m = /^-?\d+(\.\d+)?/.exec(text.slice(pos, pos + 32));
    if (!m) fail(`expected a value, found "${text.slice(pos, pos + 10)}"`);
    pos += m![0].length;
    return Number(m![0]);
  };
  const section = (depth: number): LvmSection => {
    const top = depth === 0;
    if (depth > LVM_LIMITS.depth) fail(`sections nested more than ${LVM_LIMITS.depth} deep`);
    // no prototype: a key "__proto__" in the text is just a key
    const out = Object.create(null) as Record<string, LvmValue>;
    for (;;) {
      skip();
      if (pos >= text.length) {
        if (!top) fail('missing "}"');
        return out;
      }
      if (text[pos] === '}') {
        if (top) fail('unexpected "}"');
        pos++;
        return out;
      }
      const key = ident();
      skip();
      if (text[pos] === '{') {
        pos++;
        out[key] = section(depth + 1);
      } else if (text[pos] === '=') {
        pos++;
        skip();
        if (text[pos] === '[') {
          pos++;
          const list: (string | number)[] = [];
          for (;;) {
            skip();
            if (text[pos] === ']') {
              pos++;
              break;
            }
            list.push(scalar());
            skip();
            if (text[pos] === ',') pos++;
          }
          out[key] = list;
        } else out[key] = scalar();
      } else fail(`expected "=" or "{" after ${key}`);
    }
  };
  return section(0);
}

function vgFromText(text: string): LvmVg {
  const top = parseLvmText(text);
  const entry = Object.entries(top).find(([, v]) => typeof v === 'object' && !Array.isArray(v));
  if (!entry) throw new LvmFormatError('metadata text has no volume group section');
  const [name, vgv] = entry as [string, LvmSection];
  const str = (s: LvmSection, k: string) => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
  // every number imgplan uses is a count of sectors or extents: a safe non-negative integer, and
  // small enough that sectors × 512 and extents × extent size stay exact
  const int = (v: unknown, what: string, max = 2 ** 44): number => {
    if (typeof v !== 'number') throw new LvmFormatError(`${name}: ${what} missing`);
    return bounded(v, max, `${name}: ${what}`);
  };
  const num = (s: LvmSection, k: string, max?: number) => int(s[k], k, max);
  const list = (s: LvmSection, k: string) => (Array.isArray(s[k]) ? (s[k] as readonly (string | number)[]) : []);
  const isSection = (v: LvmValue | undefined): v is LvmSection => typeof v === 'object' && !Array.isArray(v);
  const sub = (s: LvmSection, k: string) => (isSection(s[k]) ? (s[k] as LvmSection) : {});
  const sections = (s: LvmSection, what: string, max: number) => {
    const out = Object.entries(s).filter((e): e is [string, LvmSection] => isSection(e[1]));
    if (out.length > max) throw new LvmFormatError(`${name}: ${out.length} ${what}, more than ${max}`);
    return out;
  };
  const extentSize = num(vgv, 'extent_size', 2 ** 32);
  if (!extentSize) throw new LvmFormatError(`${name}: extent_size is 0`);
  const pvs: LvmPvMeta[] = sections(sub(vgv, 'physical_volumes'), 'physical volumes', LVM_LIMITS.pvs).map(([key, p]) => {
    const device = str(p, 'device');
    const devSize = p.dev_size;
    return {
      key, uuid: str(p, 'id') ?? '', ...(device ? { device } : {}), peStart: num(p, 'pe_start'), peCount: num(p, 'pe_count', 2 ** 32),
      ...(typeof devSize === 'number' ? { devSize: int(devSize, 'dev_size') } : {}),
    };
  });
  const lvs: LvmLv[] = sections(sub(vgv, 'logical_volumes'), 'logical volumes', LVM_LIMITS.lvs).map(([lvName, l]) => {
    const segments: LvmSegment[] = sections(l, 'segments of a logical volume', LVM_LIMITS.segments + 8)
      .filter(([k]) => /^segment\d+$/.test(k))
      .map(([, seg]) => {
        const raw = list(seg, 'stripes');
        if (raw.length > 2 * LVM_LIMITS.stripes) throw new LvmFormatError(`${name}/${lvName}: ${raw.length / 2} stripes, more than ${LVM_LIMITS.stripes}`);
        const stripes: LvmStripe[] = [];
        for (let i = 0; i + 1 < raw.length; i += 2) stripes.push({ pv: String(raw[i]), pe: int(raw[i + 1], `${lvName} stripe ${i / 2} extent`, 2 ** 32) });
        const stripeSize = seg.stripe_size;
        const startExtent = num(seg, 'start_extent', 2 ** 32);
        const extentCount = num(seg, 'extent_count', 2 ** 32);
        return {
          startExtent, extentCount, type: str(seg, 'type') ?? 'unknown',
          ...(typeof stripeSize === 'number' ? { stripeSize: int(stripeSize, 'stripe_size', 2 ** 32) } : {}), stripes,
        };
      })
      .sort((a, b) => a.startExtent - b.startExtent);
    if (segments.length > LVM_LIMITS.segments) throw new LvmFormatError(`${name}/${lvName}: ${segments.length} segments, more than ${LVM_LIMITS.segments}`);
    return { name: lvName, uuid: str(l, 'id') ?? '', status: list(l, 'status').map(String), segments };
  });
  // where each stripe ends on its PV, in bytes, must be exact: collect and the dm tables compute it
  const peStarts = new Map(pvs.map((p) => [p.key, p.peStart]));
  for (const lv of lvs) {
    for (const seg of lv.segments) {
      for (const st of seg.stripes) {
        const end = ((peStarts.get(st.pv) ?? 0) + (st.pe + seg.extentCount) * extentSize) * SECTOR;
        if (!Number.isSafeInteger(end)) throw new LvmFormatError(`${name}/${lv.name}: a segment ends at extent ${st.pe + seg.extentCount}, beyond any disk`);
      }
    }
  }
  return { name, uuid: str(vgv, 'id') ?? '', seqno: num(vgv, 'seqno', Number.MAX_SAFE_INTEGER), extentSize, status: list(vgv, 'status').map(String), pvs, lvs };
}

/**
 * Reads a PV: its label (one of the first four sectors), its header, and the VG metadata it carries.
 * Not a PV, or a PV without a metadata area: the result says so in problems. A label or metadata
 * that is damaged or out of bounds, with no good copy of the metadata: a MalformedImageError.
 */
export async function inspectLvmPv(rawRead: ByteReader): Promise<LvmPv> {
  const read = boundedReader(rawRead);
  const head = await read(0, 4 * SECTOR);
  let label = -1;
  for (let s = 0; s < 4; s++) {
    if (head.length >= (s + 1) * SECTOR && ascii(head, s * SECTOR, 8) === LABEL && ascii(head, s * SECTOR + 24, 8) === LABEL_TYPE) {
      label = s * SECTOR;
      break;
    }
  }
  if (label < 0) return { pvUuid: '', problems: ['no LVM2 label in the first four sectors'] };
  // LVM ignores a label whose checksum (of bytes 20..511 of its sector) does not match: so does imgplan
  if (lvmCrc(head.subarray(label + 20, label + SECTOR)) !== u32(head, label + 16)) {
    throw new LvmFormatError('PV label checksum does not match its sector (LVM ignores such a label)', label + 16);
  }
  // the PV header (UUID, device size, then the area lists) lies in the label's sector, after the label header
  const sectorEnd = label + SECTOR;
  const contentOffset = u32(head, label + 20);
  if (contentOffset < 32 || label + contentOffset + 40 > sectorEnd) {
    throw new LvmFormatError(`PV label puts its header at ${contentOffset}, outside its sector`, label + 20);
  }
  const hdr = label + contentOffset;
  const pvUuid = formatLvmUuid(ascii(head, hdr, 32));
  // after the UUID and device size: the data area list, then the metadata area list, each ended by a zero entry
  let p = hdr + 40;
  while (p + 16 <= sectorEnd && (u64(head, p) || u64(head, p + 8))) p += 16;
  p += 16;
  const mdas: { offset: number; size: number }[] = [];
  while (p + 16 <= sectorEnd && (u64(head, p) || u64(head, p + 8))) {
    if (mdas.length >= LVM_LIMITS.mdas) throw new LvmFormatError(`PV label lists more than ${LVM_LIMITS.mdas} metadata areas`, p);
    mdas.push({ offset: u64(head, p), size: u64(head, p + 8) });
    p += 16;
  }
  if (!mdas.length) return { pvUuid, problems: ['this PV has no metadata area (its VG metadata is on another PV)'] };
  const errors: string[] = [];
  let best: LvmVg | undefined;
  for (const mda of mdas) {
    try {
      const vg = await readMda(read, mda.offset, mda.size);
      if (!best || vg.seqno > best.seqno) best = vg;
    } catch (e) {
      if (!(e instanceof MalformedImageError)) throw e;
      errors.push(`metadata area at ${mda.offset}: ${e.message}`);
    }
  }
  if (!best) throw new LvmFormatError(`PV ${pvUuid}: ${errors.join('; ')}`);
  // a damaged copy next to a good one is what LVM repairs itself: the good one stands
  return { pvUuid, vg: best, problems: errors };
}

async function readMda(read: ByteReader, offset: number, size: number): Promise<LvmVg> {
  if (size <= MDA_HEADER_SIZE) throw new LvmFormatError(`metadata area of ${size} bytes has no room for text`);
  const h = await read(offset, MDA_HEADER_SIZE);
  if (h.length < MDA_HEADER_SIZE || ascii(h, 4, 16) !== MDA_MAGIC) throw new LvmFormatError('no metadata area header', offset);
  if (lvmCrc(h.subarray(4)) !== u32(h, 0)) throw new LvmFormatError('metadata area header checksum does not match', offset);
  // raw locations follow the fixed header (checksum, magic, version, start, size); the first is the current text
  const loc = 40;
  const textOffset = u64(h, loc);
  const textSize = u64(h, loc + 8);
  if (!textSize) throw new LvmFormatError('metadata area is empty');
  if (textSize > size - MDA_HEADER_SIZE) throw new LvmFormatError(`metadata text of ${textSize} bytes is larger than its area`, offset + loc + 8);
  if (textSize > LVM_LIMITS.text) throw new LvmFormatError(`metadata text of ${textSize} bytes is larger than ${LVM_LIMITS.text}`, offset + loc + 8);
  if (textOffset < MDA_HEADER_SIZE || textOffset >= size) throw new LvmFormatError(`metadata text at ${textOffset} is outside its area`, offset + loc);
  // the area is a ring after its header: text that runs past the end continues at offset 512
  const first = Math.min(textSize, size - textOffset);
  const a = await read(offset + textOffset, first);
  const b = first < textSize && a.length === first ? await read(offset + MDA_HEADER_SIZE, textSize - first) : new Uint8Array();
  const bytes = new Uint8Array(a.length + b.length);
  bytes.set(a);
  bytes.set(b, a.length);
  // the raw location's checksum covers the text as LVM wrote it, across the ring's wrap: a copy that fails it LVM does not use
  if (bytes.length === textSize && lvmCrc(bytes) !== u32(h, loc + 16)) {
    throw new LvmFormatError('metadata text checksum does not match (LVM does not use this copy)', offset + loc + 16);
  }
  const end = bytes.indexOf(0);
  return vgFromText(new TextDecoder().decode(end >= 0 ? bytes.subarray(0, end) : bytes));
}
