// Section qcow2-storage-daemon: "time to files" through a qemu-storage-daemon FUSE view.

import { existsSync } from 'node:fs';
import { waitUntil } from '../proc.mjs';
import { readFiles } from '../workspace.mjs';
import { assertQemuApplied, lifecycleRounds, qemuPairs } from './common.mjs';

const BASELINES = {
  apply: ['install -D -m 0600 /dev/null VIEW',
    'qemu-storage-daemon --blockdev driver=file,node-name=file0,filename=IMG,read-only=on --blockdev driver=qcow2,node-name=disk0,file=file0,read-only=on --export type=fuse,id=view0,node-name=disk0,mountpoint=VIEW,writable=off --pidfile PID --daemonize',
    'losetup --find --show --read-only --offset O --sizelimit S VIEW (x2)', 'mkdir -p P1 P2', 'mount -t ext4 -o ro,noload,nosuid,nodev,noexec DEV P (x2)', 'read P1/hello.txt P2/hello.txt'],
  destroy: ['umount P (x2)', 'rmdir P1 P2 MNT', 'losetup --detach DEV (x2)', 'pkill --pidfile PID --logpidfile', 'wait until PID is gone (poll 10 ms)', 'rm VIEW'],
};

/** The bare side: the daemon's view, two loops on it, the mounts, the reads; and back. */
function bareLifecycle(ws) {
  const { qcow2, bareView, barePid, where, mnt, bare } = ws;
  let devs = [];
  return {
    apply: () => {
      bare(['install', '-D', '-m', '0600', '/dev/null', bareView]);
      bare(['qemu-storage-daemon',
        '--blockdev', `driver=file,node-name=file0,filename=${qcow2},read-only=on`,
        '--blockdev', 'driver=qcow2,node-name=disk0,file=file0,read-only=on',
        '--export', `type=fuse,id=view0,node-name=disk0,mountpoint=${bareView},writable=off`,
        '--pidfile', barePid, '--daemonize']);
      devs = ws.parts.map((p) => bare(['losetup', '--find', '--show', '--read-only', '--offset', String(p.offset), '--sizelimit', String(p.size), bareView]).stdout.trim());
      bare(['mkdir', '-p', ...where]);
      where.forEach((w, i) => bare(['mount', '-t', 'ext4', '-o', 'ro,noload,nosuid,nodev,noexec', devs[i], w]));
      readFiles(ws);
    },
    destroy: () => {
      for (const w of where) bare(['umount', w]);
      bare(['rmdir', ...where, mnt]);
      for (const d of devs) bare(['losetup', '--detach', d]);
      bare(['pkill', '--pidfile', barePid, '--logpidfile']);
      // the daemon removes its pid file and unmounts its view itself
      waitUntil(() => !existsSync(barePid), `qemu-storage-daemon to remove ${barePid}`);
      bare(['rm', bareView]);
      devs = [];
    },
  };
}

/** Runs the qcow2-storage-daemon section; adds its two pairs and baselines to res. */
export async function storageDaemonSection(ws, opts, res) {
  const bareOps = bareLifecycle(ws);
  const samples = await lifecycleRounds(ws, opts, 'qcow2-storage-daemon', {
    imgplanApply: () => { ws.imgplan('apply', '--auto-approve', ws.manifestSd); readFiles(ws); },
    imgplanDestroy: () => ws.imgplan('destroy', '--auto-approve', ws.manifestSd),
    bareApply: bareOps.apply,
    bareDestroy: bareOps.destroy,
    assertApplied: (who) => assertQemuApplied(ws, 'storage-daemon', who),
  });
  res.pairs.push(...qemuPairs('qcow2-storage-daemon', 'storage-daemon', samples));
  res.baselines.qcow2StorageDaemon = BASELINES;
}
