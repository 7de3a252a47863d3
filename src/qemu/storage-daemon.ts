/**
 * qemu-storage-daemon exporting a disk image as a raw view through FUSE (field-notes G12): how
 * imgplan reads QEMU formats on a kernel without nbd. The view is a plain file, sized to the
 * virtual disk, that loop devices and blkid use like a raw image.
 */
export interface ExportSpec {
  /** what the daemon opens: the image, or the throw-away overlay over it */
  readonly file: string;
  readonly format: string;
  /** the FUSE mountpoint: an existing regular file */
  readonly view: string;
  readonly pidfile: string;
  /** writes reach `file` (an overlay, or the image with access: read-write) */
  readonly writable: boolean;
  /** open an image another process holds locked (read-only only) */
  readonly forceShare?: boolean;
}

/** QEMU's option syntax doubles a comma that is part of a value. */
export const optValue = (s: string) => s.replace(/,/g, ',,');

/** One image as QEMU's key=value options: the format driver over a file (what qemu-nbd --image-opts takes). */
export function imageOpts(format: string, file: string, o: { forceShare?: boolean; readOnly?: boolean } = {}): string {
  const extra = `${o.readOnly ? ',read-only=on' : ''}${o.forceShare ? ',force-share=on' : ''}`;
  return `driver=${format},file.driver=file,file.filename=${optValue(file)}${extra}`;
}

/** Starts the daemon detached; it writes the pid file once the export is ready. */
export function storageDaemonArgv(s: ExportSpec): string[] {
  const ro = s.writable ? '' : ',read-only=on';
  const share = s.forceShare && !s.writable ? ',force-share=on' : '';
  return [
    'qemu-storage-daemon',
    '--blockdev', `driver=file,node-name=file0,filename=${optValue(s.file)}${ro}${share}`,
    '--blockdev', `driver=${s.format},node-name=disk0,file=file0${ro}${share}`,
    '--export', `type=fuse,id=view0,node-name=disk0,mountpoint=${optValue(s.view)},writable=${s.writable ? 'on' : 'off'}`,
    '--pidfile', s.pidfile,
    '--daemonize',
  ];
}

/** The throw-away overlay of access: overlay; qemu-img opens the image read-only to learn its size. */
export function overlayCreateArgv(image: string, format: string, overlay: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', image, '-F', format, overlay];
}

/** Whether a process command line (NUL-separated /proc/PID/cmdline) is the daemon serving `view`. */
export function servesView(cmdline: string, view: string): boolean {
  const args = cmdline.split('\0');
  return (args[0] ?? '').endsWith('qemu-storage-daemon') && args.some((a) => a.includes(`mountpoint=${optValue(view)},`));
}

/**
 * Stops the daemon of a view; it then unmounts the view and deletes its pid file itself (a view
 * unmounted under a running daemon leaves it spinning). -L: only a daemon that still holds its
 * pid file locked, never a process that reused the pid.
 */
export const stopDaemonArgv = (pidfile: string): string[] => ['pkill', '--pidfile', pidfile, '--logpidfile'];

/** Removes a view file, and the overlay that took its writes, once the daemon is gone. */
export const removeViewArgv = (view: string, overlay?: string): string[] => ['rm', '-f', view, ...(overlay ? [overlay] : [])];

/** Removes an export folder once it is empty: it is shared by the images of one manifest. */
export const removeFolderArgv = (dir: string): string[] => ['rmdir', '--ignore-fail-on-non-empty', dir];
