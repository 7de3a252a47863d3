/**
 * What Windows left behind on an NTFS volume, read from its bytes without mounting it: the
 * $Volume dirty flag, the state of the $LogFile restart area, and whether \hiberfil.sys holds a
 * hibernation image (Windows hibernation or Fast Startup). These are the checks ntfs-3g makes
 * before a read-write mount ("The disk contains an unclean file system", "Metadata kept in Windows
 * cache", "Windows is hibernated"); imgplan makes them at plan time so that the plan can say so.
 *
 * Pure over a byte reader: the caller supplies reads of the volume (an image file at an offset,
 * through the Runner), tests supply a Buffer. Structures: boot sector, MFT records with update
 * sequence fixups, attribute headers, runlists, index B+trees. Anything unexpected yields
 * "unknown" with the reason, never a guess.
 */

import { ascii, bounded, boundedReader, i8, MalformedImageError, u16, u32, u64, type ByteReader } from './bytes.js';

export type { ByteReader };

export type LogFileState =
  /** restart area says clean, or no client was in use */
  | 'clean'
  /** all 0xFF: reset by ntfs-3g or chkdsk, nothing to replay */
  | 'empty'
  /** a log client was in use and the clean flag is not set: Windows did not shut down cleanly */
  | 'unclean'
  /** restart page version 2.0: Windows 8+ kept metadata cached (Fast Startup or hibernation) */
  | 'windows-cached'
  | 'unknown';

export type HibernationState = 'none' | 'hibernated' | 'unknown';

export interface NtfsHealth {
  /** NTFS version from $Volume, e.g. "3.1" */
  readonly version?: string;
  readonly label?: string;
  /** $Volume's VOLUME_IS_DIRTY flag: Windows marks a volume dirty while mounted, and for chkdsk */
  readonly dirty: boolean | 'unknown';
  readonly logFile: LogFileState;
  readonly hibernation: HibernationState;
  /** size of \hiberfil.sys in bytes, when it exists */
  readonly hiberfileSize?: number;
  /** why a state is unknown */
  readonly problems: readonly string[];
}

/** Whether Windows left the volume in a state that a read-write mount would have to discard. */
export function ntfsNeedsWindows(h: NtfsHealth): { unclean: boolean; hibernated: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (h.hibernation === 'hibernated') reasons.push('Windows is hibernated on it (\\hiberfil.sys holds a hibernation image: hibernation or Fast Startup)');
  if (h.logFile === 'windows-cached') reasons.push('Windows kept its metadata cached (NTFS log version 2.0: Fast Startup or hibernation)');
  if (h.logFile === 'unclean') reasons.push('it was not shut down cleanly (the NTFS journal $LogFile has changes not yet applied)');
  if (h.dirty === true) reasons.push('it is marked dirty (Windows wants chkdsk to run on it)');
  return {
    unclean: h.logFile === 'unclean' || h.logFile === 'windows-cached' || h.dirty === true,
    hibernated: h.hibernation === 'hibernated',
    reasons,
  };
}

/** The state ntfsNeedsWindows judges, in one word (inspect's report): the strongest reason first. */
export function ntfsStateName(h: NtfsHealth): 'hibernated' | 'fast-startup' | 'unclean' | 'unknown' | 'clean' {
  if (h.hibernation === 'hibernated') return 'hibernated';
  if (h.logFile === 'windows-cached') return 'fast-startup';
  if (h.logFile === 'unclean') return 'unclean';
  if (h.hibernation === 'unknown' || h.logFile === 'unknown') return 'unknown';
  return 'clean';
}

