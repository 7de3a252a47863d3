import { error, warning, type Diagnostic } from '../diagnostics.js';
import { needsQemu, type Manifest } from './types.js';

/** Options that would defeat a read-only mount, or that imgplan itself controls. */
const FORBIDDEN_READ_ONLY = new Set(['rw', 'remount', 'bind', 'rbind', 'move', 'loop', 'offset', 'sizelimit', 'remove_hiberfile']);
/** remove_hiberfile destroys a hibernated Windows session: only through discard_windows_state, which the plan explains */
const CONTROLLED = new Set(['remount', 'bind', 'rbind', 'move', 'loop', 'offset', 'sizelimit', 'remove_hiberfile']);

/** Cross-field rules the schema cannot say. */
export function checkSemantics(m: Manifest, opts: { allowWrites: boolean }): Diagnostic[] {
  const out: Diagnostic[] = [];
  const images = new Map(m.images.map((i) => [i.name, i]));

  for (const img of m.images) {
    if (img.access === 'read-write' && !opts.allowWrites) {
      out.push(error('writes-not-allowed', `image ${img.name} asks for read-write access, which writes to ${img.file}`,
        img.accessAt, 'pass --allow-writes to confirm, or remove "access: read-write" to open it read-only'));
    }
    if (img.allowLive && img.access !== 'read-only') {
      // QEMU refuses force-share for anything but a read-only open, and a VM's disk must never get a second writer
      out.push(error('live-not-read-only', `image ${img.name} has allow_live, which only works with access: read-only (it has access: ${img.access})`,
        img.allowLiveAt ?? img.accessAt,
        'an image a running VM holds is only ever opened read-only: remove the access line, or shut the VM down and remove allow_live'));
    }
    if (img.qemuBackendAt && !needsQemu(img)) {
      out.push(warning('backend-unused', `qemu_backend has no effect: image ${img.name} is raw and opened without QEMU (loop devices read the file itself)`,
        img.qemuBackendAt, 'remove it; it applies to QEMU formats (qcow2, vmdk, …) and to access: overlay'));
    }
    if (img.allowBackingAt && img.format === 'raw') {
      out.push(warning('backing-unused', `allow_backing has no effect: image ${img.name} is raw, which has no backing file`, img.allowBackingAt,
        'remove it; it applies to QEMU images whose header names a backing file (qcow2, qed, vmdk)'));
    }
  }

  const byWhere = new Map<string, (typeof m.mounts)[number]>();
  const bySource = new Map<string, (typeof m.mounts)[number]>();
  for (const mt of m.mounts) {
    const img = images.get(mt.source.image);
    if (!img) {
      out.push(error('unknown-image', `mount source "${mt.what}" names image "${mt.source.image}", which is not in images`,
        mt.whatAt, images.size ? `images defined: ${[...images.keys()].join(', ')}` : undefined));
    }
    if (mt.where === '/') out.push(error('bad-where', 'mounting over / is not allowed', mt.whereAt));
    const dupe = byWhere.get(mt.where);
    if (dupe) {
      out.push(error('duplicate-where', `mountpoint ${mt.where} is used twice (also at line ${dupe.whereAt.line})`, mt.whereAt,
        'each filesystem needs its own mountpoint'));
    } else byWhere.set(mt.where, mt);
    const srcKey = mt.what;
    const twice = bySource.get(srcKey);
    if (twice) {
      out.push(error('duplicate-what', `${mt.what} is mounted twice (also at line ${twice.whatAt.line})`, mt.whatAt,
        'mount each filesystem once; use a bind mount by hand for a second view'));
    } else bySource.set(srcKey, mt);
    // an overlay takes writes, so a rw mount there changes only the throw-away overlay
    const readOnly = img?.access === 'read-only' || img === undefined;
    const mountedReadOnly = readOnly || (img?.access === 'overlay' && !mt.options.includes('rw'));
    if (mt.discardWindowsState && mountedReadOnly) {
      out.push(warning('discard-on-read-only',
        `discard_windows_state has no effect: image ${mt.source.image} is read-only, and read-only mounts never touch Windows' state`,
        mt.discardWindowsStateAt ?? mt.at, 'remove it, or set access: read-write on the image (and pass --allow-writes) if the state must go'));
    }
    for (const [j, o] of mt.options.entries()) {
      const at = mt.optionsAt[j] ?? mt.at;
      const name = o.split('=')[0]!;
      if (readOnly && FORBIDDEN_READ_ONLY.has(name)) {
        out.push(error('bad-option', `option "${o}" is not allowed on a read-only image`, at,
          name === 'rw' ? 'to write, set "access: read-write" on the image and pass --allow-writes' : 'imgplan sets up loop devices and mounts itself'));
      } else if (!readOnly && CONTROLLED.has(name)) {
        out.push(error('bad-option', `option "${o}" is not allowed`, at, 'imgplan sets up loop devices and mounts itself'));
      }
    }
  }
  for (const mt of m.mounts) {
    if (mt.source.kind === 'whole') {
      const other = m.mounts.find((x) => x.source.image === mt.source.image && x.source.kind === 'partition');
      if (other) {
        out.push(error('whole-and-partition', `image ${mt.source.image} is mounted whole here and by partition at line ${other.whatAt.line}`,
          mt.whatAt, 'an image either is one filesystem (what: IMAGE) or has a partition table (what: IMAGE/partN)'));
      }
    }
  }
  return out;
}
