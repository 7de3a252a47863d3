import { Command } from 'commander';
import { VERSION } from '../version.js';

/**
 * The command line as data: one commander program that main.ts runs and that scripts/gen-docs.mjs
 * walks (without running it) to write imgplan(1) and the bash and zsh completion, so --help, the
 * man page and the completion cannot drift apart. Heavy modules (ajv, yaml, execa) load inside
 * the actions, so building the program stays cheap (`imgplan --version`, completion).
 */

/** One example of a command: the command line, and what it does (README style). */
export interface Example {
  readonly command: string;
  readonly says: string;
}

/** Examples per command path ("plan", "debug capture-state"), shown after --help and in the man page's EXAMPLES. */
export const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  plan: [
    { command: 'imgplan plan', says: 'what apply would do for imgplan.yaml in this folder; changes nothing' },
    { command: 'imgplan plan rescue.yaml --out rescue.plan', says: 'save the plan, to review it (imgplan show) and apply exactly it' },
    { command: 'imgplan plan rescue.yaml --destroy', says: 'what destroy would remove, in order' },
    { command: 'imgplan plan rescue.yaml --json > plan.json', says: 'the plan as JSON (schemas/plan.schema.json)' },
    { command: 'imgplan plan rescue.yaml --detailed-exitcode', says: 'in a script: exit 0 nothing to do, 2 changes, 1 or 3 an error' },
  ],
  apply: [
    { command: 'imgplan apply rescue.yaml', says: 'show the plan, ask for "yes", then attach and mount read-only' },
    { command: 'imgplan apply rescue.plan', says: 'carry out exactly a saved plan, without asking (exit 6 if stale)' },
    { command: 'imgplan apply rescue.yaml --auto-approve --json', says: 'unattended: one JSON event per line' },
    { command: 'imgplan apply rescue.yaml --target mount:/mnt/web01', says: 'recovery: only that mount and what it stands on' },
  ],
  destroy: [
    { command: 'imgplan destroy rescue.yaml', says: 'unmount and detach, in reverse order, what apply made for this manifest' },
    { command: 'imgplan destroy rescue.yaml --auto-approve', says: 'without asking (needed when stdin is not a terminal)' },
    { command: 'imgplan destroy rescue.yaml --target attach:web01/part1', says: 'recovery: that loop device and what stands on it' },
  ],
  inspect: [
    { command: 'imgplan inspect web01.img', says: 'partitions, filesystems, LVM and Windows state of a raw image; attaches and mounts nothing' },
    { command: 'imgplan inspect --format qcow2 web01.qcow2 --json', says: 'a QEMU image (its format is given, never guessed), as JSON' },
    { command: 'imgplan inspect rescue.yaml', says: 'every image of a manifest, with the formats it gives' },
  ],
  init: [
    { command: 'imgplan init web01.img > web01.yaml', says: 'a starter manifest: the guest mounted as its own fstab mounts it, below /mnt/web01' },
    { command: 'imgplan init --format qcow2 --where /srv/case42 web01.qcow2 web01-data.qcow2', says: 'two disks of one guest, below another folder' },
  ],
  exec: [
    { command: 'imgplan exec rescue.yaml -- cat etc/hostname', says: 'open the guest, run one command in its root (the first mount), close it again' },
    { command: 'imgplan exec rescue.yaml', says: 'a shell in the guest\'s tree; exiting it unmounts and detaches' },
    {
      command: 'imgplan exec rescue.yaml --auto-approve -- tar -C "$IMGPLAN_ROOT" -czf /srv/web01-etc.tgz etc',
      says: 'unattended: exits with tar\'s status (125 if imgplan failed)',
    },
  ],
  validate: [
    { command: 'imgplan validate rescue.yaml', says: 'check the manifest (schema and rules); reads no image' },
    { command: 'imgplan validate evidence.yaml --allow-writes', says: 'a manifest with access: read-write' },
  ],
  show: [
    { command: 'imgplan show rescue.plan', says: 'print a saved plan for review' },
    { command: 'imgplan show rescue.plan --json | jq .summary', says: 'its JSON view' },
  ],
  graph: [
    { command: 'imgplan graph rescue.yaml | dot -Tsvg > plan.svg', says: 'draw the action graph with Graphviz' },
    { command: 'imgplan graph rescue.yaml --destroy', says: 'the graph of destroy' },
  ],
  'debug capture-state': [
    { command: 'imgplan debug capture-state rescue.yaml state.json', says: 'record every probe for a bug report (read-only)' },
    { command: 'imgplan debug capture-state rescue.yaml state.json --scenario "web01 up"', says: 'with a note of what it shows' },
  ],
};

