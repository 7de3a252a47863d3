#!/usr/bin/env node
// Writes a minimal valid empty Windows registry hive (regf), for tests to fill with hivexsh -w:
//   node mkhive.mjs OUT [ROOTNAME]
// No tool in Debian creates an empty hive (hivex edits existing ones), so this writes one from the
// format's layout: a 4 KiB base block ("regf", sequence numbers, version 1.3, the root cell's
// offset, the hive bins' size, the XOR checksum of its first 508 bytes), then one 4 KiB hive bin
// ("hbin") holding the root key (an "nk" cell flagged as the hive's root), the security record it
// points to (an "sk" cell with an empty self-relative security descriptor), and one free cell for
// the rest of the bin. Nothing in it depends on the clock: the same call writes the same bytes.
import { writeFileSync } from 'node:fs';

const out = process.argv[2];
const rootName = process.argv[3] ?? 'ROOT';
if (!out) {
  process.stderr.write('usage: mkhive.mjs OUT [ROOTNAME]\n');
  process.exit(2);
}

const BASE = 0x1000;
const BIN = 0x1000;
const hive = Buffer.alloc(BASE + BIN);
// a fixed FILETIME (2020-01-01T00:00:00Z), so the file is reproducible
const FILETIME = 132223104000000000n;

// base block
hive.write('regf', 0, 'latin1');
hive.writeUInt32LE(1, 0x04); // primary sequence number
hive.writeUInt32LE(1, 0x08); // secondary sequence number: equal, so the hive was written completely
hive.writeBigUInt64LE(FILETIME, 0x0c);
hive.writeUInt32LE(1, 0x14); // major version
hive.writeUInt32LE(3, 0x18); // minor version
hive.writeUInt32LE(0, 0x1c); // file type: primary
hive.writeUInt32LE(1, 0x20); // file format: direct memory load
const NK = 0x20; // cells are addressed from the first hive bin
hive.writeUInt32LE(NK, 0x24); // root cell offset
hive.writeUInt32LE(BIN, 0x28); // hive bins data size
hive.writeUInt32LE(1, 0x2c); // clustering factor
hive.write('\\mkhive', 0x30, 'utf16le'); // file name (informational)

// hive bin header
const bin = BASE;
hive.write('hbin', bin, 'latin1');
hive.writeUInt32LE(0, bin + 0x04); // offset of this bin from the first
hive.writeUInt32LE(BIN, bin + 0x08); // its size
hive.writeBigUInt64LE(FILETIME, bin + 0x14);

const align8 = (n) => (n + 7) & ~7;

// root key: nk cell
const name = Buffer.from(rootName, 'latin1');
const nkSize = align8(4 + 0x4c + name.length);
const SK = NK + nkSize;
let c = bin + NK;
hive.writeInt32LE(-nkSize, c); // negative: allocated
c += 4;
hive.write('nk', c, 'latin1');
hive.writeUInt16LE(0x2c, c + 0x02); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
hive.writeBigUInt64LE(FILETIME, c + 0x04);
hive.writeUInt32LE(0xffffffff, c + 0x10); // parent: none
hive.writeUInt32LE(0, c + 0x14); // subkeys
hive.writeUInt32LE(0, c + 0x18); // volatile subkeys
hive.writeUInt32LE(0xffffffff, c + 0x1c); // subkey list
hive.writeUInt32LE(0xffffffff, c + 0x20); // volatile subkey list
hive.writeUInt32LE(0, c + 0x24); // values
hive.writeUInt32LE(0xffffffff, c + 0x28); // value list
hive.writeUInt32LE(SK, c + 0x2c); // security record
hive.writeUInt32LE(0xffffffff, c + 0x30); // class name
hive.writeUInt16LE(name.length, c + 0x48);
hive.writeUInt16LE(0, c + 0x4a);
name.copy(hive, c + 0x4c);

// security record: sk cell, alone in its list (flink and blink to itself), used by the root key
const sd = Buffer.alloc(20);
sd.writeUInt8(1, 0); // revision
sd.writeUInt16LE(0x8000, 2); // SE_SELF_RELATIVE; no owner, group, SACL or DACL
const skSize = align8(4 + 0x14 + sd.length);
c = bin + SK;
hive.writeInt32LE(-skSize, c);
c += 4;
hive.write('sk', c, 'latin1');
hive.writeUInt32LE(SK, c + 0x04); // flink
hive.writeUInt32LE(SK, c + 0x08); // blink
hive.writeUInt32LE(1, c + 0x0c); // reference count
hive.writeUInt32LE(sd.length, c + 0x10);
sd.copy(hive, c + 0x14);

// the rest of the bin: one free cell (positive size)
const free = SK + skSize;
hive.writeInt32LE(BIN - free, bin + free);

// checksum: XOR of the base block's first 127 dwords (0 and 0xffffffff are not used)
let sum = 0;
for (let i = 0; i < 0x1fc; i += 4) sum = (sum ^ hive.readUInt32LE(i)) >>> 0;
if (sum === 0xffffffff) sum = 0xfffffffe;
if (sum === 0) sum = 1;
hive.writeUInt32LE(sum, 0x1fc);

writeFileSync(out, hive);
