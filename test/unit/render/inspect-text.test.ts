import { describe, expect, it } from 'vitest';
import type { InspectReport } from '../../../src/core/inspect.js';
import { renderInspect } from '../../../src/render/inspect-text.js';

describe('inspect as text', () => {
  it('shows an image\'s strings as data: a label with terminal escapes and newlines is escaped, never acted on', () => {
    const report: InspectReport = {
      format_version: '1.2',
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

  it('btrfs subvolumes: the guest\'s names escaped, the default named', () => {
    const report: InspectReport = {
      format_version: '1.2',
      images: [{
        file: '/srv/u.img', format: 'raw', size_bytes: 64 << 20, vgs: [], problems: [], filesystem: { type: 'btrfs' },
        btrfs: [{ volume: 'whole', subvolumes: [{ id: 256, path: '@' }, { id: 257, path: 'x\x1b[2Jy' }], default: { id: 256, path: '@' }, truncated: true }],
      }],
    };
    expect(renderInspect(report)).toContain('  btrfs subvolumes of whole: @ (id 256), x\\e[2Jy (id 257), and more; default: @ (id 256)\n');
  });

  it('a Windows guest first: product, version and build, then its names; the registry\'s strings escaped', () => {
    const report: InspectReport = {
      format_version: '1.2',
      images: [{
        file: '/srv/w.img', format: 'raw', size_bytes: 64 << 20, vgs: [], problems: [],
        guests: [{
          kind: 'windows', root: 'part3', network: [], problems: ['SOFTWARE x: hivexget failed: \x1b[31m'],
          windows: {
            product_name: 'Windows 10 Pro\x1b]0;owned\x07\nfake line', version: '10.0', display_version: '23H2', build: '22631', ubr: 2861,
            windows_11: true, computer_name: 'WIN\x1b[2J', hostname: 'win-dns', domain: 'corp.example', edition_id: 'Professional',
            installation_type: 'Client', config: '/WINDOWS/system32/CONFIG', control_set: 'ControlSet002',
          },
        }],
      }],
    };
    const text = renderInspect(report);
    expect(text).not.toMatch(/\x1b|\x07/);
    expect(text).toContain('  guest on part3: Windows 10 Pro\\e]0;owned\\x07\\nfake line (10.0, 23H2, build 22631.2861)\n');
    expect(text).toContain('    Windows 11: build 22000 or later (its registry still says Windows 10)\n');
    expect(text).toContain('    computer name WIN\\e[2J  hostname win-dns  domain corp.example\n');
    expect(text).toContain('    edition Professional  installation Client\n    registry /WINDOWS/system32/CONFIG (ControlSet002)\n');
    expect(text).toContain('    note: SOFTWARE x: hivexget failed: \\e[31m\n');
  });
});
