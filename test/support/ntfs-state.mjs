#!/usr/bin/env node
// Puts a standalone NTFS filesystem image (made by mkntfs) into a state Windows leaves behind,
// which Linux tools cannot produce: usage  node ntfs-state.mjs FS.img unclean|fast-startup|clean-log|dirty
//   unclean       $LogFile restart pages as after a crash: log client 0 in use, clean flag off
//   fast-startup  the same pages as version 2.0, as Windows 8+ writes with Fast Startup
//   clean-log     restart pages of a clean shutdown: client in use, clean flag on (version 1.1)
//   dirty         $Volume's VOLUME_IS_DIRTY flag set
// Locations come from ntfsinfo (ntfs-3g's tools), not from imgplan's reader, so that the two
// cannot share a mistake; ntfs-3g then judges the result (tests check it refuses read-write).
import { execFileSync } from 'node:child_process';
import { openSync, readSync, writeSync, closeSync } from 'node:fs';

const [file, state] = process.argv.slice(2);
if (!file || !['unclean', 'fast-startup', 'clean-log', 'dirty'].includes(state)) {
  console.error('usage: ntfs-state.mjs FS.img unclean|fast-startup|clean-log|dirty');
  process.exit(2);
}

const info = (args) => execFileSync('ntfsinfo', ['--force', ...args, file], { encoding: 'utf8' });
const field = (text, name) => {
  const m = new RegExp(`${name}:\\s+(\\d+)`).exec(text);
  if (!m) throw new Error(`ntfsinfo printed no "${name}"`);
  return Number(m[1]);
};
const volume = info(['--mft']);
const clusterSize = field(volume, 'Cluster Size');
const fd = openSync(file, 'r+');
const read = (pos, n) => {
  const b = Buffer.alloc(n);
  readSync(fd, b, 0, n, pos);
  return b;
};

/** Writes `page` (a whole multi-sector record) with its update sequence applied, as NTFS stores it. */
function protect(page, usaOfs, usn) {
  const count = page.length / 512 + 1;
  page.writeUInt16LE(usaOfs, 4);
  page.writeUInt16LE(count, 6);
  page.writeUInt16LE(usn, usaOfs);
  for (let i = 1; i < count; i++) {
    page.writeUInt16LE(page.readUInt16LE(i * 512 - 2), usaOfs + 2 * i);
    page.writeUInt16LE(usn, i * 512 - 2);
  }
  return page;
}

if (state === 'dirty') {
  const recordSize = field(volume, 'MFT Record Size');
  const pos = field(volume, 'LCN of Data Attribute for FILE_MFT') * clusterSize + 3 * recordSize;
  // $MFTMirr keeps copies of records 0-3; ntfs-3g refuses a volume whose copies differ
  const mirror = field(volume, 'LCN of Data Attribute for File_MFTMirr') * clusterSize + 3 * recordSize;
  const rec = read(pos, recordSize);
  // walk the attributes of record 3 ($Volume) to $VOLUME_INFORMATION (0x70), resident
  for (let a = rec.readUInt16LE(0x14); a < recordSize;) {
    const type = rec.readUInt32LE(a);
    if (type === 0xffffffff) throw new Error('$Volume has no $VOLUME_INFORMATION');
    if (type === 0x70) {
      const flags = a + rec.readUInt16LE(a + 0x14) + 10;
      if (flags % 512 >= 510) throw new Error('flags sit on a sector end (update sequence); not handled');
      rec.writeUInt16LE(rec.readUInt16LE(flags) | 0x0001, flags);
      writeSync(fd, rec, 0, recordSize, pos);
      writeSync(fd, rec, 0, recordSize, mirror);
      break;
    }
    a += rec.readUInt32LE(a + 4);
  }
} else {
  const log = info(['--inode', '2', '--verbose']);
  const run = /Runlist:.*\n\s+0x0\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)/i.exec(log);
  if (!run) throw new Error('no runlist for $LogFile in ntfsinfo output');
  const logPos = parseInt(run[1], 16) * clusterSize;
  const fileSize = Number(/Data size:\s+(\d+)/.exec(log.slice(log.indexOf('$DATA')))?.[1]);
  const [major, minor] = state === 'fast-startup' ? [2, 0] : [1, 1];
  for (const [i, lsn] of [[0, 0x20000n], [1, 0x10000n]]) {
    const page = Buffer.alloc(4096);
    page.write('RSTR', 0, 'ascii');
    page.writeUInt32LE(4096, 0x10); // system page size
    page.writeUInt32LE(4096, 0x14); // log page size
    page.writeUInt16LE(0x30, 0x18); // restart area offset
    page.writeInt16LE(minor, 0x1a);
    page.writeInt16LE(major, 0x1c);
    const ra = 0x30;
    page.writeBigUInt64LE(lsn, ra); // current LSN: page 0 is the newer one
    page.writeUInt16LE(1, ra + 8); // log clients
    page.writeUInt16LE(0xffff, ra + 10); // free list: none
    page.writeUInt16LE(0, ra + 12); // in use: client 0 (NTFS)
    page.writeUInt16LE(state === 'clean-log' || state === 'fast-startup' ? 0x0002 : 0, ra + 14); // RESTART_VOLUME_IS_CLEAN
    page.writeUInt32LE(67 - Math.floor(Math.log2(fileSize)) - 1, ra + 16); // sequence number bits
    page.writeUInt16LE(0x40 + 0xa0, ra + 20); // restart area length
    page.writeUInt16LE(0x40, ra + 22); // client array offset
    page.writeBigInt64LE(BigInt(fileSize), ra + 24);
    page.writeUInt16LE(0x30, ra + 36); // log record header length
    page.writeUInt16LE(0x40, ra + 38); // log page data offset
    const client = ra + 0x40;
    page.writeUInt16LE(0xffff, client + 16); // prev
    page.writeUInt16LE(0xffff, client + 18); // next
    page.writeUInt32LE(8, client + 28); // name length in bytes
    page.write('NTFS', client + 32, 'utf16le');
    writeSync(fd, protect(page, 0x1e, 1), 0, 4096, logPos + i * 4096);
  }
}
closeSync(fd);
