import { rows, type KindWords } from './words.js';

export const vgWords: KindWords<'vg'> = {
  create: 'activate',
  delete: 'deactivate',
  rows: (d) => {
    if (d.from === 'journal') return rows({ label: 'volume', value: `LVM VG ${d.name}, uuid ${d.uuid}` }, { label: 'PVs', value: d.pvs.join(', ') });
    const method = d.mode === 'lvm'
      ? `LVM activates the LVs${d.readOnly ? ' read-only' : ''}, every command limited to the PVs with --devices`
      : `name clash: imgplan maps the LVs itself${d.readOnly ? ', read-only,' : ''} from the guest's metadata (LVM never activates this VG)`;
    return rows(
      { label: 'volume', value: `LVM VG ${d.name}, uuid ${d.uuid}, metadata seqno ${d.seqno}` },
      ...d.clash.map((c) => ({ label: 'clash', value: `the host has a VG named ${c.name} too (uuid ${c.uuid})` })),
      { label: 'PVs', value: d.pvs.map((p) => `${p.image}/${p.storage}${p.device !== undefined ? ` (${p.device})` : ''}`).join(', ') },
      { label: 'LVs', value: d.lvs.map((lv) => `${lv.name} → ${lv.device}`).join(', ') },
      { label: 'method', value: method },
    );
  },
  reasons: { adopt: 'already active over imgplan\'s devices (udev activated it on attach): imgplan takes it over' },
};
