/**
 * `vgs --reportformat json` (lvm2 ≥ 2.02.158): {"report":[{"vg":[{"vg_name":…}]}]}, every value a
 * string. Only the columns imgplan asks for (commands.ts) are read.
 */
export interface HostVg {
  readonly name: string;
  readonly uuid: string;
  readonly lvCount: number;
}

export function parseVgsReport(text: string): HostVg[] {
  const doc = JSON.parse(text) as { report?: { vg?: Record<string, string>[] }[] };
  if (!Array.isArray(doc.report)) throw new Error('no "report" array');
  return doc.report.flatMap((r) => r.vg ?? []).map((v) => {
    if (typeof v.vg_name !== 'string' || typeof v.vg_uuid !== 'string') throw new Error('vg entry without vg_name or vg_uuid');
    return { name: v.vg_name, uuid: v.vg_uuid, lvCount: Number(v.lv_count ?? 0) };
  });
}
