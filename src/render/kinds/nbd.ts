import { accessText, backendText, chainText, overlayGoneText, partitionNodesText } from './qemu.js';
import { rows, type KindWords } from './words.js';

export const nbdWords: KindWords<'nbd'> = {
  create: 'connect',
  delete: 'disconnect',
  rows: (d) => {
    if (d.from === 'journal') {
      return rows(
        { label: 'image', value: `${d.image} (${d.format})` },
        { label: 'device', value: d.device },
        d.overlay !== undefined && { label: 'overlay', value: overlayGoneText(d.overlay) },
      );
    }
    const module = d.module.load ? `the module is loaded first, with max_part=${d.module.maxPart}` : `module loaded with max_part=${d.module.maxPart}`;
    return rows(
      { label: 'image', value: chainText(d.chain) },
      { label: 'backend', value: `qemu-nbd connects ${d.device} (${backendText(d.backend, 'nbd')}; ${module})` },
      d.partitions.length > 0 && { label: 'partitions', value: partitionNodesText(d.partitions) },
      { label: 'access', value: accessText(d.access) },
      { label: 'device', value: d.device },
    );
  },
};
