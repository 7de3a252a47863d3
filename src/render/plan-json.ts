import { isConcat, isRef, type Arg, type Plan, type PlannedAction } from '../plan/types.js';
import { reasonText } from './kinds/index.js';

/**
 * The machine view of a plan (`--json`), described by schemas/plan.schema.json. format_version
 * "2.x": a minor bump only adds fields; readers ignore fields they do not know. 2.0 made each
 * change's `attributes` the object's typed details (1.x had display strings).
 */
export const PLAN_JSON_VERSION = '2.1';

type JsonArg = string | { ref: string; attr: string } | { concat: JsonArg[] };

const arg = (a: Arg): JsonArg => (isConcat(a) ? { concat: a.concat.map(arg) } : isRef(a) ? { ref: a.ref, attr: a.attr } : a);

function actionsOf(a: PlannedAction): string[] {
  if (a.action === 'noop') return ['no-op'];
  if (a.replace) return ['delete', 'create'];
  return [a.action];
}

export function planToJson(plan: Plan): object {
  // one resource change per address: a replacement's two halves are one ["delete","create"]
  const seen = new Map<string, PlannedAction>();
  for (const a of plan.actions) if (!seen.has(a.address) || a.action === 'create') seen.set(a.address, a);
  const order = [...new Set(plan.actions.map((a) => a.address))];
  const add = plan.actions.filter((a) => a.action === 'create').map((a) => a.address);
  const destroy = plan.actions.filter((a) => a.action === 'delete').map((a) => a.address);
  return {
    format_version: PLAN_JSON_VERSION,
    mode: plan.mode,
    manifest: plan.manifest,
    context: {
      kernel: plan.context.kernel,
      udev: plan.context.udev,
      partition_scan: { table_types: plan.context.partscan.labels, evidence: plan.context.partscan.evidence },
      writable_images: plan.context.writableImages,
      ...(plan.context.overlayImages?.length ? { overlay_images: plan.context.overlayImages } : {}),
    },
    resource_changes: order.map((address) => {
      const a = seen.get(address)!;
      return {
        address, kind: a.kind, actions: actionsOf(a), reason: a.reason, reason_text: reasonText(a), ...(a.owner ? { owner: a.owner } : {}),
        depends_on: a.dependsOn, attributes: a.details,
      };
    }),
    steps: plan.actions.flatMap((a) => a.steps.map((s) => ({
      address: a.address, phase: a.action, argv: s.argv.map(arg), ...(s.undo ? { undo: s.undo.map(arg) } : {}),
      ...(s.dirFd3 ? { fd3: s.dirFd3 } : {}),
    }))).map((s, i) => ({ order: i + 1, ...s })),
    unchanged: plan.unchanged.map((a) => ({
      address: a.address, kind: a.kind, actions: ['no-op'], reason: a.reason, ...(a.owner ? { owner: a.owner } : {}), attributes: a.details,
    })),
    warnings: plan.warnings.map((w) => ({
      severity: w.severity, code: w.code, message: w.message, ...(w.at ? { at: w.at } : {}), ...(w.hint ? { hint: w.hint } : {}),
    })),
    summary: { add: add.length, change: 0, destroy: destroy.length, addresses: { add, destroy } },
  };
}
