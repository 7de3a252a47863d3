import { asArray, asBool, asMajMin, asNumber, asOptString, asRecord, asString, parseJsonObject } from './coerce.js';

export interface LoopDevice {
  /** "/dev/loop3" */
  readonly device: string;
  readonly majMin?: string;
  readonly backFile?: string;
  /** "major:minor" of the filesystem that holds the backing file */
  readonly backDev?: string;
  readonly backIno?: number;
  readonly offset: number;
  /** 0 = to the end of the file */
  readonly sizelimit: number;
  readonly ro: boolean;
  readonly partscan: boolean;
  readonly autoclear: boolean;
  /** /sys/block/loopN/diskseq (kernel 5.15+), read by collect only when the journal needs it: new with every attach */
  readonly diskseq?: number;
}

/**
 * Parses `losetup --list --json --output <LOSETUP_COLUMNS>`. With no loop devices 2.38.1 prints
 * `{"loopdevices": []}` (test/fixtures/probe/2.38.1/losetup-empty.txt); empty output is accepted too.
 */
export function parseLosetup(text: string): LoopDevice[] {
  if (text.trim() === '') return [];
  const root = parseJsonObject(text, 'losetup');
  return asArray(root.loopdevices, 'losetup loopdevices').map((raw) => {
    const d = asRecord(raw, 'losetup device');
    const backIno = d['back-ino'];
    const majMin = asMajMin(d['maj:min']);
    const backDev = asMajMin(d['back-maj:min']);
    const backFile = asOptString(d['back-file']);
    return {
      device: asString(d.name, 'losetup name'),
      ...(majMin ? { majMin } : {}),
      // losetup appends " (deleted)" when the backing file was unlinked
      ...(backFile ? { backFile } : {}),
      ...(backDev ? { backDev } : {}),
      ...(backIno !== null && backIno !== undefined ? { backIno: asNumber(backIno, 'losetup back-ino') } : {}),
      offset: asNumber(d.offset, 'losetup offset'),
      sizelimit: asNumber(d.sizelimit, 'losetup sizelimit'),
      ro: asBool(d.ro),
      partscan: asBool(d.partscan),
      autoclear: asBool(d.autoclear),
    };
  });
}
