import { humanBytes } from '../../plan/format.js';
import type { BackendChoice, ChainLink, NbdMissing, QemuAccess } from '../../qemu/backend.js';

/** "/vm/top.qcow2 (qcow2, 64.0 MiB virtual) → backing /vm/base.qcow2 (qcow2)": every file a header names, in full */
export function chainText(chain: readonly ChainLink[]): string {
  return chain.map((c, i) => `${c.file} (${c.format}${i === 0 ? `, ${humanBytes(c.virtualSize)} virtual` : ''})`).join(' → backing ');
}

const NBD_MISSING: Readonly<Record<NbdMissing, string>> = {
  'no-module': 'the kernel has no nbd module, and modprobe finds none',
  'no-qemu-nbd': 'qemu-nbd is not installed',
};

/** Why the backend, in the words of the backend it is ("qemu_backend: nbd", "no nbd: …"). */
export function backendText(b: BackendChoice, backend: 'nbd' | 'storage-daemon'): string {
  switch (b.by) {
    case 'manifest': return `qemu_backend: ${backend}`;
    case 'kernel-has-nbd': return 'the kernel has nbd';
    case 'already-serving': return 'already serving';
    case 'no-nbd': return `no nbd: ${NBD_MISSING[b.missing]}`;
  }
}

/** How a QEMU backend opens the image, in words. */
export function accessText(a: QemuAccess): string {
  if (a.overlay) return `writes go to the throw-away overlay ${a.overlay} (deleted by destroy); the image is only read`;
  if (a.writable) return 'read-write (--allow-writes)';
  return `read-only${a.forceShare ? ', shared locking (allow_live: the image is in use)' : ''}`;
}

export const overlayGoneText = (overlay: string) => `${overlay} (deleted, with every write it took)`;

export const partitionNodesText = (parts: readonly number[]) => `${parts.map((n) => `part${n}`).join(', ')}, as the kernel's partition nodes of the device`;
