import { accessText, backendText, chainText, overlayGoneText } from './qemu.js';
import { rows, type KindWords } from './words.js';

export const exportWords: KindWords<'export'> = {
  create: 'export',
  delete: 'unexport',
  rows: (d) => (d.from === 'manifest'
    ? rows(
      { label: 'image', value: chainText(d.chain) },
      {
        label: 'backend',
        value: `qemu-storage-daemon serves the disk as a raw file over FUSE, read by loop devices (${backendText(d.backend, 'storage-daemon')})`,
      },
      { label: 'access', value: accessText(d.access) },
      { label: 'view', value: d.view },
    )
    : rows(
      { label: 'image', value: `${d.image} (${d.format})` },
      { label: 'view', value: d.view },
      d.daemonGone && { label: 'daemon', value: 'gone (its view is still mounted)' },
      d.overlay !== undefined && { label: 'overlay', value: overlayGoneText(d.overlay) },
    )),
};
