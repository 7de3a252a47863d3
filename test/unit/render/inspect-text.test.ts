import { describe, expect, it } from 'vitest';
import type { InspectReport } from '../../../src/core/inspect.js';
import { renderInspect } from '../../../src/render/inspect-text.js';

describe('inspect as text', () => {
  it('shows an image\'s strings as data: a label with terminal escapes and newlines is escaped, never acted on', () => {
    const report: InspectReport = {
      format_version: '1.1',
      images: [{
        file: '/srv/x.img', format: 'raw', size_bytes: 64 << 20, vgs: [{ name: 'vg\x1b]0;owned\x07', uuid: 'u', pvs: ['part1'], pv_count: 2, lvs: [] }], problems: [],
        partition_table: {
          label: 'gpt', sector_size: 512,
          partitions: [{ number: 1, start_bytes: 1 << 20, size_bytes: 8 << 20, type: '83', name: 'a\nb', whole: true, filesystem: { type: 'ext4', label: '\x1b[2J' } }],
        },
      }],
    };
    const text = renderInspect(report);
    expect(text).not.toMatch(/\x1b|\x07/);
    expect(text.split('\n').filter((l) => l.startsWith('    part1'))).toHaveLength(1);
    expect(text).toContain('PVs here part1 (1 of 2)');
  });
});
