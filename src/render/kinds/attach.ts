import { humanBytes } from '../../plan/format.js';
import type { AttachDetails } from '../../resources/attach.js';
import { partitionNodesText } from './qemu.js';
import { rows, type KindWords } from './words.js';

function method(d: Extract<AttachDetails, { from: 'manifest' }>): string {
  const size = humanBytes(d.imageSize);
  switch (d.method) {
    case 'whole-loop': return `loop device of the whole image (${size})`;
    case 'partscan-loop': return `loop device of the whole image with kernel partition scan (${size})`;
    case 'kpartx-loop': return `loop device of the whole image (${size}); kpartx maps its partitions`;
    case 'offset-loop': return `loop device of this partition only: offset ${d.offset}, size ${d.sizelimit}`;
  }
}

const ACCESS = { 'read-only': 'read-only', 'overlay': 'read-write (the writes go to the overlay)', 'read-write': 'read-write (--allow-writes)' } as const;

export const attachWords: KindWords<'attach'> = {
  create: 'attach',
  delete: 'detach',
  rows: (d) => {
    if (d.from === 'journal') return rows({ label: 'image', value: d.file }, { label: 'device', value: d.device });
    const p = d.partition;
    return rows(
      {
        label: 'image',
        value: d.via?.kind === 'export'
          ? `${d.via.file}, the raw view of ${d.image}`
          : d.via?.kind === 'nbd' ? `${d.via.file}, the nbd device of ${d.image}` : `${d.image} (${d.format})`,
      },
      p && { label: 'partition', value: `${p.number} of the ${p.table} table, sectors ${p.start}+${p.sectors} (${humanBytes(p.bytes)}), type ${p.type}` },
      d.method === 'partscan-loop' && { label: 'partitions', value: partitionNodesText(d.partitions) },
      { label: 'method', value: method(d) },
      { label: 'access', value: ACCESS[d.access] },
      { label: 'device', value: d.device },
    );
  },
};