const MFT_RECORD = { mft: 0, logFile: 2, volume: 3, root: 5 } as const;
const ATTR = {
  attributeList: 0x20, fileName: 0x30, volumeName: 0x60, volumeInformation: 0x70, data: 0x80, indexRoot: 0x90, indexAllocation: 0xa0,
  end: 0xffffffff,
} as const;
const VOLUME_IS_DIRTY = 0x0001;
const RESTART_VOLUME_IS_CLEAN = 0x0002;
const LOGFILE_NO_CLIENT = 0xffff;
/** ntfs-3g reads this much of hiberfil.sys (NTFS_HIBERFILE_HEADER_SIZE) */
const HIBERFILE_HEADER = 4096;
/** bounds so that a corrupt volume cannot make the probe read without end */
const MAX_INDEX_BLOCKS = 256;
const MAX_ATTRIBUTES = 64;
/** Windows' largest cluster (format /A:2M) */
const MAX_CLUSTER = 2 * 1024 * 1024;
/** MFT records, index blocks and $LogFile pages: powers of two in this range (ntfs-3g accepts no other) */
const MIN_BLOCK = 512;
const MAX_BLOCK = 64 * 1024;
/** cluster numbers and counts of a runlist: NTFS uses 64 bits, no real volume comes near 2^48 clusters */
const MAX_CLUSTERS = 2 ** 48;

class NtfsFormatError extends MalformedImageError {}

const isPow2 = (n: number) => Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/** A record, index block or log page size: a power of two from 512 bytes to 64 KiB. */
function blockSize(n: number, what: string, offset?: number): number {
  if (!isPow2(n) || n < MIN_BLOCK || n > MAX_BLOCK) {
    const shown = n > 2 ** 32 && Number.isInteger(Math.log2(n)) ? `2^${Math.log2(n)}` : String(n);
    throw new NtfsFormatError(`implausible ${what} of ${shown} bytes`, offset);
  }
  return n;
}

interface Geometry {
  readonly clusterSize: number;
  readonly recordSize: number;
  readonly indexBlockSize: number;
  readonly mftOffset: number;
}

interface Run {
  readonly vcn: number;
  /** null: a sparse run (reads as zeros) */
  readonly lcn: number | null;
  readonly length: number;
}

interface Attribute {
  readonly type: number;
  readonly name: string;
  readonly resident: boolean;
  /** resident: the value */
  readonly value?: Uint8Array;
  /** non-resident: the runlist and sizes */
  readonly runs?: readonly Run[];
  readonly dataSize: number;
  readonly initializedSize: number;
}

function utf16(b: Uint8Array, o: number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) s += String.fromCharCode(u16(b, o + 2 * i));
  return s;
}

function geometry(boot: Uint8Array): Geometry {
  if (boot.length < 512 || ascii(boot, 3, 8) !== 'NTFS    ') throw new NtfsFormatError('no NTFS boot sector');
  const bytesPerSector = u16(boot, 0x0b);
  const spc = boot[0x0d]!;
  // values above 0x80 encode a power of two (clusters larger than 64 KiB)
  const sectorsPerCluster = spc > 0x80 ? 2 ** (256 - spc) : spc;
  const clusterSize = bytesPerSector * sectorsPerCluster;
  if (!isPow2(bytesPerSector) || bytesPerSector < 256 || bytesPerSector > 4096 || !isPow2(sectorsPerCluster) || clusterSize > MAX_CLUSTER) {
    throw new NtfsFormatError(`implausible geometry: ${bytesPerSector} bytes per sector, ${spc} sectors per cluster`, 0x0b);
  }
  // negative: 2^-n bytes, positive: n clusters
  const size = (o: number, what: string) => {
    const v = i8(boot, o);
    return blockSize(v < 0 ? 2 ** -v : v * clusterSize, what, o);
  };
  const mftOffset = u64(boot, 0x30) * clusterSize;
  if (!Number.isSafeInteger(mftOffset)) throw new NtfsFormatError(`$MFT cluster ${u64(boot, 0x30)} is beyond any volume`, 0x30);
  return {
    clusterSize,
    recordSize: size(0x40, 'MFT record size'),
    indexBlockSize: size(0x44, 'index block size'),
    mftOffset,
  };
}

/** Where an NTFS boot sector puts the $MFT, in bytes from the volume's start; undefined if it is no NTFS boot sector. */
export function ntfsMftOffset(boot: Uint8Array): number | undefined {
  try {
    return geometry(boot).mftOffset;
  } catch (e) {
    if (e instanceof MalformedImageError) return undefined;
    throw e;
  }
}

