import { argvText } from '../plan/argv-text.js';
import { isRef, type Plan, type PlannedAction } from '../plan/types.js';
import { reasonText, rowsOf, verbOf } from './kinds/index.js';
import { printable } from '../printable.js';
import { renderDiagnostic } from './diagnostics.js';
import type { Style } from './style.js';

export const KNOWN_AFTER_APPLY = '(known after apply)';

export { argvText };

/** The action's symbol padded to three columns, then coloured (padding counts visible characters). */
function symbol(a: PlannedAction, style: Style): string {
  if (a.replace) return style.yellow('-/+');
  return a.action === 'create' ? style.green('+  ') : a.action === 'delete' ? style.red('-  ') : '=  ';
}

function block(a: PlannedAction, n: number, numberOf: ReadonlyMap<string, number>, style: Style): string[] {
  const verb = verbOf(a);
  const half = a.replace ? (a.action === 'delete' ? ' (replace: old one goes)' : ' (replace: new one)') : '';
  const after = a.dependsOn.map((d) => numberOf.get(d)).filter((x): x is number => x !== undefined && x < n).sort((x, y) => x - y);
  const head = `${String(n).padStart(3)}  ${symbol(a, style)} ${verb.padEnd(7)} ${style.bold(printable(a.address))}${half}` +
    `${after.length ? `   after ${after.join(', ')}` : ''}`;
  const lines = [head];
  lines.push(`            ${'reason'.padEnd(10)} ${reasonText(a)}`);
  for (const at of rowsOf(a)) {
    lines.push(`            ${at.label.padEnd(10)} ${isRef(at.value) ? KNOWN_AFTER_APPLY : printable(at.value)}`);
  }
  for (const s of a.steps) {
    lines.push(`            $ ${argvText(s.argv)}`);
    if (s.dirFd3) {
      const { path, base } = s.dirFd3;
      lines.push(`              (fd 3: ${printable(path)}, opened below ${printable(base)} one directory at a time, never through a symlink)`);
    }
  }
  return lines;
}

/** The human view of a plan: ordered blocks, then the summary (plan/apply/destroy all use it). */
export function renderPlan(plan: Plan, style: Style): string {
  const out: string[] = [];
  out.push(`Manifest: ${plan.manifest.path} (sha256 ${plan.manifest.sha256.slice(0, 12)})`);
  const ps = plan.context.partscan;
  const scan = ps.labels.length ? `partition scan for ${ps.labels.join(', ')} tables` : 'no partition scan, one loop device per partition';
  out.push(`Kernel ${plan.context.kernel}: ${scan} (${ps.evidence}); udev ${plan.context.udev ? 'running' : 'not running'}`);
  out.push(plan.context.writableImages.length
    ? `Access: ${style.yellow(`WRITABLE: ${plan.context.writableImages.join(', ')}`)} (access: read-write, --allow-writes); all other images read-only`
    : `Access: read-only; no byte of any image will be written` +
      `${plan.context.overlayImages?.length ? ` (writes to ${plan.context.overlayImages.join(', ')} go to throw-away overlays)` : ''}`);
  out.push('');
  for (const w of plan.warnings) out.push(renderDiagnostic(w, style), '');

  const numberOf = new Map<string, number>();
  plan.actions.forEach((a, i) => numberOf.set(a.address, i + 1));
  if (plan.actions.length) {
    out.push(plan.mode === 'destroy' ? 'imgplan will undo these, in this order:' : 'imgplan will perform these actions, in this order:', '');
    plan.actions.forEach((a, i) => out.push(...block(a, i + 1, numberOf, style), ''));
  }
  if (plan.unchanged.length) {
    out.push(plan.mode === 'destroy' ? 'Left alone:' : 'Already in place:');
    const width = Math.max(...plan.unchanged.map((a) => a.address.length));
    for (const a of plan.unchanged) {
      const dev = rowsOf(a).find((x) => x.label === 'device');
      const devText = dev && !isRef(dev.value) ? `${printable(dev.value)}  ` : '';
      out.push(`  = ${printable(a.address).padEnd(width)}  ${devText}${reasonText(a)}`);
    }
    out.push('');
  }
  out.push(...summary(plan, style));
  return `${out.join('\n')}\n`;
}

export function summary(plan: Plan, style: Style): string[] {
  if (plan.actions.length === 0) {
    return [plan.mode === 'destroy'
      ? `${style.bold('No changes.')} imgplan manages nothing for this manifest; nothing to destroy.`
      : `${style.bold('No changes.')} The system matches the manifest.`];
  }
  const add = plan.actions.filter((a) => a.action === 'create').map((a) => a.address);
  const del = plan.actions.filter((a) => a.action === 'delete').map((a) => a.address);
  const lines = [`${style.bold('Plan:')} ${add.length} to add, 0 to change, ${del.length} to destroy.` +
    `${plan.context.writableImages.length ? '' : ' No image will be written.'}`];
  if (add.length) lines.push(`  add:     ${add.join(', ')}`);
  if (del.length) lines.push(`  destroy: ${del.join(', ')}`);
  return lines;
}
