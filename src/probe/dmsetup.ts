/** One device-mapper map, from `dmsetup info` and `dmsetup table`. */
export interface DmMap {
  readonly name: string;
  readonly uuid?: string;
  readonly majMin: string;
  readonly readOnly: boolean;
  readonly openCount: number;
  /** the devices a linear/striped table reads from, "major:minor", in table order */
  readonly devices: readonly string[];
  /** linear targets: start sector in the underlying device */
  readonly offsets: readonly number[];
}

/**
 * `dmsetup info --columns --noheadings --nameprefixes --separator ' ' --options name,uuid,major,minor,attr,open`:
 * one line per map, KEY='value' pairs (prefixes because kpartx UUIDs contain ':', e.g.
 * "part1-devnode_7:0_Wh5pYvM"). "No devices found" when there is none.
 */
export function parseDmInfo(text: string): Omit<DmMap, 'devices' | 'offsets'>[] {
  const out: Omit<DmMap, 'devices' | 'offsets'>[] = [];
  for (const line of text.split('\n')) {
    const fields: Record<string, string> = {};
    for (const m of line.matchAll(/DM_([A-Z_]+)='((?:[^'\\]|\\.)*)'/g)) fields[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
    if (fields.NAME === undefined) continue;
    out.push({
      name: fields.NAME,
      ...(fields.UUID ? { uuid: fields.UUID } : {}),
      majMin: `${Number(fields.MAJOR)}:${Number(fields.MINOR)}`,
      // attr: L(ive) / I(nactive) / s(uspended), then r for read-only
      readOnly: (fields.ATTR ?? '').includes('r'),
      openCount: Number(fields.OPEN ?? 0),
    });
  }
  return out;
}

/** `dmsetup table`: "NAME: START LENGTH TARGET ARGS…" per segment; linear ARGS are "MAJ:MIN OFFSET". */
export function parseDmTable(text: string): Map<string, { devices: string[]; offsets: number[] }> {
  const out = new Map<string, { devices: string[]; offsets: number[] }>();
  for (const line of text.split('\n')) {
    const m = /^(.+?): (\d+) (\d+) (\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const entry = out.get(m[1]!) ?? { devices: [], offsets: [] };
    const args = m[5]!.split(/\s+/);
    if (m[4] === 'linear' && /^\d+:\d+$/.test(args[0] ?? '')) {
      entry.devices.push(args[0]!);
      entry.offsets.push(Number(args[1]));
    }
    out.set(m[1]!, entry);
  }
  return out;
}

export function joinDm(info: ReturnType<typeof parseDmInfo>, table: ReturnType<typeof parseDmTable>): DmMap[] {
  return info.map((i) => ({ ...i, devices: table.get(i.name)?.devices ?? [], offsets: table.get(i.name)?.offsets ?? [] }));
}