/** Applies the update sequence array: the last two bytes of every 512-byte stride were swapped out on write. */
function fixup(rec: Uint8Array, magic: string): Uint8Array {
  if (ascii(rec, 0, 4) !== magic) throw new NtfsFormatError(`record signature is "${ascii(rec, 0, 4).replace(/[^\x20-\x7e]/g, '?')}", not ${magic}`);
  const out = Uint8Array.from(rec);
  const usaOfs = u16(rec, 4);
  const usaCount = u16(rec, 6);
  if (usaCount < 2 || (usaCount - 1) * 512 > rec.length || usaOfs + usaCount * 2 > rec.length) throw new NtfsFormatError(
    `${magic} record has an implausible update sequence (${usaCount} at ${usaOfs})`,
  );
  const usn = u16(rec, usaOfs);
  for (let i = 1; i < usaCount; i++) {
    const end = i * 512 - 2;
    if (u16(rec, end) !== usn) throw new NtfsFormatError(`${magic} record is torn (update sequence mismatch in stride ${i})`);
    out[end] = rec[usaOfs + 2 * i]!;
    out[end + 1] = rec[usaOfs + 2 * i + 1]!;
  }
  return out;
}

function decodeRunlist(b: Uint8Array, start: number, end: number): Run[] {
  const runs: Run[] = [];
  let pos = start;
  let vcn = 0;
  let lcn = 0;
  while (pos < end && b[pos] !== 0) {
    const header = b[pos]!;
    const lenSize = header & 0x0f;
    const ofsSize = header >> 4;
    if (!lenSize || lenSize > 8 || ofsSize > 8 || pos + 1 + lenSize + ofsSize > end) throw new NtfsFormatError('corrupt runlist', pos);
    let length = 0;
    for (let i = lenSize - 1; i >= 0; i--) length = length * 256 + b[pos + 1 + i]!;
    if (!length || length > MAX_CLUSTERS || vcn + length > MAX_CLUSTERS) throw new NtfsFormatError(`runlist has a run of ${length} clusters`, pos);
    if (ofsSize === 0) {
      runs.push({ vcn, lcn: null, length });
    } else {
      let delta = 0;
      for (let i = ofsSize - 1; i >= 0; i--) delta = delta * 256 + b[pos + 1 + lenSize + i]!;
      // sign-extend the little-endian delta
      if (b[pos + lenSize + ofsSize]! & 0x80) delta -= 2 ** (8 * ofsSize);
      lcn += delta;
      if (lcn < 0 || lcn + length > MAX_CLUSTERS) throw new NtfsFormatError(`runlist points to cluster ${lcn}, outside any volume`, pos);
      runs.push({ vcn, lcn, length });
    }
    vcn += length;
    pos += 1 + lenSize + ofsSize;
  }
  return runs;
}

function attributes(rec: Uint8Array): Attribute[] {
  const out: Attribute[] = [];
  let pos = u16(rec, 0x14);
  const used = Math.min(u32(rec, 0x18), rec.length);
  for (let n = 0; n < MAX_ATTRIBUTES && pos + 8 <= used; n++) {
    const type = u32(rec, pos);
    if (type === ATTR.end) return out;
    const length = u32(rec, pos + 4);
    const resident = rec[pos + 8] === 0;
    // the header reaches 0x18 bytes into a resident attribute, 0x40 into a non-resident one
    if (length < (resident ? 0x18 : 0x40) || pos + length > used) throw new NtfsFormatError(`corrupt attribute at ${pos}`, pos);
    const nameLength = rec[pos + 9]!;
    const nameOffset = u16(rec, pos + 10);
    if (nameLength && nameOffset + 2 * nameLength > length) throw new NtfsFormatError(`attribute name outside its attribute at ${pos}`, pos);
    const name = utf16(rec, pos + nameOffset, nameLength);
    if (resident) {
      const valueLength = u32(rec, pos + 0x10);
      const valueOffset = u16(rec, pos + 0x14);
      if (valueOffset + valueLength > length) throw new NtfsFormatError(`corrupt resident attribute at ${pos}`, pos);
      const value = rec.subarray(pos + valueOffset, pos + valueOffset + valueLength);
      out.push({ type, name, resident: true, value, dataSize: valueLength, initializedSize: valueLength });
    } else {
      const runsOffset = u16(rec, pos + 0x20);
      if (runsOffset < 0x40 || runsOffset > length) throw new NtfsFormatError(`runlist outside its attribute at ${pos}`, pos);
      // only the first extent (lowest VCN 0) is read: imgplan never needs a fragmented attribute list
      const runs = u64(rec, pos + 0x10) === 0 ? decodeRunlist(rec, pos + runsOffset, pos + length) : [];
      out.push({ type, name, resident: false, runs, dataSize: u64(rec, pos + 0x30), initializedSize: u64(rec, pos + 0x38) });
    }
    pos += length;
  }
  throw new NtfsFormatError('attribute list without end marker');
}

