import type { GuestReport, WindowsIdentity } from '../core/guest.js';
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

/** A Windows guest: its product and version, then its names (each string as the registry has it, escaped). */
function windowsText(g: GuestReport, w: WindowsIdentity): string[] {
  const build = w.build !== undefined ? `build ${printable(w.build)}${w.ubr !== undefined ? `.${w.ubr}` : ''}` : undefined;
  const detail = [w.version, w.display_version].filter((x) => x !== undefined).map((x) => printable(x!));
  if (build) detail.push(build);
  const product = w.product_name !== undefined ? printable(w.product_name) : 'Windows (no ProductName)';
  const out = [`  guest on ${printable(g.root)}: ${product}${detail.length ? ` (${detail.join(', ')})` : ''}`];
  if (w.windows_11) out.push('    Windows 11: build 22000 or later (its registry still says Windows 10)');
  const names = [`computer name ${w.computer_name !== undefined ? printable(w.computer_name) : '(none found)'}`];
  if (w.hostname !== undefined && w.hostname.toLowerCase() !== w.computer_name?.toLowerCase()) names.push(`hostname ${printable(w.hostname)}`);
  if (w.domain) names.push(`domain ${printable(w.domain)}`);
  out.push(`    ${names.join('  ')}`);
  const kind = [w.edition_id ? `edition ${printable(w.edition_id)}` : '', w.installation_type ? `installation ${printable(w.installation_type)}` : '']
    .filter(Boolean);
  if (kind.length) out.push(`    ${kind.join('  ')}`);
  for (const n of g.network) {
    const what = [n.name ? printable(n.name) : '(an adapter)', ...n.addresses.map(printable), n.dhcp ? 'dhcp' : '',
      n.gateway ? `gateway ${printable(n.gateway)}` : ''].filter(Boolean).join('  ');
    out.push(`    network ${what}`);
  }
  out.push(`    registry ${printable(w.config)}${w.control_set ? ` (${printable(w.control_set)})` : ''}`);
  for (const p of g.problems) out.push(`    note: ${printable(p)}`);
  return out;
}

/** Who the guest is: its OS, names and network first, then its kernels and fstab. */
function guestText(g: GuestReport): string[] {
  if (g.windows) return windowsText(g, g.windows);
  const os = g.os ? printable(g.os.pretty_name ?? ([g.os.name, g.os.version].filter(Boolean).join(' ') || g.os.id || 'unknown')) : 'an unknown Linux';
  const out = [`  guest on ${printable(g.root)}${g.subvolume !== undefined ? ` (btrfs subvolume ${printable(g.subvolume)})` : ''}: ${os}`];
  out.push(`    hostname ${g.hostname ? printable(g.hostname) : '(none found)'}${g.machine_id ? `  machine-id ${printable(g.machine_id)}` : ''}`);
  for (const n of g.network) {
    const what = [n.name ? printable(n.name) : '(any interface)', n.mac ? `mac ${printable(n.mac)}` : '', ...n.addresses.map(printable),
      n.dhcp ? 'dhcp' : '', n.gateway ? `gateway ${printable(n.gateway)}` : ''].filter(Boolean).join('  ');
    out.push(`    network ${what}  (${printable(n.source)})`);
  }
  if (!g.network.length) out.push('    network: no configuration found');
  const kernels = g.kernels ?? [];
  out.push(`    kernels${g.boot ? ` (in ${printable(g.boot)})` : ''}: ${kernels.length ? kernels.map(printable).join(', ') : 'none found in /boot'}`);
  if (g.fstab) {
    out.push('    fstab:');
    for (const e of g.fstab) {
      const to = e.volume ? ` → ${printable(e.volume)}` : '';
      const opts = e.options.length ? ` ${printable(e.options.join(','))}` : '';
      out.push(`      ${printable(e.file).padEnd(14)} ${printable(e.spec)} ${printable(e.type)}${opts}${to}${e.note ? `  (${printable(e.note)})` : ''}`);
    }
  } else {
    out.push('    fstab: none');
  }
  for (const p of g.problems) out.push(`    note: ${printable(p)}`);
  return out;
}

function imageText(r: ImageReport): string[] {
  const guess = r.qemu_probe ? ` (QEMU's probe says ${printable(r.qemu_probe)})` : '';
  const out = [`${r.name ? `${r.name} ` : ''}${printable(r.file)}: ${r.format}${guess}, ${humanBytes(r.size_bytes)}`];
  for (const b of r.backing_chain ?? []) out.push(`  backing file ${printable(b.file)} (${printable(b.format)})`);
  for (const g of r.guests ?? []) out.push(...guestText(g));
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
  for (const b of r.btrfs ?? []) {
    const list = b.subvolumes.map((v) => `${printable(v.path)} (id ${v.id})`).join(', ') || 'none';
    const def = b.default ? (b.default.id === 5 ? 'the top level' : `${printable(b.default.path ?? '?')} (id ${b.default.id})`) : 'unknown';
    out.push(`  btrfs subvolumes of ${printable(b.volume)}: ${list}${b.truncated ? ', and more' : ''}; default: ${def}`);
  }
  for (const u of r.unread ?? []) out.push(`  files of ${printable(u.volume)} not read: ${printable(u.why)}`);
  for (const p of r.problems) out.push(`  problem: ${printable(p)}`);
  return out;
}

/** `imgplan inspect`'s text: each image, its table, partitions, filesystems and VGs. */
export function renderInspect(report: InspectReport): string {
  return `${report.images.map((r) => imageText(r).join('\n')).join('\n\n')}\n`;
}
