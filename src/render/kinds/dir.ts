import { rows, type KindWords } from './words.js';

export const dirWords: KindWords<'dir'> = {
  create: 'mkdir',
  delete: 'rmdir',
  rows: (d) => rows({ label: 'path', value: d.path }),
  reasons: { missing: 'mountpoint directory does not exist' },
};