/** An NTFS volume opened for reading metadata. */
class Volume {
  private mftRuns: readonly Run[] | undefined;

  constructor(private readonly read: ByteReader, readonly geo: Geometry) {}

  async bytes(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.read(offset, length);
    if (b.length < length) throw new NtfsFormatError(`the volume ends before byte ${offset + length}`);
    return b;
  }

  /** Reads `length` bytes of a non-resident attribute's data from `start`, following its runs. */
  async stream(attr: Attribute, start: number, length: number): Promise<Uint8Array> {
    // callers ask for one record, block or page; `start` comes from the image
    bounded(length, MAX_BLOCK, 'read length');
    bounded(start, Number.MAX_SAFE_INTEGER - MAX_BLOCK, `offset into attribute 0x${attr.type.toString(16)}`);
    if (attr.resident) return attr.value!.subarray(start, start + length);
    const out = new Uint8Array(length);
    const cs = this.geo.clusterSize;
    for (let done = 0; done < length;) {
      const pos = start + done;
      const vcn = Math.floor(pos / cs);
      const run = attr.runs!.find((r) => vcn >= r.vcn && vcn < r.vcn + r.length);
      if (!run) throw new NtfsFormatError(`byte ${pos} of attribute 0x${attr.type.toString(16)} is outside its first extent`);
      const inRun = (run.vcn + run.length) * cs - pos;
      if (!Number.isSafeInteger(inRun) || inRun <= 0 || !Number.isSafeInteger((run.lcn ?? 0) * cs + inRun)) {
        throw new NtfsFormatError(`a run of attribute 0x${attr.type.toString(16)} lies beyond any volume`);
      }
      const n = Math.min(length - done, inRun);
      if (run.lcn !== null && pos < attr.initializedSize) out.set(await this.bytes(run.lcn * cs + (pos - run.vcn * cs), n), done);
      done += n;
    }
    return out;
  }

  async record(n: number): Promise<Uint8Array> {
    const size = this.geo.recordSize;
    // records 0-15 sit in the MFT's first clusters, which is how $MFT itself is found
    bounded(n, 2 ** 32, 'MFT record number');
    if (n < 16) return fixup(await this.bytes(this.geo.mftOffset + n * size, size), 'FILE');
    if (!this.mftRuns) {
      const data = attributes(await this.record(MFT_RECORD.mft)).find((a) => a.type === ATTR.data && a.name === '');
      if (!data || data.resident) throw new NtfsFormatError('$MFT has no data attribute');
      this.mftRuns = data.runs!;
    }
    const mft: Attribute = { type: ATTR.data, name: '', resident: false, runs: this.mftRuns, dataSize: Infinity, initializedSize: Infinity };
    return fixup(await this.stream(mft, n * size, size), 'FILE');
  }
}

