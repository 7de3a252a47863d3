import { rows, type KindWords } from './words.js';

export const partmapWords: KindWords<'partmap'> = {
  create: 'map',
  delete: 'unmap',
  rows: (d) => (d.from === 'manifest'
    ? rows(
      { label: 'partitions', value: `${d.partitions.map((n) => `part${n}`).join(', ')} of the ${d.table} table, as /dev/mapper/<loop>pN` },
      { label: 'loop', value: d.device },
    )
    : rows({ label: 'loop', value: d.device }, { label: 'maps', value: d.maps.join(', ') })),
};
