import { describe, expect, it } from 'vitest';
import { execStatus } from '../../../src/cli/exec.js';
import { EXIT, ImgplanError } from '../../../src/errors.js';
import { loadManifest } from '../../../src/manifest/load.js';
import type { Manifest } from '../../../src/manifest/types.js';
import { commandStatus, execManifest, execSetting, mountVariable, type CommandEnd, type ExecPhase } from '../../../src/operation/index.js';
import { recordedStates } from './support.js';

function manifest(mounts: string): Manifest {
  const r = loadManifest({ path: '/srv/m.yaml', allowWrites: false, text: `version: 1\nimages:\n  web01: { file: a.img, format: raw }\n  web-01: { file: b.img, format: raw }\n  web_01: { file: c.img, format: raw }\nmounts:\n${mounts}` });
  if (!r.manifest) throw new Error(JSON.stringify(r.diagnostics));
  return r.manifest;
}

describe('exec: where the command runs and what it is told', () => {
  it('the guest root is the first mount no other mount contains, whatever the order in the file', () => {
    const s = execSetting(manifest(`  - { what: web01/part1, where: /mnt/w/boot }
  - { what: web01/VolGroup/lv_root, where: /mnt/w }
  - { what: web-01, where: /mnt/other }
`));
    expect(s.cwd).toBe('/mnt/w');
    expect(s.env).toEqual({
      IMGPLAN_MANIFEST: '/srv/m.yaml', IMGPLAN_ROOT: '/mnt/w',
      IMGPLAN_MOUNT_WEB01_PART1: '/mnt/w/boot', IMGPLAN_MOUNT_WEB01_VOLGROUP_LV_ROOT: '/mnt/w', IMGPLAN_MOUNT_WEB_01: '/mnt/other',
    });
    expect(s.unnamed).toEqual([]);
  });

  it('a sibling path that only starts like another (/mnt/w2 beside /mnt/w) is not inside it', () => {
    expect(execSetting(manifest(`  - { what: web01, where: /mnt/w2 }\n  - { what: web-01, where: /mnt/w }\n`)).cwd).toBe('/mnt/w2');
  });

  it('two mounts whose variable names clash get none, and are reported', () => {
    const s = execSetting(manifest(`  - { what: web-01, where: /mnt/a }\n  - { what: web_01, where: /mnt/b }\n`));
    expect(mountVariable('web-01')).toBe(mountVariable('web_01'));
    expect(Object.keys(s.env).filter((k) => k.startsWith('IMGPLAN_MOUNT_'))).toEqual([]);
    expect(s.unnamed).toEqual(['/mnt/a', '/mnt/b']);
    expect(s.env.IMGPLAN_ROOT).toBe('/mnt/a');
  });

  it('a name from the manifest never makes anything but a plain variable name', () => {
    expect(mountVariable('web01/vg$(x)/lv;rm -rf')).toMatch(/^IMGPLAN_MOUNT_[A-Z0-9_]+$/);
  });
});

describe('exec: exit status', () => {
  const ran = (end: CommandEnd, destroy: 'applied' | 'left-behind' = 'applied') => execStatus({ phase: 'ran', end, destroy }, undefined);

  it('the command\'s, as a shell reports it, once the guest is closed', () => {
    expect(ran({ kind: 'exited', code: 0 })).toBe(0);
    expect(ran({ kind: 'exited', code: 7 })).toBe(7);
    expect(ran({ kind: 'signalled', signal: 'SIGTERM', number: 15 })).toBe(143);
    expect(ran({ kind: 'not-started', code: 'ENOENT', message: 'not found' })).toBe(127);
    expect(ran({ kind: 'not-started', code: 'EACCES', message: 'permission denied' })).toBe(126);
    expect(commandStatus({ kind: 'signalled', signal: 'SIGKILL', number: 9 })).toBe(137);
  });

  it('125 when imgplan failed: teardown left something, or the guest could not be opened', () => {
    expect(ran({ kind: 'exited', code: 0 }, 'left-behind')).toBe(EXIT.execFailed);
    for (const outcome of ['invalid', 'cancelled', 'failed-cleanly', 'left-behind', 'not-converged'] as const) {
      expect(execStatus({ phase: 'apply', outcome }, undefined)).toBe(125);
    }
  });

  it('a signal before the command: 130 / 143 once the guest is closed, 125 if it is not', () => {
    expect(execStatus({ phase: 'apply', outcome: 'interrupted' }, 'SIGINT')).toBe(130);
    expect(execStatus({ phase: 'apply', outcome: 'terminated' }, 'SIGTERM')).toBe(143);
    expect(execStatus({ phase: 'apply', outcome: 'cancelled' }, 'SIGTERM')).toBe(143);
    expect(execStatus({ phase: 'stopped', signal: 'SIGHUP', destroy: 'applied' }, 'SIGHUP')).toBe(129);
    expect(execStatus({ phase: 'stopped', signal: 'SIGINT', destroy: 'left-behind' }, 'SIGINT')).toBe(125);
  });
});

describe('exec over recorded states', () => {
  const at = recordedStates();
  const options = (ran: string[], phases: ExecPhase[] = []) => ({
    approve: async () => true, stopRequested: () => undefined, onPhase: (p: ExecPhase) => phases.push(p),
    run: async () => {
      ran.push('command');
      return { kind: 'exited', code: 0 } as const;
    },
  });

  it('a manifest already applied is refused before anything changes: exec would take down what it did not make', async () => {
    const h = at('rescue/applied');
    const ran: string[] = [];
    const e = await execManifest(h.ctx, h.manifest(), options(ran)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ImgplanError);
    expect((e as ImgplanError).message).toMatch(/is already applied \(its journal holds .*mount:\/tmp\/imgplan-golden\/mnt\/web01.*\); exec would take that down/);
    expect(ran).toEqual([]);
    expect(h.mutations).toEqual([]);
  });

  it('a failed apply: the command is not run and the teardown is not needed (everything was rolled back)', async () => {
    const h = at('rescue/fresh');
    const ran: string[] = [];
    const phases: ExecPhase[] = [];
    const r = await execManifest(h.ctx, h.manifest(), options(ran, phases));
    expect(r).toEqual({ phase: 'apply', outcome: 'failed-cleanly' });
    expect(ran).toEqual([]);
    expect(phases).toEqual([]);
  });

  it('a signal while planning: nothing is started, the command is not run', async () => {
    const h = at('rescue/fresh');
    const ran: string[] = [];
    const r = await execManifest(h.ctx, h.manifest(), { ...options(ran), stopRequested: () => 'SIGTERM' });
    expect(r).toEqual({ phase: 'apply', outcome: 'cancelled' });
    expect(execStatus(r, 'SIGTERM')).toBe(143);
    expect(ran).toEqual([]);
    expect(h.mutations).toEqual([]);
  });

  it('a saved plan is refused: exec plans and approves the whole run itself', async () => {
    const h = at('rescue/fresh');
    const e = await execManifest(h.ctx, { path: '/tmp/x.plan', text: '{"format": "imgplan-saved-plan"}' }, options([])).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ImgplanError);
  });
});
