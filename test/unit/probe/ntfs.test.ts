import { recordedReader } from '../recorded-bytes.js';
import { describe, expect, it } from 'vitest';
import { inspectNtfs, ntfsNeedsWindows } from '../../../src/probe/ntfs.js';

const recorded = (name: string, edit?: (reads: Record<string, Buffer>) => void) => recordedReader(`ntfs/${name}`, edit);

describe('NTFS state Windows left behind, read from recorded volumes', () => {
  it('a cleanly shut down C: whose hiberfil.sys was resumed from ("wake")', async () => {
    const h = await inspectNtfs(recorded('clean'));
    expect(h).toEqual({ version: '3.1', label: 'Windows', dirty: false, logFile: 'empty', hibernation: 'none', hiberfileSize: 16384, problems: [] });
    expect(ntfsNeedsWindows(h)).toEqual({ unclean: false, hibernated: false, reasons: [] });
  });

  it('restart pages of a clean shutdown (client in use, clean flag set)', async () => {
    expect((await inspectNtfs(recorded('clean-log'))).logFile).toBe('clean');
  });

  it('a hibernated Windows: hiberfil.sys starts with HIBR, found through the root index B+tree', async () => {
    const h = await inspectNtfs(recorded('hibernated'));
    expect(h.hibernation).toBe('hibernated');
    expect(h.logFile).toBe('empty');
    expect(ntfsNeedsWindows(h).hibernated).toBe(true);
  });

  it('a crash: log client in use, clean flag off (ntfs-3g: "unclean file system (0, 0)")', async () => {
    const h = await inspectNtfs(recorded('unclean'));
    expect(h.logFile).toBe('unclean');
    expect(h.hibernation).toBe('none');
    expect(ntfsNeedsWindows(h).unclean).toBe(true);
  });

  it('Fast Startup: restart page version 2.0 counts even though the clean flag is set', async () => {
    const h = await inspectNtfs(recorded('fast-startup'));
    expect(h.logFile).toBe('windows-cached');
    expect(ntfsNeedsWindows(h).reasons.join()).toMatch(/Fast Startup/);
  });

  it('the $Volume dirty flag (chkdsk scheduled), which ntfs-3g ignores but ntfsinfo honours', async () => {
    const h = await inspectNtfs(recorded('dirty'));
    expect(h.dirty).toBe(true);
    expect(h.logFile).toBe('empty');
  });

  it('a torn MFT record is "unknown" with the reason, never a guess', async () => {
    const h = await inspectNtfs(recorded('dirty', (reads) => {
      // $Volume is MFT record 3: MFT cluster (boot sector 0x30) × cluster size + 3 records of 1 KiB
      const boot = reads['0+512']!;
      const mft = Number(boot.readBigUInt64LE(0x30)) * boot.readUInt16LE(0x0b) * boot[0x0d]!;
      const rec = reads[`${mft + 3 * 1024}+1024`]!;
      rec[510] = rec[510]! ^ 0xff;
    }));
    expect(h.dirty).toBe('unknown');
    expect(h.problems.join()).toMatch(/\$Volume: FILE record is torn/);
  });

  it('not NTFS at all: every part unknown, nothing thrown', async () => {
    const h = await inspectNtfs(async (_o, n) => new Uint8Array(n));
    expect(h).toMatchObject({ dirty: 'unknown', logFile: 'unknown', hibernation: 'unknown' });
    expect(h.problems).toEqual(['boot sector: no NTFS boot sector']);
  });

  it('a volume cut short (partition smaller than the filesystem) says where it ends', async () => {
    const inner = recorded('hibernated');
    const h = await inspectNtfs(async (o, n) => (o >= 4 * 1024 * 1024 ? new Uint8Array() : inner(o, n)));
    expect(h.problems.some((p) => /the volume ends before byte/.test(p))).toBe(true);
  });
});
