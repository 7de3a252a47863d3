#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';

// Heavy modules (ajv, yaml, execa) load inside the commands, so `imgplan --version` stays fast.
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

async function main(argv: string[]): Promise<number> {
  const program = new Command('imgplan')
    .description('Plan, apply and destroy read-only mounts of guest disk images, Terraform-style.')
    .version(pkg.version, '-V, --version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  let code = 0;
  const run = (name: 'plan' | 'apply' | 'destroy' | 'validate') => async (manifest: string | undefined, options: Record<string, unknown>) => {
    const { runCommand } = await import('./commands.js');
    code = await runCommand(name, manifest ?? 'imgplan.yaml', options);
  };

  program.command('plan')
    .description('show what apply would do to reach the manifest; changes nothing')
    .argument('[manifest]', 'manifest file', 'imgplan.yaml')
    .option('--destroy', 'show what destroy would do instead')
    .option('--allow-writes', 'permit images with access: read-write')
    .action(run('plan'));
  program.command('apply')
    .description('show the plan, ask for "yes", then carry it out')
    .argument('[manifest]', 'manifest file', 'imgplan.yaml')
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .option('--allow-writes', 'permit images with access: read-write')
    .action(run('apply'));
  program.command('destroy')
    .description('undo, in reverse order, what apply made for this manifest (and nothing else)')
    .argument('[manifest]', 'manifest file', 'imgplan.yaml')
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .action(run('destroy'));
  program.command('validate')
    .description('check the manifest against the schema and its rules; reads nothing else')
    .argument('[manifest]', 'manifest file', 'imgplan.yaml')
    .option('--allow-writes', 'permit images with access: read-write')
    .action(run('validate'));
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
    process.stderr.write(`imgplan: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\nThis is a bug; please report it with the output of: imgplan debug capture-state MANIFEST state.json\n`);
    process.exitCode = 70;
  },
);
