// Crafts hostile LVM metadata from real metadata, for the hostile-image tests: reads a PV that
// lvm2 wrote (pvcreate, vgcreate, lvcreate: test/support/lvm-disk.sh) from an image file at a byte
// offset, and rewrites its current VG metadata text in place, updating what LVM updates when it
// writes metadata: the first raw location of each metadata area header (offset, size and the
// checksum of the text) and the header's own checksum. It can also give the PV a new UUID (in the
// label, whose checksum it updates, and in the text). Plain JavaScript like leaks.mjs; its types
// are in lvm-craft.d.mts.
//
// The on-disk structures (lvm2 lib/format_text/layout.h, lib/label/label.h):
//   label sector (one of sectors 0-3): "LABELONE", sector u64, crc u32 (of bytes 20..511),
//     offset u32 (of the pv_header in the sector), "LVM2 001"
//   pv_header: uuid[32], device size u64, data areas {offset u64, size u64}… 0, metadata areas … 0
//   mda_header (512 bytes at the area's start): checksum u32 (of bytes 4..511), magic[16],
//     version u32, start u64, size u64, raw_locn {offset u64, size u64, checksum u32, flags u32}…
//   the text: at area start + raw_locn.offset, raw_locn.size bytes (LVM's trailing NUL included),
//     a ring after the header (text that runs past the area's end continues at offset 512)
// Every checksum is LVM's calc_crc: CRC-32 of polynomial 0xEDB88320 (reflected), initial value
// 0xf597a6cf, no final xor.
//
// Before it changes anything it checks every checksum it will rewrite against its own
// computation, so a mismatch means the tool is wrong, not the image. Rewriting a PV with the same
// text (and UUID) gives a byte-identical file.
//
//   node test/support/lvm-craft.mjs dump IMAGE [OFFSET]                  the layout and text, as JSON
//   node test/support/lvm-craft.mjs replace IMAGE OFFSET FROM TO         one occurrence of FROM → TO

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { randomInt } from 'node:crypto';

export const INITIAL_CRC = 0xf597a6cf;
const TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/**
 * LVM's calc_crc(initial, buf, size).
 * @param {Uint8Array} bytes @param {number} [crc]
 */
export function calcCrc(bytes, crc = INITIAL_CRC) {
  let c = crc >>> 0;
  for (const b of bytes) c = (TABLE[(c ^ b) & 0xff] ^ (c >>> 8)) >>> 0;
  return c;
}

const SECTOR = 512;
const LABEL_ID = 'LABELONE';
const LABEL_TYPE = 'LVM2 001';
const MDA_HEADER_SIZE = 512;
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
/** the first raw location in an mda_header: after checksum, magic, version, start, size */
const RLOCN = 40;

/** @param {number} fd @param {number} at @param {number} length */
function readAt(fd, at, length) {
  const b = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, b, got, length - got, at + got);
    if (n === 0) throw new Error(`lvm-craft: short read at ${at + got}`);
    got += n;
  }
  return b;
}

/** @param {number} fd @param {number} at @param {Uint8Array} bytes */
function writeAt(fd, at, bytes) {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
}

/** @param {Buffer} b @param {number} at */
const u64 = (b, at) => Number(b.readBigUInt64LE(at));

/**
 * "Dp3iYH3oLE…" (32 characters, as on disk) → "Dp3iYH-3oLE-…" (as the metadata text writes it).
 * @param {string} raw
 */
export function dashed(raw) {
  if (!/^[A-Za-z0-9]{32}$/.test(raw)) throw new Error(`lvm-craft: not a raw LVM uuid: ${JSON.stringify(raw)}`);
  return [raw.slice(0, 6), raw.slice(6, 10), raw.slice(10, 14), raw.slice(14, 18), raw.slice(18, 22), raw.slice(22, 26), raw.slice(26)].join('-');
}

/** A new random LVM uuid, dashed (32 characters of LVM's alphabet). */
export function freshUuid() {
  const abc = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return dashed(Array.from({ length: 32 }, () => abc[randomInt(abc.length)]).join(''));
}

/**
 * The PV at `offset` bytes into `file`: its label and each metadata area with its current text.
 * Throws if a structure or checksum is not what LVM writes.
 * @param {string} file @param {number} [offset]
 * @returns {import('./lvm-craft.d.mts').PvLayout}
 */
export function readPv(file, offset = 0) {
  const fd = openSync(file, 'r');
  try {
    return layout(fd, offset);
  } finally {
    closeSync(fd);
  }
}

