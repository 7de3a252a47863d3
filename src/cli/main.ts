#!/usr/bin/env node
import { CommanderError } from 'commander';
import { buildProgram, defaultActions } from './program.js';

// The commands, their options and help text are in program.ts (also read by scripts/gen-docs.mjs).

// A reader that goes away (`imgplan apply … | head`) must not kill a run half-way through its
// steps: output is best-effort, the steps and the journal are not.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram(defaultActions((c) => {
    code = c;
  }));

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      // exec's own failures are 125, so that its other statuses are the command's (README "exec")
      return argv.slice(2).find((a) => !a.startsWith('-')) === 'exec' ? 125 : 3;
    }
    throw e;
  }
  return code;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`imgplan: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`
      + 'This is a bug; please report it with the output of: imgplan debug capture-state MANIFEST state.json\n');
    process.exitCode = 70;
  },
);