async function volumeInfo(vol: Volume): Promise<{ version: string; dirty: boolean; label?: string }> {
  const attrs = attributes(await vol.record(MFT_RECORD.volume));
  const info = attrs.find((a) => a.type === ATTR.volumeInformation);
  if (!info?.value || info.value.length < 12) throw new NtfsFormatError('$Volume has no volume information');
  const name = attrs.find((a) => a.type === ATTR.volumeName);
  const label = name?.value ? utf16(name.value, 0, name.value.length / 2) : '';
  return {
    version: `${info.value[8]}.${info.value[9]}`,
    dirty: (u16(info.value, 10) & VOLUME_IS_DIRTY) !== 0,
    ...(label ? { label } : {}),
  };
}

interface RestartPage {
  readonly currentLsn: number;
  readonly state: LogFileState;
}

function restartPage(page: Uint8Array): RestartPage | 'empty' {
  if (page.every((x) => x === 0xff)) return 'empty';
  const magic = ascii(page, 0, 4);
  // CHKD: chkdsk found the log damaged; like ntfs-3g, treat it as needing Windows
  if (magic === 'CHKD') return { currentLsn: 0, state: 'unclean' };
  const p = fixup(page, 'RSTR');
  const raOfs = u16(p, 0x18);
  const minor = u16(p, 0x1a);
  const major = u16(p, 0x1c);
  if (raOfs + 16 > p.length) throw new NtfsFormatError('restart area outside the restart page', 0x18);
  const inUse = u16(p, raOfs + 0x0c);
  const flags = u16(p, raOfs + 0x0e);
  const clean = inUse === LOGFILE_NO_CLIENT || (flags & RESTART_VOLUME_IS_CLEAN) !== 0;
  // Windows 8+ also sets the clean flag under Fast Startup, so the version is checked first (as ntfs-3g does)
  const state: LogFileState = major === 2 && minor === 0 ? 'windows-cached' : clean ? 'clean' : 'unclean';
  return { currentLsn: u64(p, raOfs), state };
}

async function logFileState(vol: Volume): Promise<LogFileState> {
  const data = attributes(await vol.record(MFT_RECORD.logFile)).find((a) => a.type === ATTR.data && a.name === '');
  if (!data || data.resident) throw new NtfsFormatError('$LogFile has no data attribute');
  const first = await vol.stream(data, 0, 4096);
  const firstPage = restartPage(first);
  if (firstPage === 'empty') return 'empty';
  // the two restart pages are written alternately; the one with the higher LSN is current
  const pageSize = first[0] === 0x52 /* R */ ? blockSize(u32(first, 0x10), '$LogFile page size', 0x10) : 4096;
  let second: RestartPage | 'empty' = 'empty';
  try {
    second = restartPage(await vol.stream(data, pageSize, pageSize));
  } catch (e) {
    // a torn second copy: the first one stands
    if (!(e instanceof MalformedImageError)) throw e;
  }
  return second !== 'empty' && second.currentLsn > firstPage.currentLsn ? second.state : firstPage.state;
}

interface IndexEntry {
  readonly ref: number;
  readonly name?: string;
  readonly child?: number;
}

/** The entries of an index node, from the index header at `at`. */
function indexEntries(b: Uint8Array, at: number): IndexEntry[] {
  const out: IndexEntry[] = [];
  const end = Math.min(at + u32(b, at + 4), b.length);
  let pos = at + u32(b, at);
  while (pos + 16 <= end) {
    const length = u16(b, pos + 8);
    const keyLength = u16(b, pos + 10);
    const flags = u16(b, pos + 12);
    if (length < 16 || pos + length > end) throw new NtfsFormatError('corrupt index entry', pos);
    const child = flags & 0x01 ? u64(b, pos + length - 8) : undefined;
    const last = (flags & 0x02) !== 0;
    const named = !last && keyLength >= 0x42;
    const nameLength = named ? b[pos + 0x10 + 0x40]! : 0;
    if (named && 0x10 + 0x42 + 2 * nameLength > length) throw new NtfsFormatError('index entry name outside its entry', pos);
    const name = named ? utf16(b, pos + 0x10 + 0x42, nameLength) : undefined;
    out.push({ ref: last ? 0 : u32(b, pos) + u16(b, pos + 4) * 0x100000000, ...(name !== undefined ? { name } : {}),
      ...(child !== undefined ? { child } : {}) });
    if (last) break;
    pos += length;
  }
  return out;
}