/** The program's own examples (imgplan --help): the README's quick start. */
export const PROGRAM_EXAMPLES: readonly Example[] = [
  { command: 'imgplan plan', says: 'MANIFEST defaults to imgplan.yaml' },
  { command: 'imgplan apply', says: 'attach and mount what the manifest names, read-only' },
  { command: 'imgplan destroy', says: 'undo exactly what apply made' },
  { command: 'imgplan plan --help', says: 'a command\'s options and examples' },
];

/** The text after a command's --help: each example as a comment saying what it does, then the command line (copy-pastable). */
export function examplesText(examples: readonly Example[]): string {
  return `\nExamples:\n${examples.map((e) => `  # ${e.says}\n  ${e.command}\n`).join('\n')}`;
}

/** What the program's actions call: each command's runner, and where it leaves the exit code. */
export interface Actions {
  run(name: import('./commands.js').Name, file: string, options: Record<string, unknown>): Promise<number>;
  inspect(images: readonly string[], options: Record<string, unknown>): Promise<number>;
  init(images: readonly string[], options: Record<string, unknown>): Promise<number>;
  exec(manifest: string, command: readonly string[], options: Record<string, unknown>): Promise<number>;
  captureState(manifest: string, out: string, scenario: string): Promise<number>;
  complete(what: string, file: string | undefined): Promise<number>;
  readGuest(request: string): Promise<number>;
  exit(code: number): void;
}

/** The actions main.ts gives: the commands, loaded when one runs. */
export const defaultActions = (exit: (code: number) => void): Actions => ({
  run: async (name, file, options) => (await import('./commands.js')).runCommand(name, file, options),
  inspect: async (images, options) => (await import('./commands.js')).inspectCommand(images, options),
  init: async (images, options) => (await import('./commands.js')).initCommand(images, options),
  exec: async (manifest, command, options) => (await import('./exec.js')).execCommand(manifest, command, options),
  captureState: async (manifest, out, scenario) => (await import('./commands.js')).captureState(manifest, out, scenario),
  complete: async (what, file) => (await import('./complete.js')).complete(what, file),
  readGuest: async (request) => (await import('./read-guest.js')).readGuest(request),
  exit,
});

/** Actions that do nothing: for walking the program (documentation, completion) without running it. */
const inert: Actions = {
  run: async () => 0, inspect: async () => 0, init: async () => 0, exec: async () => 0, captureState: async () => 0, complete: async () => 0,
  readGuest: async () => 0,
  exit: () => undefined,
};

