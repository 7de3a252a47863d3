/**
 * LVM2 physical volumes read from their bytes, without attaching anything: the PV label, the
 * metadata area header, and the volume group's text metadata (the same text `vgcfgbackup`
 * writes). This tells the plan, before any loop device exists, which VG an image holds, its UUID,
 * its other PVs, and where each LV's extents lie; and it is what imgplan maps a guest VG from
 * when its name clashes with a host VG. Pure over a byte reader, like the NTFS reader.
 */
import { ascii, DiskFormatError, u32, u64, type ByteReader } from './bytes.js';

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

class LvmFormatError extends DiskFormatError {}

const LABEL = 'LABELONE';
const LABEL_TYPE = 'LVM2 001';
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
const MDA_HEADER_SIZE = 512;


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
  const section = (top: boolean): LvmSection => {
    const out: Record<string, LvmValue> = {};
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
        out[key] = section(false);
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
  return section(true);
}

function vgFromText(text: string): LvmVg {
  const top = parseLvmText(text);
  const entry = Object.entries(top).find(([, v]) => typeof v === 'object' && !Array.isArray(v));
  if (!entry) throw new LvmFormatError('metadata text has no volume group section');
  const [name, vgv] = entry as [string, LvmSection];
  const str = (s: LvmSection, k: string) => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
  const num = (s: LvmSection, k: string) => {
    const v = s[k];
    if (typeof v !== 'number') throw new LvmFormatError(`${name}: ${k} missing`);
    return v;
  };
  const list = (s: LvmSection, k: string) => (Array.isArray(s[k]) ? (s[k] as readonly (string | number)[]) : []);
  const sub = (s: LvmSection, k: string) => (typeof s[k] === 'object' && !Array.isArray(s[k]) ? (s[k] as LvmSection) : {});
  const pvs: LvmPvMeta[] = Object.entries(sub(vgv, 'physical_volumes')).map(([key, v]) => {
    const p = v as LvmSection;
    const device = str(p, 'device');
    const devSize = p.dev_size;
    return {
      key, uuid: str(p, 'id') ?? '', ...(device ? { device } : {}), peStart: num(p, 'pe_start'), peCount: num(p, 'pe_count'),
      ...(typeof devSize === 'number' ? { devSize } : {}),
    };
  });
  const lvs: LvmLv[] = Object.entries(sub(vgv, 'logical_volumes')).map(([lvName, v]) => {
    const l = v as LvmSection;
    const segments: LvmSegment[] = Object.entries(l)
      .filter(([k, s]) => /^segment\d+$/.test(k) && typeof s === 'object' && !Array.isArray(s))
      .map(([, s]) => {
        const seg = s as LvmSection;
        const raw = list(seg, 'stripes');
        const stripes: LvmStripe[] = [];
        for (let i = 0; i + 1 < raw.length; i += 2) stripes.push({ pv: String(raw[i]), pe: Number(raw[i + 1]) });
        const stripeSize = seg.stripe_size;
        return {
          startExtent: num(seg, 'start_extent'), extentCount: num(seg, 'extent_count'), type: str(seg, 'type') ?? 'unknown',
          ...(typeof stripeSize === 'number' ? { stripeSize } : {}), stripes,
        };
      })
      .sort((a, b) => a.startExtent - b.startExtent);
    return { name: lvName, uuid: str(l, 'id') ?? '', status: list(l, 'status').map(String), segments };
  });
  return { name, uuid: str(vgv, 'id') ?? '', seqno: num(vgv, 'seqno'), extentSize: num(vgv, 'extent_size'), status: list(vgv, 'status').map(String), pvs, lvs };
}

/** Reads a PV: its label (one of the first four sectors), its header, and the VG metadata it carries. */
export async function inspectLvmPv(read: ByteReader): Promise<LvmPv> {
  const head = await read(0, 4 * 512);
  let label = -1;
  for (let s = 0; s < 4; s++) {
    if (head.length >= (s + 1) * 512 && ascii(head, s * 512, 8) === LABEL && ascii(head, s * 512 + 24, 8) === LABEL_TYPE) {
      label = s * 512;
      break;
    }
  }
  if (label < 0) return { pvUuid: '', problems: ['no LVM2 label in the first four sectors'] };
  const hdr = label + u32(head, label + 20);
  const pvUuid = formatLvmUuid(ascii(head, hdr, 32));
  const problems: string[] = [];
  try {
    // after the UUID and device size: the data area list, then the metadata area list, each ended by a zero entry
    let p = hdr + 40;
    while (p + 16 <= head.length && (u64(head, p) || u64(head, p + 8))) p += 16;
    p += 16;
    const mdas: { offset: number; size: number }[] = [];
    while (p + 16 <= head.length && (u64(head, p) || u64(head, p + 8))) {
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
        if (!(e instanceof DiskFormatError)) throw e;
        errors.push(`metadata area at ${mda.offset}: ${e.message}`);
      }
    }
    if (best) return { pvUuid, vg: best, problems };
    problems.push(...errors);
  } catch (e) {
    if (!(e instanceof DiskFormatError)) throw e;
    problems.push(e.message);
  }
  return { pvUuid, problems };
}

async function readMda(read: ByteReader, offset: number, size: number): Promise<LvmVg> {
  const h = await read(offset, MDA_HEADER_SIZE);
  if (h.length < MDA_HEADER_SIZE || ascii(h, 4, 16) !== MDA_MAGIC) throw new LvmFormatError('no metadata area header');
  // raw locations follow the fixed header (checksum, magic, version, start, size); the first is the current text
  const loc = 40;
  const textOffset = u64(h, loc);
  const textSize = u64(h, loc + 8);
  if (!textSize) throw new LvmFormatError('metadata area is empty');
  if (textSize > size) throw new LvmFormatError('metadata text larger than its area');
  // the area is a ring after its header: text that runs past the end continues at offset 512
  const first = Math.min(textSize, size - textOffset);
  const a = await read(offset + textOffset, first);
  const b = first < textSize ? await read(offset + MDA_HEADER_SIZE, textSize - first) : new Uint8Array();
  const bytes = new Uint8Array(a.length + b.length);
  bytes.set(a);
  bytes.set(b, a.length);
  const end = bytes.indexOf(0);
  return vgFromText(new TextDecoder().decode(end >= 0 ? bytes.subarray(0, end) : bytes));
}
