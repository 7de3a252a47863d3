/**
 * The operation layer: plan, apply, destroy, show, validate and capture-state as functions over
 * a Runner. They report through `ctx.emit` and return an outcome; they never write to stdout
 * or stderr. The CLI renders the events, asks for approval and maps outcomes to exit codes.
 */
export { apply, type ApplyOptions } from './apply.js';
export { captureState, type CaptureOptions } from './capture.js';
export { DEFAULT_LOCK_TIMEOUT_SECONDS, type ChangeOptions, type ChangeResult } from './change.js';
export { readInput, type Input, type OperationContext } from './context.js';
export { destroy } from './destroy.js';
export {
  closed, commandStatus, execManifest, execSetting, mountVariable, type CommandEnd, type ExecOptions, type ExecPhase, type ExecResult, type ExecSetting,
} from './exec.js';
export type { ChangeSummary, Emit, Mode, OperationEvent, Outcome, StepFailure } from './events.js';
export { init, type InitOptions } from './init.js';
export { inspect, inspectManifest, INSPECT_FORMATS, type InspectOptions } from './inspect.js';
export { BadLockTimeoutError } from './lock.js';
export { plan, type PlanOptions, type PlanResult } from './plan.js';
export { applySavedPlan, type SavedPlanOptions } from './saved.js';
export { show } from './show.js';
export { validate, type ValidateResult } from './validate.js';