/** imgplan's command line: every command, argument and option, with its help text and examples. */
export function buildProgram(actions: Actions = inert): Command {
  const program = new Command('imgplan')
    .description('Plan, apply and destroy read-only mounts of guest disk images, Terraform-style.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText('after', examplesText(PROGRAM_EXAMPLES));

  type Name = import('./commands.js').Name;
  const run = (name: Name) => async (file: string | undefined, options: Record<string, unknown>) => {
    actions.exit(await actions.run(name, file ?? 'imgplan.yaml', options));
  };
  const withExamples = (cmd: Command, path: string) => cmd.addHelpText('after', examplesText(EXAMPLES[path] ?? []));
  const manifestArg = ['[manifest]', 'manifest file (default: imgplan.yaml)'] as const;
  const lockTimeout = ['--lock-timeout <seconds>', 'wait this long for another run\'s lock (default 10)'] as const;

  withExamples(program.command('plan'), 'plan')
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
  withExamples(program.command('apply'), 'apply')
    .description('show the plan, ask for "yes", then carry it out; or carry out a saved plan')
    .argument('[manifest-or-plan]', 'manifest, or a plan saved with plan --out (default: imgplan.yaml)')
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .option('--json', 'print the plan and one JSON event per line')
    .option('--target <address>', 'only this object and what it depends on (recovery)')
    .option(...lockTimeout)
    .option('--allow-writes', 'permit images with access: read-write')
    .option('--no-rollback', 'after a failed step or Ctrl-C, keep what this run made (destroy removes it) instead of undoing it')
    .action(run('apply'));
  withExamples(program.command('destroy'), 'destroy')
    .description('undo, in reverse order, what apply made for this manifest (and nothing else)')
    .argument(...manifestArg)
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .option('--json', 'print the plan and one JSON event per line')
    .option('--target <address>', 'only this object and what depends on it (recovery)')
    .option(...lockTimeout)
    .action(run('destroy'));
  withExamples(program.command('inspect'), 'inspect')
    .description('show what disk images hold (partitions, filesystems, LVM, Windows state); attaches, mounts and writes nothing')
    .argument('<image...>', 'image files, or one manifest (*.yaml, *.yml): its images, each with its own format')
    .option('--format <format>', 'the image files\' format: raw (default), qcow2, vmdk, vdi, vhdx, vpc; never guessed')
    .option('--json', 'as JSON (schemas/inspect.schema.json)')
    .action(async (images: string[], options: Record<string, unknown>) => {
      actions.exit(await actions.inspect(images, options));
    });
  withExamples(program.command('init'), 'init')
    .description('write a starter manifest to stdout: each guest mounted the way its own fstab does, read-only; changes nothing')
    .argument('<image...>', 'image files of one or more guests')
    .option('--format <format>', 'the image files\' format: raw (default), qcow2, vmdk, vdi, vhdx, vpc; never guessed')
    .option('--where <dir>', 'where the guest\'s / goes (default /mnt/NAME, NAME from the file name); with several images, DIR/NAME for each')
    .action(async (images: string[], options: Record<string, unknown>) => {
      actions.exit(await actions.init(images, options));
    });
  withExamples(program.command('exec'), 'exec')
    .description('apply, run COMMAND in the guest\'s tree, then destroy, always (after a failure, Ctrl-C or SIGTERM too); exits with COMMAND\'s status')
    .argument('<manifest>', 'manifest file')
    .argument('[command...]', 'the command and its arguments, after "--" (default: $SHELL)')
    .option('--auto-approve', 'do not ask; required when stdin is not a terminal')
    .option(...lockTimeout)
    .option('--allow-writes', 'permit images with access: read-write')
    .action(async (manifest: string, command: string[], options: Record<string, unknown>) => {
      actions.exit(await actions.exec(manifest, command, options));
    });
  withExamples(program.command('validate'), 'validate')
    .description('check the manifest against the schema and its rules; reads nothing else')
    .argument(...manifestArg)
    .option('--allow-writes', 'permit images with access: read-write')
    .action(run('validate'));
  withExamples(program.command('show'), 'show')
    .description('print a plan saved with plan --out')
    .argument('<plan>', 'saved plan file')
    .option('--json', 'as JSON (schemas/plan.schema.json)')
    .action(run('show'));
  withExamples(program.command('graph'), 'graph')
    .description('print the action graph as Graphviz DOT (| dot -Tsvg > plan.svg)')
    .argument(...manifestArg)
    .option('--destroy', 'the graph of destroy instead')
    .option('--target <address>', 'only this object and what it depends on')
    .option(...lockTimeout)
    .action(run('graph'));
  const debug = program.command('debug').description('tools for bug reports and test fixtures');
  withExamples(debug.command('capture-state'), 'debug capture-state')
    .description('record every probe imgplan makes for a manifest into a JSON file (read-only)')
    .argument('<manifest>', 'manifest file')
    .argument('<out>', 'output JSON file')
    .option('--scenario <text>', 'what the recorded state shows', '')
    .action(async (manifest: string, out: string, options: { scenario: string }) => {
      actions.exit(await actions.captureState(manifest, out, options.scenario));
    });
  // for the shell completion: cheap, no probe, no root (src/cli/complete.ts)
  program.command('__complete', { hidden: true })
    .description('print completion candidates: "addresses [MANIFEST-OR-PLAN]" (for --target)')
    .argument('<what>', 'addresses')
    .argument('[file]', 'manifest or saved plan (default: imgplan.yaml)')
    .action(async (what: string, file: string | undefined) => {
      actions.exit(await actions.complete(what, file));
    });
  // inspect's guest reader, started by inspect itself in private namespaces (src/cli/read-guest.ts)
  program.command('__read-guest', { hidden: true })
    .argument('<request>', 'JSON: GuestReadRequest')
    .action(async (request: string) => {
      actions.exit(await actions.readGuest(request));
    });
  return program;
}
