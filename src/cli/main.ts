#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';

// Heavy modules (ajv, yaml, execa) load inside the commands, so `imgplan --version` stays fast.

// A reader that goes away (`imgplan apply … | head`) must not kill a run half-way through its
// steps: output is best-effort, the steps and the journal are not.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

async function main(argv: string[]): Promise<number> {
  const program = new Command('imgplan')
    .description('Plan, apply and destroy read-only mounts of guest disk images, Terraform-style.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  let code = 0;
  type Name = import('./commands.js').Name;
  const run = (name: Name) => async (file: string | undefined, options: Record<string, unknown>) => {
    const { runCommand } = await import('./commands.js');
    code = await runCommand(name, file ?? 'imgplan.yaml', options);
  };
  const manifestArg = ['[manifest]', 'manifest file (default: imgplan.yaml)'] as const;
  const lockTimeout = ['--lock-timeout <seconds>', 'wait this long for another run\'s lock (default 10)'] as const;

  program.command('plan')
    .description('show what apply would do to reach the manifest; changes nothing')
    .argument(...manifestArg)
    .option('--destroy', 'show what destroy would do instead')
    .option('--out <file>', 'save the plan; "imgplan apply FILE" then carries out exactly it')
    .option('--json', 'print the plan as JSON (schemas/plan.schema.json)')
    .option('--detailed-exitcode', 'exit 0 when there is nothing to do, 2 when there are changes')
    .option('--target <address>', 'only this object and what it depends on (recovery)')
    .option(...lockTimeout)
    .option('--allow-writes', 'permit images with access: read-write')
    .action(run('plan'));
  program.command('apply')
    .description('show the plan, ask for "yes", then carry it out; or carry out a saved plan')
    .argument('[manifest-or-plan]', 'manifest, or a plan saved with plan --out (default: imgplan.yaml)')
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .option('--json', 'print the plan and one JSON event per line')
    .option('--target <address>', 'only this object and what it depends on (recovery)')
    .option(...lockTimeout)
    .option('--allow-writes', 'permit images with access: read-write')
    .option('--no-rollback', 'after a failed step or Ctrl-C, keep what this run made (destroy removes it) instead of undoing it')
    .action(run('apply'));
  program.command('destroy')
    .description('undo, in reverse order, what apply made for this manifest (and nothing else)')
    .argument(...manifestArg)
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .option('--json', 'print the plan and one JSON event per line')
    .option('--target <address>', 'only this object and what depends on it (recovery)')
    .option(...lockTimeout)
    .action(run('destroy'));
  program.command('validate')
    .description('check the manifest against the schema and its rules; reads nothing else')
    .argument(...manifestArg)
    .option('--allow-writes', 'permit images with access: read-write')
    .action(run('validate'));
  program.command('show')
    .description('print a plan saved with plan --out')
    .argument('<plan>', 'saved plan file')
    .option('--json', 'as JSON (schemas/plan.schema.json)')
    .action(run('show'));
  program.command('graph')
    .description('print the action graph as Graphviz DOT (| dot -Tsvg > plan.svg)')
    .argument(...manifestArg)
    .option('--destroy', 'the graph of destroy instead')
    .option('--target <address>', 'only this object and what it depends on')
    .option(...lockTimeout)
    .action(run('graph'));
  const debug = program.command('debug').description('tools for bug reports and test fixtures');
  debug.command('capture-state')
    .description('record every probe imgplan makes for a manifest into a JSON file (read-only)')
    .argument('<manifest>', 'manifest file')
    .argument('<out>', 'output JSON file')
    .option('--scenario <text>', 'what the recorded state shows', '')
    .action(async (manifest: string, out: string, options: { scenario: string }) => {
      const { captureState } = await import('./commands.js');
      code = await captureState(manifest, out, options.scenario);
    });

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 3;
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
