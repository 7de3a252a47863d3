// Bundles the built CLI (dist/cli/main.js, from tsc) and everything it imports into one file,
// dist/imgplan.mjs (ESM, for Node.js 22+), with the version and the precompiled schema validators
// (scripts/build-validator.mjs) embedded: the bundle reads no file beside it, so it runs copied
// alone anywhere (scripts/install.sh puts it under PREFIX/lib/imgplan). dist/embedded.js, undefined
// in dist/, is replaced here by a module that defines them. Also writes dist/imgplan.mjs.licenses.txt,
// the licences of the packages bundled.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
/** The oldest Node.js imgplan supports: package.json's engines (">=22"). */
const minNode = Number(/^>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
if (!minNode) throw new Error(`package.json engines.node is not ">=N": ${pkg.engines.node}`);

let embedded = 0;
const embed = {
  name: 'imgplan-embed',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]embedded\.js$/ }, () => {
      embedded++;
      const validator = (f) => JSON.stringify(join(dist, f));
      return {
        loader: 'js',
        resolveDir: dist,
        contents: [
          `import manifestValidator from ${validator('manifest/manifest-validator.cjs')};`,
          `import journalValidator from ${validator('journal/journal-validator.cjs')};`,
          `export const EMBEDDED = { version: ${JSON.stringify(pkg.version)}, manifestValidator, journalValidator };`,
        ].join('\n'),
      };
    });
  },
};

const outfile = join(dist, 'imgplan.mjs');
const result = await build({
  entryPoints: [join(dist, 'cli/main.js')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: `node${minNode}`,
  // CommonJS dependencies (cross-spawn, the validators' ajv runtime) require Node's built-ins
  banner: {
    js: [
      `if (Number(process.versions.node.split('.')[0]) < ${minNode}) {`,
      `  process.stderr.write('imgplan needs Node.js ${minNode} or newer; this is ' + process.execPath + ' ' + process.version + '\\n');`,
      '  process.exit(1);',
      '}',
      "import { createRequire as __imgplanCreateRequire } from 'node:module';",
      'const require = __imgplanCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  // minified: Node parses the whole file at start, and 470 kB parse faster than 780 kB (~30 ms on
  // `--version`); the stack of an internal error names minified functions (dist/cli/main.js has the real ones)
  minify: true,
  legalComments: 'none',
  metafile: true,
  plugins: [embed],
  logLevel: 'warning',
});
if (embedded !== 1) throw new Error(`dist/embedded.js was replaced ${embedded} times, not once: the bundle would read files beside it`);

// the licences of what the bundle holds, for whoever ships it
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.set(m[1], join(root, input.slice(0, m.index + m[0].length)));
}
const sections = [...packages].sort(([a], [b]) => a.localeCompare(b)).map(([name, dir]) => {
  const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `(no licence file in ${relative(root, dir)}; package.json says ${license})`;
  return `${name} ${version} (${license})\n\n${text}\n`;
});
const licences = join(dist, 'imgplan.mjs.licenses.txt');
writeFileSync(licences, `imgplan ${pkg.version} (${pkg.license}) bundles these packages:\n\n${sections.join('\n----------------------------------------\n\n')}`);
if (!existsSync(outfile)) throw new Error('the bundle was not written');
