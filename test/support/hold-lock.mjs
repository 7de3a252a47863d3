// Holds imgplan's host-wide lock as a run would, through the built lock module
// (dist/apply/lock.js), until its stdin closes or it is killed:
//   node hold-lock.mjs STATE_DIR exclusive|shared COMMAND
// Prints "held PID" once it holds the lock. Used by test/integration/lock.test.ts.

import { acquireLock } from '../../dist/apply/lock.js';

const [dir, mode, command] = process.argv.slice(2);
if (!dir || (mode !== 'exclusive' && mode !== 'shared') || !command) {
  process.stderr.write('usage: hold-lock.mjs STATE_DIR exclusive|shared COMMAND\n');
  process.exit(2);
}
const lock = await acquireLock(dir, { command, mode, timeoutMs: 30_000 });
process.stdout.write(`held ${process.pid}\n`);
process.stdin.resume();
process.stdin.on('end', () => void lock.release().then(() => process.exit(0)));
