import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { executePlan } from '../../../src/apply/executor.js';
import { makePlan } from '../../../src/core/make-plan.js';
import type { Plan } from '../../../src/plan/types.js';
import type { Command, CommandResult, PathInfo, Runner } from '../../../src/runner/runner.js';
import { manifestFor, observed } from '../golden-support.js';

type Script = { argv: string[]; result: Partial<CommandResult> }[];

/** Replays scripted results and checks the commands arrive in exactly that order. */
class ScriptedRunner implements Runner {
  readonly seen: string[] = [];
  readonly fd3: Command['dirFd3'][] = [];
  constructor(private readonly script: Script, private readonly paths: Readonly<Record<string, PathInfo>> = {}) {}
  async run(cmd: Command): Promise<CommandResult> {
    this.seen.push(cmd.argv.join(' '));
    if (cmd.dirFd3) this.fd3.push(cmd.dirFd3);
    const next = this.script.shift();
    if (!next) throw new Error(`unexpected command: ${cmd.argv.join(' ')}`);
    expect(cmd.argv.join(' ')).toBe(next.argv.join(' '));
    return { argv: cmd.argv, exitCode: 0, stdout: '', stderr: '', ...next.result };
  }
  async readText(_path: string): Promise<string | undefined> {
    return undefined;
  }
  async inspectPath(path: string): Promise<PathInfo> {
    return this.paths[path] ?? { kind: 'missing' };
  }
  async readBytes(): Promise<Uint8Array | undefined> {
    return undefined;
  }
}

