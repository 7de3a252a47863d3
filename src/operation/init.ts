import { resolve } from 'node:path';
import { imageNames, starterManifest } from '../core/init.js';
import { EXIT, ImgplanError } from '../errors.js';
import { loadManifest } from '../manifest/load.js';
import { checkPath } from '../manifest/paths.js';
import type { OperationContext } from './context.js';
import { inspectImages } from './inspect.js';

export interface InitOptions {
  /** the images' format (raw by default), never guessed */
  readonly format: string;
  /** where the guest's / goes (default /mnt/NAME); with several images, DIR/NAME for each */
  readonly where?: string;
  /** the command line, for the manifest's header */
  readonly command: string;
}

/**
 * `imgplan init IMAGE…`: a starter manifest that mounts each guest the way its own fstab does,
 * from what inspect reads (src/core/init.ts). It changes nothing and leaves nothing, as inspect.
 * The text it returns is loaded with the manifest's own rules before it is given out.
 */
export async function init(ctx: OperationContext, files: readonly string[], options: InitOptions): Promise<string> {
  const where = options.where;
  if (where !== undefined && (!where.startsWith('/') || where === '/' || checkPath(where, '--where', { file: '(command line)', line: 1, col: 1 }))) {
    throw new ImgplanError(`--where must be a normalised absolute path other than /, not "${where}"`, EXIT.invalid, 'for example --where /mnt/web01');
  }
  const { report, kernel } = await inspectImages(ctx, files, { format: options.format });
  const unusable = report.images.filter((r) => r.problems.some((p) => p === 'no such file' || p === 'not a regular file'));
  if (unusable.length) {
    throw new ImgplanError(`cannot write a manifest for ${unusable.map((r) => `${r.file} (${r.problems[0]})`).join(', ')}`, EXIT.invalid,
      'give image files that exist (imgplan inspect FILE shows what one holds)');
  }
  const names = imageNames(files);
  const images = report.images.map((r, i) => ({ name: names[i]!, report: r }));
  const text = starterManifest(images, { ...(where ? { where } : {}), command: options.command, kernel });
  // a starter manifest that does not load would be imgplan's bug: never hand it out
  const loaded = loadManifest({ path: resolve('imgplan.yaml'), text, allowWrites: false });
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new Error(`init wrote a manifest that does not load: ${errors.map((d) => d.message).join('; ')}`);
  return text;
}