/** MFT record number of a file in the root directory, by case-insensitive name (Windows names are). */
async function findInRoot(vol: Volume, wanted: string): Promise<number | undefined> {
  const attrs = attributes(await vol.record(MFT_RECORD.root));
  const root = attrs.find((a) => a.type === ATTR.indexRoot && a.name === '$I30');
  if (!root?.value) throw new NtfsFormatError('root directory has no $I30 index');
  const alloc = attrs.find((a) => a.type === ATTR.indexAllocation && a.name === '$I30');
  const indexBlock = blockSize(u32(root.value, 8) || vol.geo.indexBlockSize, 'index block size', 8);
  const target = wanted.toUpperCase();
  const pending: IndexEntry[][] = [indexEntries(root.value, 0x10)];
  for (let visited = 0; pending.length;) {
    for (const e of pending.shift()!) {
      if (e.name?.toUpperCase() === target) return e.ref;
      if (e.child !== undefined) {
        if (!alloc || ++visited > MAX_INDEX_BLOCKS) throw new NtfsFormatError('root directory index is larger than expected');
        // child VCNs count in clusters when the block is at least a cluster, else in 512-byte units
        const unit = indexBlock >= vol.geo.clusterSize ? vol.geo.clusterSize : 512;
        const block = fixup(await vol.stream(alloc, e.child * unit, indexBlock), 'INDX');
        pending.push(indexEntries(block, 0x18));
      }
    }
  }
  return undefined;
}

async function hibernation(vol: Volume): Promise<{ state: HibernationState; size?: number }> {
  const ref = await findInRoot(vol, 'hiberfil.sys');
  if (ref === undefined) return { state: 'none' };
  const rec = await vol.record(ref);
  if (!(u16(rec, 0x16) & 0x01)) return { state: 'none' };
  const data = attributes(rec).find((a) => a.type === ATTR.data && a.name === '');
  if (!data) return { state: 'none' };
  // a hiberfil.sys smaller than its header marks a non-system volume of a hibernated Windows (ntfs-3g refuses it too)
  if (data.dataSize < HIBERFILE_HEADER) return { state: 'hibernated', size: data.dataSize };
  const head = await vol.stream(data, 0, 4);
  const magic = ascii(head, 0, 4).toLowerCase();
  // "hibr": hibernated; "rstr": Windows was resuming from it; "wake" or zeros: resumed, nothing pending
  return { state: magic === 'hibr' || magic === 'rstr' ? 'hibernated' : 'none', size: data.dataSize };
}

/** Inspects an NTFS volume through `read`. Each part that cannot be read is "unknown", with the reason in problems. */
export async function inspectNtfs(rawRead: ByteReader): Promise<NtfsHealth> {
  const read = boundedReader(rawRead);
  const problems: string[] = [];
  let vol: Volume;
  try {
    vol = new Volume(read, geometry(await read(0, 512)));
  } catch (e) {
    if (!(e instanceof MalformedImageError)) throw e;
    return { dirty: 'unknown', logFile: 'unknown', hibernation: 'unknown', problems: [`boot sector: ${(e as Error).message}`] };
  }
  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (e) {
      if (!(e instanceof MalformedImageError)) throw e;
      problems.push(`${what}: ${e.message}`);
      return undefined;
    }
  };
  const info = await attempt('$Volume', () => volumeInfo(vol));
  const logFile = await attempt('$LogFile', () => logFileState(vol));
  const hiber = await attempt('hiberfil.sys', () => hibernation(vol));
  return {
    ...(info ? { version: info.version } : {}),
    ...(info?.label ? { label: info.label } : {}),
    dirty: info ? info.dirty : 'unknown',
    logFile: logFile ?? 'unknown',
    hibernation: hiber?.state ?? 'unknown',
    ...(hiber?.size !== undefined ? { hiberfileSize: hiber.size } : {}),
    problems,
  };
}
