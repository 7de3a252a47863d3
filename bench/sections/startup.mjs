// Section startup: the single-file bundle (dist/imgplan.mjs, what scripts/install.sh installs)
// against tsc's output (dist/cli/main.js, hundreds of modules), the same commands on the same node:
// --version, validate and plan of the raw image (nothing is attached: plan only reads).

import { NODE, run } from '../proc.mjs';
import { TARGETS, ratioPair } from '../report.mjs';
import { CLI, TSC_CLI } from '../workspace.mjs';
import { abbaRounds, step } from './common.mjs';

const COMMANDS = [
  ['version', '--version', () => ['--version']],
  ['validate', 'validate', (ws) => ['validate', ws.manifest]],
  ['plan', 'plan', (ws) => ['plan', ws.manifest]],
];

/** Runs the startup section; adds one pair per command (bundle vs dist/cli/main.js). */
export async function startupSection(ws, opts, res) {
  const cmd = (cli, args) => () => run([NODE, cli, ...args], { env: ws.imgplanEnv, cwd: ws.tmp });
  const pairs = COMMANDS.map(([key, , args]) => [[step(`bundle-${key}`, cmd(CLI, args(ws)))], [step(`tsc-${key}`, cmd(TSC_CLI, args(ws)))]]);
  const s = await abbaRounds(ws, opts, { section: 'startup', pairs });
  for (const [key, name] of COMMANDS) {
    res.pairs.push({ ...ratioPair('startup', `${name} (bundle)`, s[`bundle-${key}`], s[`tsc-${key}`], TARGETS.bundleRatio, 'dist/cli/main.js') });
  }
  res.baselines.startup = ['node dist/cli/main.js (tsc output, the same commands)'];
}
