/**
 * QEMU images on this machine's kernel, which has no nbd: qemu-storage-daemon exports each
 * image as a raw file over FUSE, and loop devices read that view (the VM lane runs the same
 * through nbd). Images come from test/support/qemu-disk.sh; every image's sha256 is compared
 * before and after, and the leak guard also catches daemons and FUSE views left behind.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, isRoot, sh, sha256, useSandbox } from './harness.js';
import { read, runProtocol } from './protocol.js';

const sb = useSandbox();
const canQemu = isRoot && existsSync('/usr/bin/qemu-storage-daemon') && existsSync('/dev/fuse');

describe.skipIf(!canQemu)('QEMU images through qemu-storage-daemon (no nbd on this kernel)', () => {
  it('qcow2 with a backing file, vmdk, vdi, vhdx and vpc: apply twice, destroy twice, every image unchanged', async () => {
    await sb.qemuDisk('chain', sb.path('base.qcow2'), sb.path('top.qcow2'));
    await sb.qemuDisk('convert', 'vmdk', sb.path('disk.vmdk'));
    await sb.qemuDisk('whole', 'vdi', sb.path('data.vdi'));
    await sb.qemuDisk('whole', 'vhdx', sb.path('hyperv.vhdx'));
    await sb.qemuDisk('convert', 'vpc', sb.path('virtualpc.vhd'));
    const m = sb.writeManifest('q.yaml', `version: 1
images:
  top: { file: top.qcow2, format: qcow2 }
  disk: { file: disk.vmdk, format: vmdk }
  data: { file: data.vdi, format: vdi }
  hyperv: { file: hyperv.vhdx, format: vhdx }
  virtualpc: { file: virtualpc.vhd, format: vpc }
mounts:
  - { what: top/part2, where: ${sb.path('mnt/top')} }
  - { what: top/part1, where: ${sb.path('mnt/top-boot')} }
  - { what: disk/part2, where: ${sb.path('mnt/disk')} }
  - { what: data, where: ${sb.path('mnt/data')} }
  - { what: hyperv, where: ${sb.path('mnt/hyperv')} }
  - { what: virtualpc/part1, where: ${sb.path('mnt/virtualpc')} }
`);
    const plan = await sb.imgplan(['plan', m]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`image      ${sb.path('top.qcow2')} (qcow2, 64.0 MiB virtual) → backing ${sb.path('base.qcow2')} (qcow2)`);
    expect(plan.stdout).toMatch(/backend +qemu-storage-daemon serves the disk as a raw file over FUSE, read by loop devices \(no nbd: /);
    expect(plan.stdout).toMatch(/\$ qemu-storage-daemon --blockdev driver=file,node-name=file0,filename=\S+\/top\.qcow2,read-only=on --blockdev driver=qcow2,node-name=disk0,file=file0,read-only=on --export type=fuse,id=view0,node-name=disk0,mountpoint=\S+\/top\.raw,writable=off/);
    expect(plan.stdout).toContain('Plan: 24 to add, 0 to change, 0 to destroy. No image will be written.');
    // plan's own look inside went through a probe view (qemu-img, no daemon) that is gone again
    expect(readdirSync(join(sb.stateDir, 'probe'))).toEqual([]);
    expect(await sb.leaks()).toEqual([]);
    await runProtocol(sb, {
      manifest: m,
      images: ['base.qcow2', 'top.qcow2', 'disk.vmdk', 'data.vdi', 'hyperv.vhdx', 'virtualpc.vhd'].map((f) => sb.path(f)),
      createdDirs: [sb.path('mnt')],
      whileApplied: async () => {
        expect(read(sb.path('mnt/top/etc/motd'))).toBe('from the top layer\n');
        expect(read(sb.path('mnt/top/etc/hostname'))).toBe('guest\n');
        expect(read(sb.path('mnt/top-boot/grub/grub.cfg'))).toBe('default=0\n');
        expect(read(sb.path('mnt/disk/etc/hostname'))).toBe('guest\n');
        expect(read(sb.path('mnt/data/srv/www/index.html'))).toBe('<h1>ok</h1>\n');
        expect(read(sb.path('mnt/hyperv/srv/www/index.html'))).toBe('<h1>ok</h1>\n');
        expect(read(sb.path('mnt/virtualpc/grub/grub.cfg'))).toBe('default=0\n');
        const views = (await sh(['findmnt', '--list', '--noheadings', '--output', 'TARGET,FSTYPE,OPTIONS'])).split('\n').filter((l) => l.includes(sb.root));
        expect(views.filter((l) => /\.raw\s+fuse\s/.test(l))).toHaveLength(5);
        for (const l of views.filter((x) => /ext4/.test(x))) expect(l).toMatch(/\sro,/);
        // every loop device reads a view, read-only
        const loops = JSON.parse(await sh(['losetup', '--list', '--json', '--output', 'NAME,BACK-FILE,RO'])) as { loopdevices: { 'back-file': string; ro: boolean | string }[] };
        const ours = loops.loopdevices.filter((l) => l['back-file'].startsWith(sb.root));
        expect(ours).toHaveLength(6);
        for (const l of ours) expect([l['back-file'].endsWith('.raw'), String(l.ro)]).toEqual([true, expect.stringMatching(/^(1|true)$/)]);
      },
    });
  });

  it('a format that is not what qemu-img finds is refused at the manifest line; nothing is attached', async () => {
    await sb.qemuDisk('whole', 'qcow2', sb.path('d.qcow2'));
    await sb.qemuDisk('whole', 'raw', sb.path('d.img'));
    const before = [await sha256(sb.path('d.qcow2')), await sha256(sb.path('d.img'))];
    const m = sb.writeManifest('f.yaml', `version: 1
images:
  q:
    file: d.qcow2
    format: raw
  r:
    file: d.img
    format: vmdk
mounts:
  - { what: q, where: ${sb.path('q')} }
  - { what: r, where: ${sb.path('r')} }
`);
    const r = await sb.imgplan(['apply', m, '--auto-approve']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${m}:5:13: error: images.q.format is raw, but qemu-img info finds a qcow2 image in ${sb.path('d.qcow2')}`);
    expect(r.stderr).toContain('hint: if it is a qcow2 image, set format: qcow2; a raw disk never gets its format from its own first bytes');
    expect(r.stderr).toContain(`${m}:8:13: error: images.r.format is vmdk, but qemu-img info finds a raw image in ${sb.path('d.img')}`);
    expect(r.stdout).toBe('');
    expect([await sha256(sb.path('d.qcow2')), await sha256(sb.path('d.img'))]).toEqual(before);
  });

  it('a missing backing file is refused at plan time, naming it', async () => {
    await sb.qemuDisk('chain', sb.path('base.qcow2'), sb.path('top.qcow2'));
    await sh(['mv', sb.path('base.qcow2'), sb.path('moved.qcow2')]);
    const m = sb.writeManifest('b.yaml', `version: 1\nimages:\n  top: { file: top.qcow2, format: qcow2 }\nmounts:\n  - { what: top/part2, where: ${sb.path('t')} }\n`);
    const r = await sb.imgplan(['plan', m]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: the backing file ${sb.path('base.qcow2')} of image top does not exist`);
    expect(r.stderr).toContain(`hint: restore it; qemu-img info --backing-chain ${sb.path('top.qcow2')} shows the chain the image expects`);
  });

  for (const format of ['raw', 'qcow2'] as const) {
    it(`access: overlay on a ${format} ext4 whose journal needs replaying: the replay lands in a throw-away overlay, the image is unchanged`, async () => {
      const file = sb.path(format === 'raw' ? 'dirty.img' : 'dirty.qcow2');
      await sb.qemuDisk(format === 'raw' ? 'dirty-ext4' : 'dirty-ext4-qcow2', file);
      // read-only, without replay: the last transaction is missing
      const ro = sb.writeManifest('ro.yaml', `version: 1\nimages:\n  d: { file: ${file}, format: ${format} }\nmounts:\n  - { what: d, where: ${sb.path('ro')} }\n`);
      await runProtocol(sb, {
        manifest: ro, images: [file], createdDirs: [sb.path('ro')],
        whileApplied: () => {
          expect(read(sb.path('ro/etc/hostname'))).toBe('guest\n');
          expect(existsSync(sb.path('ro/etc/after-crash.txt'))).toBe(false);
        },
      });
      const m = sb.writeManifest('ov.yaml', `version: 1\nimages:\n  d: { file: ${file}, format: ${format}, access: overlay }\nmounts:\n  - { what: d, where: ${sb.path('ov')} }\n`);
      const plan = await sb.imgplan(['plan', m]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain('Access: read-only; no byte of any image will be written (writes to d go to throw-away overlays)');
      expect(plan.stdout).toMatch(new RegExp(`\\$ qemu-img create -q -f qcow2 -b ${file.replace(/[.]/g, '\\.')} -F ${format} \\S+/d\\.overlay\\.qcow2`));
      expect(plan.stdout).toMatch(/options +ro,nosuid,nodev,noexec\n/);
      let overlay = '';
      await runProtocol(sb, {
        manifest: m, images: [file], createdDirs: [sb.path('ov')],
        whileApplied: async () => {
          expect(read(sb.path('ov/etc/after-crash.txt'))).toBe('written before the crash\n');
          const dir = join(sb.stateDir, 'exports');
          overlay = readdirSync(dir).map((k) => join(dir, k, 'd.overlay.qcow2')).find((f) => existsSync(f)) ?? '(none)';
          expect(existsSync(overlay)).toBe(true);
          // the overlay took the replay: it holds data now
          const info = JSON.parse(await sh(['qemu-img', 'info', '--output=json', '--force-share', overlay])) as { 'actual-size': number; 'backing-filename': string };
          expect(info['backing-filename']).toBe(file);
        },
      });
      expect(existsSync(overlay), 'destroy deletes the overlay').toBe(false);
    });
  }

  it('access: read-write with --allow-writes writes into the qcow2 itself, through a writable export', async () => {
    await sb.qemuDisk('whole', 'qcow2', sb.path('rw.qcow2'));
    const rw = sb.writeManifest('rw.yaml', `version: 1\nimages:\n  w: { file: rw.qcow2, format: qcow2, access: read-write }\nmounts:\n  - { what: w, where: ${sb.path('w')} }\n`);
    const refused = await sb.imgplan(['plan', rw]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('error: image w asks for read-write access');
    const apply = await sb.imgplan(['apply', rw, '--auto-approve', '--allow-writes']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toContain('Access: WRITABLE: w (access: read-write, --allow-writes); all other images read-only');
    expect(apply.stdout).toMatch(/\$ qemu-storage-daemon --blockdev driver=file,node-name=file0,filename=\S+\/rw\.qcow2 --blockdev driver=qcow2,node-name=disk0,file=file0 --export type=fuse,id=view0,node-name=disk0,mountpoint=\S+,writable=on /);
    await sh(['sh', '-c', `echo written > ${sb.path('w/srv/new.txt')}`]);
    // imgplan's own writable export holds the image's write lock: the next plan reads past it, it is no other process
    const again = await sb.imgplan(['plan', rw, '--allow-writes']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('No changes.');
    expect((await sb.imgplan(['destroy', rw, '--auto-approve'])).code).toBe(0);
    const ro = sb.writeManifest('ro.yaml', `version: 1\nimages:\n  w: { file: rw.qcow2, format: qcow2 }\nmounts:\n  - { what: w, where: ${sb.path('r')} }\n`);
    await runProtocol(sb, {
      manifest: ro, images: [sb.path('rw.qcow2')], createdDirs: [sb.path('r')],
      whileApplied: () => expect(read(sb.path('r/srv/new.txt'))).toBe('written\n'),
    });
  });

  it('an image a running VM holds is refused; with allow_live it is read with shared locking, read-only', async () => {
    await sb.qemuDisk('whole', 'qcow2', sb.path('live.qcow2'));
    const before = await sha256(sb.path('live.qcow2'));
    const stopHolder = await sb.holdLock(sb.path('live.qcow2'), 'qcow2');
    try {
      const plain = sb.writeManifest('p.yaml', `version: 1\nimages:\n  vm: { file: live.qcow2, format: qcow2 }\nmounts:\n  - { what: vm, where: ${sb.path('p')} }\n`);
      const r = await sb.imgplan(['plan', plain]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`${plain}:3:\\d+: error: image vm \\(${sb.path('live.qcow2')}\\) is in use by another process \\(QEMU: .*lock`));
      expect(r.stderr).toContain('hint: shut down the VM that uses it (virsh list --all), or read it while it runs: allow_live: true on the image (reads may be inconsistent)');

      const overlay = sb.writeManifest('o.yaml', `version: 1\nimages:\n  vm: { file: live.qcow2, format: qcow2, access: overlay }\nmounts:\n  - { what: vm, where: ${sb.path('o')} }\n`);
      const o = await sb.imgplan(['plan', overlay]);
      expect(o.code).toBe(3);
      expect(o.stderr).toContain('hint: an image in use is never opened for writing (nor under an overlay): shut down the VM that uses it first');

      const liveOverlay = sb.writeManifest('lo.yaml', `version: 1\nimages:\n  vm: { file: live.qcow2, format: qcow2, access: overlay, allow_live: true }\nmounts:\n  - { what: vm, where: ${sb.path('o')} }\n`);
      const lo = await sb.imgplan(['validate', liveOverlay]);
      expect(lo.code).toBe(3);
      expect(lo.stderr).toMatch(new RegExp(`${liveOverlay}:3:\\d+: error: image vm has allow_live, which only works with access: read-only \\(it has access: overlay\\)`));

      const live = sb.writeManifest('l.yaml', `version: 1\nimages:\n  vm: { file: live.qcow2, format: qcow2, allow_live: true }\nmounts:\n  - { what: vm, where: ${sb.path('l')} }\n`);
      const plan = await sb.imgplan(['plan', live]);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toMatch(/warning: image vm is in use by another process \(QEMU: .*\); opened read-only with shared locking because of allow_live/);
      expect(plan.stdout).toContain('access     read-only, shared locking (allow_live: the image is in use)');
      expect(plan.stdout).toContain('read-only=on,force-share=on');
      // runProtocol wants a clean stderr: the warning is on stdout with the plan
      await runProtocol(sb, {
        manifest: live, images: [], createdDirs: [sb.path('l')],
        whileApplied: () => expect(read(sb.path('l/srv/www/index.html'))).toBe('<h1>ok</h1>\n'),
      });
    } finally {
      await stopHolder();
    }
    expect(await sha256(sb.path('live.qcow2'))).toBe(before);
  });
});

describe.skipIf(!canQemu)('a plan interrupted while it reads a QEMU image', () => {
  it('removes its probe view before it exits', async () => {
    await sb.qemuDisk('whole', 'qcow2', sb.path('i.qcow2'));
    const m = sb.writeManifest('i.yaml', `version: 1\nimages:\n  i: { file: i.qcow2, format: qcow2 }\nmounts:\n  - { what: i, where: ${sb.path('i')} }\n`);
    // interrupt it while its probe view exists (a view lives some 50 ms: a qemu-img wrapper on PATH makes each copy take
    // half a second more); should the plan outrun the poll, try again
    const bin = sb.path('.slow-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'qemu-img'), '#!/bin/bash\n[ "$1" = convert ] && sleep 0.5\nexec /usr/bin/qemu-img "$@"\n', { mode: 0o755 });
    const probeRoot = join(sb.stateDir, 'probe');
    let interrupted: { exitCode?: number; stdout: string } | undefined;
    for (let attempt = 0; attempt < 10 && !interrupted; attempt++) {
      const child = execa(process.execPath, [CLI, 'plan', m], {
        reject: false, env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH ?? ''}` },
      });
      for (let i = 0; i < 1000; i++) {
        if (existsSync(probeRoot) && readdirSync(probeRoot).some((d) => existsSync(join(probeRoot, d, 'i.raw')))) break;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      child.kill('SIGINT');
      const r = await child;
      expect(await sb.leaks()).toEqual([]);
      if (r.exitCode === 130) interrupted = { exitCode: r.exitCode, stdout: String(r.stdout) };
    }
    expect(interrupted).toEqual({ exitCode: 130, stdout: '' });
    expect(await sb.leaks()).toEqual([]);
    expect(readdirSync(probeRoot)).toEqual([]);
  });

  it('killed (SIGKILL) while qemu-img copies into its probe view, leaves only the view, which the next run sweeps', async () => {
    await sb.qemuDisk('convert', 'qcow2', sb.path('k.qcow2'));
    const before = await sha256(sb.path('k.qcow2'));
    const m = sb.writeManifest('k.yaml', `version: 1\nimages:\n  k: { file: k.qcow2, format: qcow2 }\nmounts:\n  - { what: k/part2, where: ${sb.path('k')} }\n`);
    // a wrapper of qemu-img on PATH kills the plan at its third copy into the view, then copies as asked
    const bin = sb.path('.kill-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'qemu-img'), `#!/bin/bash
if [ "$1" = convert ]; then
  n=$(( $(cat ${sb.path('.copies')} 2>/dev/null || echo 0) + 1 )); echo $n > ${sb.path('.copies')}
  [ $n = 3 ] && kill -KILL "$PPID"
fi
exec /usr/bin/qemu-img "$@"
`, { mode: 0o755 });
    const killed = await execa(process.execPath, [CLI, 'plan', m], {
      reject: false, env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    expect(killed.signal).toBe('SIGKILL');
    // no daemon, no mount, no loop: only the sparse view in the dead plan's folder
    expect(await sb.leaks()).toEqual([]);
    const probeRoot = join(sb.stateDir, 'probe');
    const left = readdirSync(probeRoot);
    expect(left).toHaveLength(1);
    expect(readdirSync(join(probeRoot, left[0]!))).toEqual(['k.raw']);
    const next = await sb.imgplan(['plan', m]);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(next.stdout).toContain('mount:');
    expect(await sb.leaks()).toEqual([]);
    expect(readdirSync(probeRoot)).toEqual([]);
    expect(await sha256(sb.path('k.qcow2'))).toBe(before);
  });
});
