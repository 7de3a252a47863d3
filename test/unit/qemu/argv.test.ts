import { describe, expect, it } from 'vitest';
import { nbdConnectArgv, parseImageOpts, parseQemuNbdCmdline, servesNbd } from '../../../src/qemu/nbd.js';
import { imageOpts, overlayCreateArgv, servesView, storageDaemonArgv } from '../../../src/qemu/storage-daemon.js';

/** /proc/PID/cmdline of a process started with this argv. */
const cmdline = (argv: readonly string[]) => `${argv.join('\0')}\0`;

describe('qemu-nbd', () => {
  it('connects read-only with the format named, and recognises its own command line', () => {
    const argv = nbdConnectArgv({ device: '/dev/nbd3', file: '/srv/a,b.qcow2', format: 'qcow2', readOnly: true, pidfile: '/run/imgplan/exports/k/a.pid' });
    expect(argv).toEqual(['qemu-nbd', '--read-only', '--format=qcow2', '--pid-file=/run/imgplan/exports/k/a.pid', '--connect=/dev/nbd3', '/srv/a,b.qcow2']);
    expect(parseQemuNbdCmdline(cmdline(argv))).toEqual({ device: '/dev/nbd3', file: '/srv/a,b.qcow2', format: 'qcow2', readOnly: true });
    expect(servesNbd(cmdline(argv), '/dev/nbd3', '/srv/a,b.qcow2')).toBe(true);
    expect(servesNbd(cmdline(argv), '/dev/nbd4', '/srv/a,b.qcow2')).toBe(false);
    expect(servesNbd(cmdline(argv), '/dev/nbd3', '/srv/other.qcow2')).toBe(false);
  });

  it('shares the lock of an image in use through --image-opts (qemu-nbd 7.2 has no -U), commas in the path doubled', () => {
    const argv = nbdConnectArgv({ device: '/dev/nbd0', file: '/srv/a,b.qcow2', format: 'qcow2', readOnly: true, pidfile: '/p', forceShare: true });
    expect(argv).toEqual(['qemu-nbd', '--read-only', '--image-opts', '--pid-file=/p', '--connect=/dev/nbd0', 'driver=qcow2,file.driver=file,file.filename=/srv/a,,b.qcow2,force-share=on']);
    expect(parseQemuNbdCmdline(cmdline(argv))).toEqual({ device: '/dev/nbd0', file: '/srv/a,b.qcow2', format: 'qcow2', readOnly: true });
  });

  it('reads an administrator\'s command lines in getopt\'s other spellings', () => {
    expect(parseQemuNbdCmdline(cmdline(['/usr/bin/qemu-nbd', '-r', '-f', 'vmdk', '-c', '/dev/nbd1', '/vm/d.vmdk']))).toEqual({ device: '/dev/nbd1', file: '/vm/d.vmdk', format: 'vmdk', readOnly: true });
    expect(parseQemuNbdCmdline(cmdline(['qemu-nbd', '-rc/dev/nbd2', '-fqcow2', '/vm/e.qcow2']))).toEqual({ device: '/dev/nbd2', file: '/vm/e.qcow2', format: 'qcow2', readOnly: true });
    expect(parseQemuNbdCmdline(cmdline(['qemu-nbd', '--connect', '/dev/nbd5', '--cache', 'none', '/vm/f.qcow2']))).toEqual({ device: '/dev/nbd5', file: '/vm/f.qcow2', readOnly: false });
    expect(parseQemuNbdCmdline(cmdline(['qemu-storage-daemon', '--blockdev', 'x']))).toBeUndefined();
  });

  it('parses QEMU option strings', () => {
    expect(parseImageOpts('driver=qcow2,file.filename=/a,,b,force-share=on')).toEqual({ driver: 'qcow2', 'file.filename': '/a,b', 'force-share': 'on' });
  });
});

describe('qemu-storage-daemon', () => {
  it('exports read-only by default, and recognises the daemon serving a view', () => {
    const argv = storageDaemonArgv({ file: '/srv/x.vmdk', format: 'vmdk', view: '/run/imgplan/exports/k/x.raw', pidfile: '/run/imgplan/exports/k/x.pid', writable: false });
    expect(argv).toEqual([
      'qemu-storage-daemon',
      '--blockdev', 'driver=file,node-name=file0,filename=/srv/x.vmdk,read-only=on',
      '--blockdev', 'driver=vmdk,node-name=disk0,file=file0,read-only=on',
      '--export', 'type=fuse,id=view0,node-name=disk0,mountpoint=/run/imgplan/exports/k/x.raw,writable=off',
      '--pidfile', '/run/imgplan/exports/k/x.pid', '--daemonize',
    ]);
    expect(servesView(cmdline(argv), '/run/imgplan/exports/k/x.raw')).toBe(true);
    expect(servesView(cmdline(argv), '/run/imgplan/exports/k/y.raw')).toBe(false);
  });

  it('shares the lock only read-only; a writable export (an overlay) never does', () => {
    expect(storageDaemonArgv({ file: '/i', format: 'qcow2', view: '/v', pidfile: '/p', writable: false, forceShare: true })[2]).toBe('driver=file,node-name=file0,filename=/i,read-only=on,force-share=on');
    const w = storageDaemonArgv({ file: '/o.qcow2', format: 'qcow2', view: '/v', pidfile: '/p', writable: true, forceShare: true });
    expect([w[2], w[4], w[6]]).toEqual(['driver=file,node-name=file0,filename=/o.qcow2', 'driver=qcow2,node-name=disk0,file=file0', 'type=fuse,id=view0,node-name=disk0,mountpoint=/v,writable=on']);
  });

  it('overlays name their backing format, never letting QEMU guess it', () => {
    expect(overlayCreateArgv('/srv/d.img', 'raw', '/o.qcow2')).toEqual(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', '/srv/d.img', '-F', 'raw', '/o.qcow2']);
    expect(imageOpts('vdi', '/x')).toBe('driver=vdi,file.driver=file,file.filename=/x');
  });
});