/** @param {number} fd @param {number} offset @returns {import('./lvm-craft.d.mts').PvLayout} */
function layout(fd, offset) {
  const head = readAt(fd, offset, 4 * SECTOR);
  let at = -1;
  for (let s = 0; s < 4 && at < 0; s++) {
    if (head.toString('latin1', s * SECTOR, s * SECTOR + 8) === LABEL_ID && head.toString('latin1', s * SECTOR + 24, s * SECTOR + 32) === LABEL_TYPE) at = s * SECTOR;
  }
  if (at < 0) throw new Error(`lvm-craft: no LVM2 label in the first four sectors at ${offset}`);
  const label = head.subarray(at, at + SECTOR);
  const labelCrc = label.readUInt32LE(16);
  if (calcCrc(label.subarray(20)) !== labelCrc) throw new Error('lvm-craft: the label checksum is not LVM\'s calc_crc of bytes 20..511');
  const hdr = label.readUInt32LE(20);
  const pvUuid = label.toString('latin1', hdr, hdr + 32);
  let p = hdr + 40;
  while (u64(label, p) || u64(label, p + 8)) p += 16;
  p += 16;
  /** @type {import('./lvm-craft.d.mts').Mda[]} */
  const mdas = [];
  for (; u64(label, p) || u64(label, p + 8); p += 16) {
    const start = u64(label, p);
    const size = u64(label, p + 8);
    const h = readAt(fd, offset + start, MDA_HEADER_SIZE);
    if (h.toString('latin1', 4, 20) !== MDA_MAGIC) throw new Error(`lvm-craft: no mda_header at ${start}`);
    const headerCrc = h.readUInt32LE(0);
    if (calcCrc(h.subarray(4)) !== headerCrc) throw new Error(`lvm-craft: the mda_header checksum at ${start} is not calc_crc of bytes 4..511`);
    const textOffset = u64(h, RLOCN);
    const textSize = u64(h, RLOCN + 8);
    const checksum = h.readUInt32LE(RLOCN + 16);
    if (!textSize) throw new Error(`lvm-craft: the metadata area at ${start} holds no text`);
    const raw = readRing(fd, offset + start, size, textOffset, textSize);
    if (calcCrc(raw) !== checksum) throw new Error(`lvm-craft: the text checksum at ${start} is not calc_crc of the text`);
    const nul = raw[raw.length - 1] === 0;
    const body = nul ? raw.subarray(0, raw.length - 1) : raw;
    const text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    mdas.push({ start, size, headerCrc, textOffset, textSize, checksum, flags: h.readUInt32LE(RLOCN + 20), nul, text });
  }
  if (!mdas.length) throw new Error('lvm-craft: this PV has no metadata area');
  return { offset, labelAt: at, labelCrc, pvUuid, mdas };
}

/** @param {number} fd @param {number} area @param {number} size @param {number} textOffset @param {number} length */
function readRing(fd, area, size, textOffset, length) {
  const first = Math.min(length, size - textOffset);
  const a = readAt(fd, area + textOffset, first);
  return first < length ? Buffer.concat([a, readAt(fd, area + MDA_HEADER_SIZE, length - first)]) : a;
}

/** @param {number} fd @param {number} area @param {number} size @param {number} textOffset @param {Uint8Array} bytes */
function writeRing(fd, area, size, textOffset, bytes) {
  const first = Math.min(bytes.length, size - textOffset);
  writeAt(fd, area + textOffset, bytes.subarray(0, first));
  if (first < bytes.length) writeAt(fd, area + MDA_HEADER_SIZE, bytes.subarray(first));
}

/**
 * Rewrites the PV at `offset` bytes into `file`: each metadata area's current text becomes
 * `edit(text)` (written where the old text was, its tail zeroed if the new one is shorter, with
 * LVM's trailing NUL), and `pvUuid` (dashed or not) replaces the PV's UUID in the label and in
 * the text. Returns the new layout, read back and checked.
 * @param {string} file @param {number} offset
 * @param {{ text?: (text: string) => string; pvUuid?: string }} change
 * @returns {import('./lvm-craft.d.mts').PvLayout}
 */
