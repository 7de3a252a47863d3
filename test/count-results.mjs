// Reads a vitest JSON report and prints "<lane>: N passed, N failed, N skipped".
// --no-skips: a skipped test fails the lane (the VM lane must run all of its tests).
// Exit 1 on a missing report, a failure, no test at all, or (with --no-skips) a skip.
import { existsSync, readFileSync } from 'node:fs';

const [lane, file, flag] = process.argv.slice(2);
if (!existsSync(file)) {
  console.log(`${lane}: no test report (${file}): the suite did not run`);
  process.exit(1);
}
const r = JSON.parse(readFileSync(file, 'utf8'));
const passed = r.numPassedTests ?? 0;
// a file that failed to load has no assertions but a failed status
const failed = (r.numFailedTests ?? 0) + r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${lane}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (flag === '--no-skips' && skipped > 0) {
  const names = r.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status !== 'passed' && a.status !== 'failed').map((a) => a.fullName));
  console.log(`${lane}: these must run here but were skipped:\n  ${names.join('\n  ')}`);
}
process.exit(failed > 0 || passed === 0 || (flag === '--no-skips' && skipped > 0) ? 1 : 0);
