import { createInterface } from 'node:readline/promises';
import { EXIT, ImgplanError } from '../errors.js';
import type { Plan } from '../plan/types.js';
import { STDOUT, type Sink } from './view.js';

/** The approval apply and destroy ask for: --auto-approve, or "yes" typed on a terminal (asked on `sink`'s stream). */
export function approver(autoApprove: boolean, json: boolean, sink: Sink = STDOUT): (plan: Plan) => Promise<boolean> {
  return async (plan) => {
    if (autoApprove) return true;
    if (json || !process.stdin.isTTY) {
      const why = json ? '--json runs are not interactive' : 'standard input is not a terminal';
      throw new ImgplanError(`refusing to ${plan.mode} without confirmation: ${why}`, EXIT.invalid,
        'review the plan, then run again with --auto-approve (or save it with plan --out FILE and apply FILE)');
    }
    const rl = createInterface({ input: process.stdin, output: sink.stream });
    try {
      sink.write(plan.mode === 'destroy'
        ? '\nDo you really want to destroy these? imgplan will unmount and detach exactly what is listed.\n'
        : '\nDo you want to perform these actions?\n');
      // Ctrl-C at the question rejects it with an AbortError (readline catches the keypress, no signal comes): a "no"
      const answer = await rl.question("  Only 'yes' will be accepted to approve.\n\n  Enter a value: ").catch((e: unknown) => {
        if ((e as { code?: string }).code !== 'ABORT_ERR') throw e;
        sink.write('\n');
        return '';
      });
      return answer.trim() === 'yes';
    } finally {
      rl.close();
    }
  };
}