export function craftPv(file, offset, change) {
  const fd = openSync(file, 'r+');
  try {
    const old = layout(fd, offset);
    const newPv = change.pvUuid?.replace(/-/g, '');
    if (newPv !== undefined) {
      dashed(newPv);
      const label = readAt(fd, offset + old.labelAt, SECTOR);
      label.write(newPv, label.readUInt32LE(20), 'latin1');
      label.writeUInt32LE(calcCrc(label.subarray(20)), 16);
      writeAt(fd, offset + old.labelAt, label);
    }
    for (const m of old.mdas) {
      let text = change.text ? change.text(m.text) : m.text;
      if (newPv !== undefined) text = replaceOnce(text, `id = "${dashed(old.pvUuid)}"`, `id = "${dashed(newPv)}"`);
      const body = Buffer.from(text, 'utf8');
      const bytes = m.nul ? Buffer.concat([body, Buffer.alloc(1)]) : body;
      if (bytes.length > m.size - MDA_HEADER_SIZE) throw new Error(`lvm-craft: ${bytes.length} bytes of text do not fit the metadata area`);
      writeRing(fd, offset + m.start, m.size, m.textOffset, bytes);
      if (bytes.length < m.textSize) {
        // the rest of the old text: zeroed, as if this text had always been the only one
        const tail = (m.textOffset + bytes.length - MDA_HEADER_SIZE) % (m.size - MDA_HEADER_SIZE) + MDA_HEADER_SIZE;
        writeRing(fd, offset + m.start, m.size, tail, Buffer.alloc(m.textSize - bytes.length));
      }
      const h = readAt(fd, offset + m.start, MDA_HEADER_SIZE);
      h.writeBigUInt64LE(BigInt(bytes.length), RLOCN + 8);
      h.writeUInt32LE(calcCrc(bytes), RLOCN + 16);
      h.writeUInt32LE(calcCrc(h.subarray(4)), 0);
      writeAt(fd, offset + m.start, h);
    }
    return layout(fd, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * `text` with the one occurrence of `from` replaced by `to`; throws if there is none or more than one.
 * @param {string} text @param {string} from @param {string} to
 */
export function replaceOnce(text, from, to) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`lvm-craft: ${JSON.stringify(from)} occurs ${at < 0 ? 'nowhere' : 'more than once'} in the metadata text`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/**
 * A section name as LVM's config parser (libdm-config) reads it: a bare token when it has no
 * space, quote, "#", "=", "{" or "}", else a quoted string with '"' and '\' escaped.
 * @param {string} name
 */
export function sectionName(name) {
  return name && !/[\s"#={}\\]/.test(name) ? name : `"${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** @param {string} s */
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Renames the one section `from` (the VG, a PV key, an LV) to `to`, written as LVM's parser reads it.
 * @param {string} text @param {string} from @param {string} to
 */
export function renameSection(text, from, to) {
  const re = new RegExp(`^(\\s*)${escapeRe(from)}( \\{)$`, 'gm');
  const n = [...text.matchAll(re)].length;
  if (n !== 1) throw new Error(`lvm-craft: ${n} sections named ${JSON.stringify(from)} in the metadata text`);
  return text.replace(re, (_, indent, brace) => `${indent}${sectionName(to)}${brace}`);
}

/**
 * The text with the `id` of section `section` (the VG, a PV key, an LV) set to `id`, written as a
 * quoted string with '"' and '\' escaped.
 * @param {string} text @param {string} section @param {string} id
 */
export function setSectionId(text, section, id) {
  const re = new RegExp(`^(\\s*${escapeRe(section)} \\{\\n\\s*id = )"[^"\\n]*"$`, 'gm');
  const n = [...text.matchAll(re)].length;
  if (n !== 1) throw new Error(`lvm-craft: ${n} sections named ${JSON.stringify(section)} with an id in the metadata text`);
  return text.replace(re, (_, head) => `${head}"${id.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
}

/**
 * The id of section `section` in the text.
 * @param {string} text @param {string} section
 */
export function sectionId(text, section) {
  const m = new RegExp(`^\\s*${escapeRe(section)} \\{\\n\\s*id = "([^"\\n]*)"$`, 'm').exec(text);
  if (!m) throw new Error(`lvm-craft: no section ${JSON.stringify(section)} with an id in the metadata text`);
  return /** @type {string} */ (m[1]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, file, off, from, to] = process.argv.slice(2);
  if (cmd === 'dump' && file) console.log(JSON.stringify(readPv(file, Number(off ?? 0)), null, 2));
  else if (cmd === 'replace' && file && off && from !== undefined && to !== undefined) {
    console.log(JSON.stringify(craftPv(file, Number(off), { text: (t) => replaceOnce(t, from, to) }), null, 2));
  } else {
    console.error('usage: lvm-craft.mjs dump IMAGE [OFFSET] | replace IMAGE OFFSET FROM TO');
    process.exit(2);
  }
}
