// The bench's command line: node:util parseArgs tokenizes, this checks each option in order.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export const SECTIONS = ['raw', 'startup', 'scale', 'qcow2-storage-daemon', 'qcow2-nbd'];

const USAGE = 'usage: node bench/run.mjs [--rounds N] [--warmup N] [--json] [--only SECTION[,SECTION…]] [--vm-rounds N] [--vm-warmup N]\n' +
  '                         [--scale N[,N…]] [--scale-rounds N] [--compare-cli FILE]\n' +
  '  --rounds N     timed rounds (default 7)\n  --warmup N     untimed rounds first (default 1)\n' +
  '  --json         print the results as JSON on stdout (the table goes to stderr)\n' +
  `  --only S       run only these sections: ${SECTIONS.join(', ')} or all (default all)\n` +
  '  --vm-rounds N  timed rounds of qcow2-nbd when it runs in the VM lane (default 3: TCG is slow)\n' +
  '  --vm-warmup N  untimed rounds first there (default 1)\n' +
  '  --scale N,…    the scale section\'s manifest sizes in images (default 1,16,64)\n' +
  '  --scale-rounds N  its timed rounds per size (default 3)\n' +
  '  --compare-cli FILE  the scale section also times this build of imgplan (an earlier dist/imgplan.mjs), interleaved\n';

/** Prints the usage (on stderr unless code is 0) and exits with code. */
export function usage(code) {
  (code ? process.stderr : process.stdout).write(USAGE);
  process.exit(code);
}

/** Whole-number options: their key in the result and their minimum. */
const NUMBERS = { rounds: ['rounds', 1], warmup: ['warmup', 0], 'vm-rounds': ['vmRounds', 1], 'vm-warmup': ['vmWarmup', 0], 'scale-rounds': ['scaleRounds', 1] };

const OPTIONS = {
  rounds: { type: 'string' }, warmup: { type: 'string' }, 'vm-rounds': { type: 'string' }, 'vm-warmup': { type: 'string' },
  only: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  scale: { type: 'string' }, 'scale-rounds': { type: 'string' }, 'compare-cli': { type: 'string' },
};

function fail(message) {
  process.stderr.write(`bench: ${message}\n`);
  usage(2);
}

function wholeNumber(name, v) {
  const n = Number(v);
  const min = NUMBERS[name][1];
  if (!Number.isInteger(n) || n < min) fail(`--${name} needs a whole number ≥ ${min}, got ${v}`);
  return n;
}

function sizeList(v) {
  const list = String(v ?? '').split(',').map(Number);
  if (!list.length || list.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) fail(`--scale takes image counts from 1 to 256 (comma-separated), got ${v}`);
  return [...new Set(list)].sort((a, b) => a - b);
}

function sectionList(v) {
  const list = String(v ?? '').split(',');
  const bad = list.filter((x) => x !== 'all' && !SECTIONS.includes(x));
  if (bad.length || !list.length) fail(`--only takes ${SECTIONS.join(', ')} or all (comma-separated), got ${list.join(',')}`);
  return new Set(list.includes('all') ? SECTIONS : list);
}

/**
 * The options, from argv (process.argv.slice(2)); exits 2 with the usage on a bad one, 0 after
 * printing it for -h/--help. Options apply in order: the first bad or --help one decides.
 */
export function parseOptions(argv) {
  const o = { rounds: 7, warmup: 1, json: false, only: new Set(SECTIONS), vmRounds: 3, vmWarmup: 1, scale: [1, 16, 64], scaleRounds: 3, compareCli: null };
  const { tokens } = parseArgs({ args: argv, options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    const arg = argv[t.index];
    const known = t.kind === 'option' && Object.hasOwn(OPTIONS, t.name);
    // a flag with a value (--json=1), or one letter of a group (-hx), is not one of ours
    const flagOk = known && (OPTIONS[t.name].type === 'string' || (!t.inlineValue && arg === t.rawName));
    if (!flagOk) fail(`unknown argument ${arg}`);
    else if (Object.hasOwn(NUMBERS, t.name)) o[NUMBERS[t.name][0]] = wholeNumber(t.name, t.value);
    else if (t.name === 'only') o.only = sectionList(t.value);
    else if (t.name === 'json') o.json = true;
    else if (t.name === 'scale') o.scale = sizeList(t.value);
    else if (t.name === 'compare-cli') {
      if (!existsSync(String(t.value))) fail(`--compare-cli: no such file ${t.value}`);
      o.compareCli = resolve(String(t.value));
    }
    else usage(0);
  }
  return o;
}
