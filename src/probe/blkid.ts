/** What `blkid -p -o export` found: TYPE, UUID, LABEL, PTTYPE… (empty when it found nothing). */
export type BlkidInfo = Readonly<Record<string, string>>;

/** Parses `blkid --probe --output export`; blkid exits 2 and prints nothing when there is no signature. */
export function parseBlkidExport(text: string): BlkidInfo {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    if (key === 'DEVNAME') continue;
    // export format escapes special characters with backslashes
    out[key] = line.slice(eq + 1).replace(/\\(.)/g, '$1');
  }
  return out;
}

/** Filesystem signatures that blkid reports but that cannot be mounted, with what to tell the user. */
export const NOT_MOUNTABLE: Readonly<Record<string, string>> = {
  LVM2_member: 'an LVM physical volume; mount its logical volumes with what: IMAGE/VG/LV',
  swap: 'swap space, which has no files to mount',
  crypto_LUKS: 'a LUKS-encrypted volume (not supported yet)',
  linux_raid_member: 'an md RAID member (not supported yet)',
};