const G = '/tmp/imgplan-golden';
let dir: string;
beforeEach(() => {
  dir = mkdtempSync('/tmp/imgplan-unit-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function freshPlan(): Promise<Plan> {
  const { manifest } = manifestFor('rescue/fresh');
  return makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
}

const ok = (stdout = '') => ({ result: { stdout } });
const fail = (stderr: string) => ({ result: { exitCode: 32, stderr, failure: 'exit-code' as const } });

/** The fresh plan's first six steps succeed: three loop devices, then the mountpoint directories. */
const attachesAndDirs = (): Script => [
      { argv: ['losetup', '--find', '--show', '--read-only', `${G}/data.img`], ...ok('/dev/loop4\n') },
      { argv: ['losetup', '--find', '--show', '--read-only', '--offset', '1048576', '--sizelimit', '16777216', `${G}/web01.img`], ...ok('/dev/loop5\n') },
      { argv: ['losetup', '--find', '--show', '--read-only', '--offset', '26214400', '--sizelimit', '393216000', `${G}/web01.img`], ...ok('/dev/loop6\n') },
      { argv: ['mkdir', '--mode=0700', `${G}/mnt`], ...ok() },
      { argv: ['mkdir', '--mode=0700', `${G}/mnt/data`], ...ok() },
      { argv: ['mkdir', '--mode=0700', `${G}/mnt/web01`], ...ok() },
];

describe('executor', () => {
  it('runs the plan in order, fills in devices, and journals each object', async () => {
    const plan = await freshPlan();
    const runner = new ScriptedRunner([
      ...attachesAndDirs(),
      { argv: ['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', '/dev/loop4', `${G}/mnt/data`], ...ok() },
      { argv: ['mount', '-t', 'xfs', '-o', 'ro,norecovery,nosuid,nodev,noexec', '/dev/loop6', `${G}/mnt/web01`], ...ok() },
      { argv: ['mount', '-c', '-i', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', '/dev/loop5', '/proc/self/fd/3/'], ...ok() },
    ], { [`${G}/mnt/web01/boot`]: { kind: 'directory', empty: true } });
    const journalPath = join(dir, 'journal', 'x.json');
    const r = await executePlan(plan, { runner, journalPath, onEvent: () => {} });
    expect(r.ok).toBe(true);
    // the nested mount gets the directory opened inside the guest's tree, not a path to resolve again
    expect(runner.fd3).toEqual([{ base: `${G}/mnt/web01`, path: `${G}/mnt/web01/boot` }]);
    const j = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { address: string; device?: string; source?: string }[] };
    expect(j.entries.map((e) => e.address)).toEqual(plan.actions.map((a) => a.address));
    expect(j.entries.find((e) => e.address === 'attach:web01/part3')!.device).toBe('/dev/loop6');
    expect(j.entries.find((e) => e.address === `mount:${G}/mnt/web01`)!.source).toBe('/dev/loop6');
  });

  it('a nested mountpoint that the just-mounted guest tree makes a symlink is refused right before the mount, and all is undone', async () => {
    const plan = await freshPlan();
    const runner = new ScriptedRunner([
      ...attachesAndDirs(),
      { argv: ['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', '/dev/loop4', `${G}/mnt/data`], ...ok() },
      { argv: ['mount', '-t', 'xfs', '-o', 'ro,norecovery,nosuid,nodev,noexec', '/dev/loop6', `${G}/mnt/web01`], ...ok() },
      // no mount of the guest's /boot: the guest's boot leads to the host's /etc
      { argv: ['umount', `${G}/mnt/web01`], ...ok() },
      { argv: ['umount', `${G}/mnt/data`], ...ok() },
      { argv: ['rmdir', `${G}/mnt/web01`], ...ok() },
      { argv: ['rmdir', `${G}/mnt/data`], ...ok() },
      { argv: ['rmdir', `${G}/mnt`], ...ok() },
      { argv: ['losetup', '--detach', '/dev/loop6'], ...ok() },
      { argv: ['losetup', '--detach', '/dev/loop5'], ...ok() },
      { argv: ['losetup', '--detach', '/dev/loop4'], ...ok() },
    ], { [`${G}/mnt/web01/boot`]: { kind: 'directory', empty: false, link: '/etc' } });
    const r = await executePlan(plan, { runner, journalPath: join(dir, 'journal', 'x.json'), onEvent: () => {} });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({
      address: `mount:${G}/mnt/web01/boot`,
      message: `${G}/mnt/web01/boot is a symlink in the guest's filesystem (to /etc): imgplan never mounts through one`,
    });
    expect(runner.seen.filter((c) => c.includes('/mnt/web01/boot'))).toEqual([]);
    expect(r.leftBehind).toEqual([]);
  });

  it('on a failed step undoes this run in reverse and reports the three lists', async () => {
    const plan = await freshPlan();
    const runner = new ScriptedRunner([
      ...attachesAndDirs(),
      { argv: ['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', '/dev/loop4', `${G}/mnt/data`], ...fail('mount: wrong fs type') },
      { argv: ['rmdir', `${G}/mnt/web01`], ...ok() },
      { argv: ['rmdir', `${G}/mnt/data`], ...ok() },
      { argv: ['rmdir', `${G}/mnt`], ...ok() },
      { argv: ['losetup', '--detach', '/dev/loop6'], ...ok() },
      { argv: ['losetup', '--detach', '/dev/loop5'], ...fail('losetup: /dev/loop5: detach failed: Device or resource busy') },
      // busy undo steps are retried
      { argv: ['losetup', '--detach', '/dev/loop5'], ...ok() },
      { argv: ['losetup', '--detach', '/dev/loop4'], ...fail('losetup: /dev/loop4: failed to use device: No such device') },
    ]);
    const journalPath = join(dir, 'journal', 'x.json');
    const events: string[] = [];
    const r = await executePlan(plan, { runner, journalPath, onEvent: (e) => events.push(e.type), sleep: async () => {} });
    expect(r.ok).toBe(false);
    expect(events.slice(-9)).toEqual(['step_errored', 'rollback_start', 'rollback_step', 'rollback_step', 'rollback_step', 'rollback_step', 'step_retry', 'rollback_step', 'rollback_step']);
    expect(r.failure).toMatchObject({ address: `mount:${G}/mnt/data`, message: 'mount: wrong fs type' });
    expect(r.rolledBack.map((x) => x.split(':')[0])).toEqual(['dir', 'dir', 'dir', 'attach', 'attach']);
    expect(r.leftBehind).toHaveLength(1);
    expect(r.leftBehind[0]).toMatch(/^attach:data: losetup .* \(undo failed: losetup: \/dev\/loop4: failed to use device/);
    const j = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { address: string }[] };
    expect(j.entries.map((e) => e.address)).toEqual(['attach:data']);
  });

  it('a clean rollback leaves no journal behind', async () => {
    const plan = await freshPlan();
    const runner = new ScriptedRunner([
      { argv: ['losetup', '--find', '--show', '--read-only', `${G}/data.img`], ...fail('losetup: cannot find an unused loop device') },
    ]);
    const journalPath = join(dir, 'journal', 'x.json');
    const r = await executePlan(plan, { runner, journalPath, onEvent: () => {} });
    expect(r).toMatchObject({ ok: false, kept: [], rolledBack: [], leftBehind: [] });
    expect(existsSync(journalPath)).toBe(false);
  });

  it('LVM\'s "in use" is retried like "busy" (an LV udev still probes right after the unmount)', async () => {
    const argv = ['vgchange', '--activate', 'n', '--devices', '/dev/loop0p2', '--select', 'vg_uuid=Ab12Cd-0000-0000-0000-0000-0000-000000'];
    const plan: Plan = {
      formatVersion: 2, mode: 'destroy', manifest: { path: `${G}/rescue.yaml`, sha256: 'x' },
      context: { kernel: '6.1.0', udev: false, partscan: { labels: [], evidence: '' }, writableImages: [] },
      actions: [{ address: 'vg:web01/VolGroup', kind: 'vg', action: 'delete', replace: false, reason: 'destroy', dependsOn: [],
        details: { from: 'journal', name: 'VolGroup', uuid: 'Ab12Cd-0000-0000-0000-0000-0000-000000', pvs: ['/dev/loop0p2'] },
        steps: [{ argv, retryBusy: true, journal: { op: 'forget', address: 'vg:web01/VolGroup' } }] }],
      unchanged: [], warnings: [], forget: [],
    };
    const runner = new ScriptedRunner([{ argv, ...fail('  Logical volume VolGroup/lv_root in use.') }, { argv, ...ok() }]);
    const events: string[] = [];
    const r = await executePlan(plan, { runner, journalPath: join(dir, 'journal', 'x.json'), onEvent: (e) => events.push(e.type), sleep: async () => {} });
    expect(r.ok).toBe(true);
    expect(events).toEqual(['step_start', 'step_retry', 'step_complete']);
  });

  it('qemu-nbd: the device chosen at plan time fills in the refs; late partitions get one re-read of the table, then a wait', async () => {
    const connect = ['qemu-nbd', '--read-only', '--format=qcow2', '--pid-file=/run/p', '--connect=/dev/nbd2', '/srv/g.qcow2'];
    const plan: Plan = {
      formatVersion: 2, mode: 'apply', manifest: { path: `${G}/q.yaml`, sha256: 'x' },
      context: { kernel: '6.1.0', udev: false, partscan: { labels: ['dos'], evidence: '' }, writableImages: [] },
      actions: [
        { address: 'nbd:g', kind: 'nbd', action: 'create', replace: false, reason: 'missing', dependsOn: [],
          details: { from: 'journal', image: '/srv/g.qcow2', format: 'qcow2', device: '/dev/nbd2' },
          steps: [{ argv: connect, produces: { ref: 'nbd:g', attr: 'device' }, producesValue: '/dev/nbd2', undo: ['qemu-nbd', '--disconnect', '/dev/nbd2'],
            waitFor: ['/sys/block/nbd2/pid', { ref: 'nbd:g', attr: 'p2' }], rescan: '/dev/nbd2',
            journal: { op: 'record', entry: { kind: 'nbd', address: 'nbd:g', dependsOn: [], device: '/dev/nbd2', pidfile: '/run/p', image: '/srv/g.qcow2', format: 'qcow2', file: '/srv/g.qcow2', writable: false } } }] },
        { address: `mount:${G}/m`, kind: 'mount', action: 'create', replace: false, reason: 'missing', dependsOn: ['nbd:g'],
          details: { from: 'journal', source: '/dev/nbd2p2', target: `${G}/m` },
          steps: [{ argv: ['mount', '-t', 'ext4', '-o', 'ro,noload', { ref: 'nbd:g', attr: 'p2' }, `${G}/m`], undo: ['umount', `${G}/m`],
            journal: { op: 'record', entry: { kind: 'mount', address: `mount:${G}/m`, dependsOn: ['nbd:g'], target: `${G}/m`, source: { ref: 'nbd:g', attr: 'p2' }, fstype: 'ext4' } } }] },
      ],
      unchanged: [], warnings: [], forget: [],
    };
    // the partition node shows up only once the table is re-read (nbd without udev, field-notes G10)
    let reread = false;
    const runner = new (class extends ScriptedRunner {
      override async run(cmd: Command): Promise<CommandResult> {
        if (cmd.argv[0] === 'blockdev') reread = true;
        return super.run(cmd);
      }
      override async inspectPath(path: string): Promise<PathInfo> {
        return { kind: path === '/sys/block/nbd2/pid' || (path === '/dev/nbd2p2' && reread) ? 'file' : 'missing' };
      }
    })([
      { argv: connect, ...ok() },
      { argv: ['blockdev', '--rereadpt', '/dev/nbd2'], ...ok() },
      { argv: ['mount', '-t', 'ext4', '-o', 'ro,noload', '/dev/nbd2p2', `${G}/m`], ...ok() },
    ]);
    const journalPath = join(dir, 'journal', 'x.json');
    const r = await executePlan(plan, { runner, journalPath, onEvent: () => {} });
    expect(r.ok, JSON.stringify(r.failure)).toBe(true);
    const j = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { address: string; device?: string; source?: string }[] };
    expect(j.entries.map((e) => [e.address, e.device ?? e.source])).toEqual([['nbd:g', '/dev/nbd2'], [`mount:${G}/m`, '/dev/nbd2p2']]);
  });

  describe('intent before action', () => {
    /** A fresh plan's first attach, a loop device of a whole image that the kernel must scan for partition 2. */
    const scanPlan = (): Plan => {
      const device = { ref: 'attach:s', attr: 'device' };
      const intent = { kind: 'attach' as const, address: 'attach:s', dependsOn: [], file: '/srv/s.img', backDev: '8:1', backIno: 7, offset: 0,
        sizelimit: 0, readOnly: true, partscan: true };
      return {
        formatVersion: 2, mode: 'apply', manifest: { path: `${G}/s.yaml`, sha256: 'x' },
        context: { kernel: '6.1.0', udev: false, partscan: { labels: ['dos'], evidence: '' }, writableImages: [] },
        actions: [{ address: 'attach:s', kind: 'attach', action: 'create', replace: false, reason: 'missing', dependsOn: [],
          details: { from: 'journal', file: '/srv/s.img', device: '/dev/loop7' },
          steps: [{ argv: ['losetup', '--find', '--show', '--read-only', '--partscan', '/srv/s.img'], produces: device, undo: ['losetup', '--detach', device],
            waitFor: [{ ref: 'attach:s', attr: 'p2' }], intent,
            reads: [{ field: 'diskseq', path: { concat: ['/sys/block/', { ref: 'attach:s', attr: 'name' }, '/diskseq'] } }],
            journal: { op: 'record', entry: { ...intent, device } } }] }],
        unchanged: [], warnings: [], forget: [],
      };
    };
    const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as { entries: Record<string, unknown>[]; intents: Record<string, unknown>[] };

    it('journals what a step is about to make before it runs, then the entry (with the loop\'s diskseq) in its place', async () => {
      const plan = await freshPlan();
      const journalPath = join(dir, 'journal', 'x.json');
      const during: ReturnType<typeof read>[] = [];
      const runner = new (class extends ScriptedRunner {
        override async run(cmd: Command): Promise<CommandResult> {
          during.push(read(journalPath));
          return super.run(cmd);
        }
        override async readText(path: string): Promise<string | undefined> {
          return path === '/sys/block/loop4/diskseq' ? '57\n' : undefined;
        }
      })([
        { argv: ['losetup', '--find', '--show', '--read-only', `${G}/data.img`], ...ok('/dev/loop4\n') },
        { argv: ['losetup', '--find', '--show', '--read-only', '--offset', '1048576', '--sizelimit', '16777216', `${G}/web01.img`],
          ...fail('losetup: cannot find an unused loop device') },
        { argv: ['losetup', '--detach', '/dev/loop4'], ...ok() },
      ]);
      const r = await executePlan(plan, { runner, journalPath, onEvent: () => {} });
      expect(r.ok).toBe(false);
      // while losetup runs, the journal says what it is making: everything but the device it will print
      expect(during[0]).toMatchObject({ entries: [], intents: [{ kind: 'attach', address: 'attach:data', file: `${G}/data.img`, offset: 0, sizelimit: 0 }] });
      expect(during[0]!.intents[0]).not.toHaveProperty('device');
      expect(during[1]).toMatchObject({
        entries: [{ address: 'attach:data', device: '/dev/loop4', diskseq: 57 }],
        intents: [{ address: 'attach:web01/part1', offset: 1048576, sizelimit: 16777216 }],
      });
      // the failed losetup made nothing: its intent is gone, and the rollback took the rest
      expect(during[2]).toMatchObject({ entries: [{ address: 'attach:data' }], intents: [] });
      expect(existsSync(journalPath)).toBe(false);
    });

    it('a wait that fails finds the step journaled: a failed undo is truly left in the journal for destroy', async () => {
      const journalPath = join(dir, 'journal', 'x.json');
      const runner = new ScriptedRunner([
        { argv: ['losetup', '--find', '--show', '--read-only', '--partscan', '/srv/s.img'], ...ok('/dev/loop7\n') },
        { argv: ['losetup', '--detach', '/dev/loop7'], ...fail('losetup: /dev/loop7: detach failed: Device or resource busy') },
        ...Array.from({ length: 2 }, () => ({ argv: ['losetup', '--detach', '/dev/loop7'], ...fail('losetup: /dev/loop7: detach failed: Device or resource busy') })),
      ]);
      const r = await executePlan(scanPlan(), { runner, journalPath, onEvent: () => {}, partitionWaitMs: 0, busyDelaysMs: [0, 0], sleep: async () => {} });
      expect(r.failure?.message).toBe('device node /dev/loop7p2 did not appear within 0 s');
      expect(r.leftBehind).toEqual(['attach:s: losetup --find --show --read-only --partscan /srv/s.img (undo failed: losetup: /dev/loop7: detach failed: ' +
        'Device or resource busy; still recorded in the journal for destroy)']);
      expect(read(journalPath)).toMatchObject({ entries: [{ address: 'attach:s', device: '/dev/loop7' }], intents: [] });
    });

    it('a wait that fails, undone: nothing is left in the journal', async () => {
      const journalPath = join(dir, 'journal', 'x.json');
      const runner = new ScriptedRunner([
        { argv: ['losetup', '--find', '--show', '--read-only', '--partscan', '/srv/s.img'], ...ok('/dev/loop7\n') },
        { argv: ['losetup', '--detach', '/dev/loop7'], ...ok() },
      ]);
      const r = await executePlan(scanPlan(), { runner, journalPath, onEvent: () => {}, partitionWaitMs: 0 });
      expect(r).toMatchObject({ ok: false, rolledBack: ['attach:s: losetup --find --show --read-only --partscan /srv/s.img'], leftBehind: [] });
      expect(existsSync(journalPath)).toBe(false);
    });

    it('a step stopped at its time limit may have made its object: the intent stays, and the run says so (left behind)', async () => {
      const journalPath = join(dir, 'journal', 'x.json');
      const runner = new ScriptedRunner([
        { argv: ['losetup', '--find', '--show', '--read-only', '--partscan', '/srv/s.img'], result: { exitCode: undefined, failure: 'timed-out' } },
      ]);
      const r = await executePlan(scanPlan(), { runner, journalPath, onEvent: () => {} });
      expect(r.leftBehind).toEqual(['attach:s: losetup --find --show --read-only --partscan /srv/s.img (stopped after its time limit: it may have ' +
        'made it; recorded as an intent in the journal, which the next plan or destroy resolves)']);
      expect(read(journalPath)).toMatchObject({ entries: [], intents: [{ address: 'attach:s', partscan: true }] });
    });
  });
});
