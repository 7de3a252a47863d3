import type { FilesystemReport, ImageReport, InspectReport } from '../core/inspect.js';
import { humanBytes } from '../plan/format.js';
import { printable } from '../printable.js';

/** A filesystem in words: type, "label", uuid, and what it is when it is not mountable as it is. */
function fsText(f: FilesystemReport | undefined): string {
  if (!f) return 'no filesystem signature';
  const parts = [printable(f.type)];
  if (f.label) parts.push(`"${printable(f.label)}"`);
  if (f.uuid) parts.push(`uuid ${printable(f.uuid)}`);
  if (f.vg) parts.push(`of VG ${printable(f.vg)}`);
  if (f.windows) {
    const w = f.windows;
    parts.push(`Windows: ${w.state}${w.dirty === true ? ', dirty' : ''}${w.version ? `, NTFS ${printable(w.version)}` : ''}`);
  }
  if (f.note && !f.vg) parts.push(`(${f.note})`);
  return parts.join('  ');
}

function imageText(r: ImageReport): string[] {
  const guess = r.qemu_probe ? ` (QEMU's probe says ${printable(r.qemu_probe)})` : '';
  const out = [`${r.name ? `${r.name} ` : ''}${printable(r.file)}: ${r.format}${guess}, ${humanBytes(r.size_bytes)}`];
  for (const b of r.backing_chain ?? []) out.push(`  backing file ${printable(b.file)} (${printable(b.format)})`);
  const t = r.partition_table;
  if (t) {
    out.push(`  ${printable(t.label)} partition table, ${t.sector_size}-byte sectors${t.partitions.length ? '' : ', no partitions'}` +
      `${t.rejected_by_sfdisk ? ' (sfdisk rejects it; its primary header, as imgplan reads it)' : ''}`);
    for (const p of t.partitions) {
      const where = `${humanBytes(p.start_bytes)} +${humanBytes(p.size_bytes)}`;
      const name = p.name ? ` "${printable(p.name)}"` : '';
      out.push(`    part${String(p.number).padEnd(3)} ${where.padEnd(22)} type ${printable(p.type).padEnd(6)}${name}  ${fsText(p.filesystem)}` +
        `${p.whole ? '' : '  (past the end of the image: truncated)'}`);
    }
  } else if (r.filesystem || !r.problems.length) {
    out.push(`  no partition table; the whole image: ${fsText(r.filesystem)}`);
  }
  for (const vg of r.vgs) {
    out.push(`  LVM volume group ${printable(vg.name)} (uuid ${printable(vg.uuid)}): PVs here ${vg.pvs.join(', ')} (${vg.pvs.length} of ${vg.pv_count})`);
    for (const lv of vg.lvs) {
      out.push(`    ${printable(vg.name)}/${printable(lv.name).padEnd(12)} ${humanBytes(lv.size_bytes).padEnd(10)} ${fsText(lv.filesystem)}`);
    }
  }
  for (const p of r.problems) out.push(`  problem: ${printable(p)}`);
  return out;
}

/** `imgplan inspect`'s text: each image, its table, partitions, filesystems and VGs. */
export function renderInspect(report: InspectReport): string {
  return `${report.images.map((r) => imageText(r).join('\n')).join('\n\n')}\n`;
}
