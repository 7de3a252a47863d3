/**
 * The pinned Node.js runtime (scripts/node-runtime.env, scripts/lib/runtime.sh): the pins' form,
 * the oldest supported Node.js in one place with package.json, and the pure shell functions (the
 * integrity check, version parsing, PATH without the pinned runtime). Nothing is downloaded.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '../..');
const pins = Object.fromEntries(readFileSync(join(REPO, 'scripts/node-runtime.env'), 'utf8').split('\n')
  .filter((l) => /^[A-Z_0-9]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } };

/** Runs a bash snippet with scripts/lib/runtime.sh sourced. */
function rt(script: string, env: Record<string, string> = {}) {
  const r = spawnSync('bash', ['-c', `. scripts/lib/runtime.sh\n${script}`], { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'imgplan-runtime-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the pins', () => {
  it('name exact versions and sha512 integrities', () => {
    expect(pins.NODE_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pins.NPM_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    for (const k of ['NODE_INTEGRITY_X64', 'NODE_INTEGRITY_ARM64', 'NPM_INTEGRITY']) {
      expect(pins[k], k).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
      expect(Buffer.from(pins[k]!.slice(7), 'base64')).toHaveLength(64);
    }
    expect(pins.NODE_INTEGRITY_X64).not.toBe(pins.NODE_INTEGRITY_ARM64);
  });

  it('keep the oldest supported Node.js equal to package.json engines, and pin an even (LTS) major at least that', () => {
    expect(pkg.engines.node).toBe(`>=${pins.IMGPLAN_NODE_MIN}`);
    const major = Number(pins.NODE_VERSION!.split('.')[0]);
    expect(major).toBeGreaterThanOrEqual(Number(pins.IMGPLAN_NODE_MIN));
    expect(major % 2).toBe(0);
  });

  it('are the versions the README names', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    expect(readme).toContain(`(Node.js ${pins.NODE_VERSION}, npm ${pins.NPM_VERSION})`);
    expect(readme).toContain(`imgplan needs Node.js ${pins.IMGPLAN_NODE_MIN} or newer`);
  });
});

describe('scripts/lib/runtime.sh', () => {
  const file = join(tmp, 'blob.tgz');
  writeFileSync(file, 'not really a tarball\n');
  const integrity = `sha512-${createHash('sha512').update('not really a tarball\n').digest('base64')}`;

  it('accepts a file that matches its integrity', () => {
    expect(rt(`rt_verify '${file}' '${integrity}' blob.tgz`).code).toBe(0);
  });

  it('fails loudly on a mismatch, with both integrities', () => {
    const other = `sha512-${createHash('sha512').update('something else').digest('base64')}`;
    const r = rt(`rt_verify '${file}' '${other}' blob.tgz`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('blob.tgz does not match its pin');
    expect(r.stderr).toContain(`expected ${other}`);
    expect(r.stderr).toContain(`got      ${integrity}`);
  });

  it('refuses a pin that is not a sha512 integrity', () => {
    expect(rt(`rt_verify '${file}' 'sha1-abc' blob.tgz`).stderr).toMatch(/is not a sha512 integrity/);
  });

  it('reads the major version of a node, 0 for one that does not run', () => {
    for (const [name, text] of [['n18', 'echo v18.20.4'], ['n24', 'echo v24.22.3'], ['bad', 'exit 1'], ['odd', 'echo hello']] as const) {
      writeFileSync(join(tmp, name), `#!/bin/sh\n${text}\n`);
      chmodSync(join(tmp, name), 0o755);
    }
    expect(rt(`for n in n18 n24 bad odd missing; do rt_major '${tmp}'/$n; done`).stdout.split('\n')).toEqual(['18', '24', '0', '0', '0', '']);
  });

  it('takes the pinned runtime out of PATH when it looks for the host\'s node', () => {
    const r = rt('rt_host_path', { PATH: `${REPO}/.runtime/node/bin:/usr/bin:${REPO}/.runtime/node/bin:/bin` });
    expect(r.stdout).toBe('/usr/bin:/bin');
  });

  it('maps the machine to the npm package of its binaries', () => {
    const arch = rt('rt_arch').stdout.trim();
    expect(['x64', 'arm64']).toContain(arch);
    expect(rt('rt_want_stamp').stdout).toBe(`node ${pins.NODE_VERSION} linux-${arch} ${arch === 'x64' ? pins.NODE_INTEGRITY_X64 : pins.NODE_INTEGRITY_ARM64}\n`
      + `npm ${pins.NPM_VERSION} ${pins.NPM_INTEGRITY}\n`);
  });
});
