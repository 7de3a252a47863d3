import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { sha256, type Sandbox } from './harness.js';

export interface ProtocolOptions {
  readonly manifest: string;
  readonly images: readonly string[];
  /** runs while everything is applied: read the guest's files here */
  readonly whileApplied: () => Promise<void> | void;
  /** mountpoint directories imgplan is expected to create and remove again */
  readonly createdDirs?: readonly string[];
  readonly applyArgs?: readonly string[];
}

/**
 * The integration protocol every backend must pass: apply, apply again (no changes), plan (no
 * changes), destroy, destroy again (nothing to do); the images' sha256 identical before and after;
 * created directories gone; nothing left attached.
 */
export async function runProtocol(sb: Sandbox, o: ProtocolOptions): Promise<void> {
  const before = await Promise.all(o.images.map(sha256));
  for (const d of o.createdDirs ?? []) expect(existsSync(d), `${d} must not exist before apply`).toBe(false);

  const apply = await sb.imgplan(['apply', o.manifest, '--auto-approve', ...(o.applyArgs ?? [])]);
  expect(apply.stderr).toBe('');
  expect(apply.code, apply.stdout).toBe(0);
  expect(apply.stdout).toMatch(/Apply complete! \d+ added, 0 changed, 0 destroyed\./);

  await o.whileApplied();

  const again = await sb.imgplan(['apply', o.manifest, '--auto-approve', ...(o.applyArgs ?? [])]);
  expect(again.code, again.stdout + again.stderr).toBe(0);
  expect(again.stdout).toContain('No changes. The system matches the manifest.');
  expect(again.stdout).not.toContain('$ ');

  const plan = await sb.imgplan(['plan', o.manifest, ...(o.applyArgs ?? [])]);
  expect(plan.code).toBe(0);
  expect(plan.stdout).toContain('No changes.');

  const destroy = await sb.imgplan(['destroy', o.manifest, '--auto-approve']);
  expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
  expect(destroy.stdout).toMatch(/Destroy complete! 0 added, 0 changed, \d+ destroyed\./);

  const destroyAgain = await sb.imgplan(['destroy', o.manifest, '--auto-approve']);
  expect(destroyAgain.code).toBe(0);
  expect(destroyAgain.stdout).toContain('nothing to destroy');

  for (const d of o.createdDirs ?? []) expect(existsSync(d), `${d} must be removed by destroy`).toBe(false);
  const mine = (l: string) => o.images.some((i) => l.includes(`(${i})`)) || (o.createdDirs ?? []).some((d) => l.startsWith(`mount ${d}`));
  expect((await sb.leaks()).filter(mine)).toEqual([]);
  const after = await Promise.all(o.images.map(sha256));
  expect(after, 'image contents must not change').toEqual(before);
}

export function read(path: string): string {
  return readFileSync(path, 'utf8');
}
