/**
 * `imgplan inspect`'s Windows identity: each NTFS volume holding Windows/System32/config is
 * mounted read-only (ntfs-3g, FUSE, in the reader's private mount and PID namespaces) and its
 * SOFTWARE and SYSTEM hives, real ones built with hivex (test/support/windows-hives.sh), read with
 * hivexget; hostile hives (a link to the host, junk, escapes) are reported, never followed or shown raw.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { ImageReport, InspectReport } from '../../src/core/inspect.js';
import { ExecaRunner } from '../../src/runner/execa-runner.js';
import { findCaseless, openGuestFile } from '../../src/runner/guest-files.js';
import { CLI, isRoot, sh, sha256, useSandbox } from './harness.js';

const describeRoot = isRoot ? describe : describe.skip;
const sb = useSandbox();
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/inspect.schema.json', import.meta.url), 'utf8')) as object,
);

async function inspectJson(images: string[], env?: Record<string, string>): Promise<{ code: number; images: ImageReport[]; stderr: string }> {
  const r = await sb.imgplan(['inspect', '--json', ...images], { env });
  const report = JSON.parse(r.stdout) as InspectReport;
  expect(validate(report), JSON.stringify(validate.errors)).toBe(true);
  expect(report.format_version).toBe('1.2');
  return { code: r.code, images: [...report.images], stderr: r.stderr };
}

/** Nothing of the reader is left: no mount, no loop of the sandbox, no ntfs-3g. */
async function nothingLeft(): Promise<void> {
  let left = await sb.leaks();
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await sb.leaks();
  }
  expect(left).toEqual([]);
  expect(await sh(['findmnt', '--list', '--noheadings', '--output', 'SOURCE'])).not.toContain('imgplan-inspect');
  expect(await sh(['pgrep', '-a', 'ntfs-3g']).catch(() => '')).not.toContain(sb.root);
}

describeRoot('imgplan inspect: Windows guests (host kernel, ntfs-3g, hivex)', () => {
  it('win7 (C: hibernated) and win10 (caseless folders, control set 2): product, version, build, computer name; nothing written', async () => {
    const win7 = await sb.windowsDisk('win7.img', 'win7', 'hibernated');
    const win10 = await sb.windowsDisk('win10.img', 'win10', 'clean', 'caseless');
    const win11 = await sb.windowsDisk('win11.img', 'win10', 'unclean', 'win11');
    const images = [win7, win10, win11];
    const before = await Promise.all(images.map(sha256));

    const { code, images: [w7, w10, w11], stderr } = await inspectJson(images);
    expect(code, stderr).toBe(0);
    // System Reserved (part1) is NTFS without Windows: no guest, not listed as unread
    expect(w7!.guests).toEqual([{
      kind: 'windows', root: 'part2', problems: [],
      network: [{
        name: '{6A4C1D2E-3B5F-4A7C-9D8E-0F1A2B3C4D5E}', addresses: ['10.0.2.15/24'], dhcp: true, gateway: '10.0.2.2',
        source: 'SYSTEM \\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{6A4C1D2E-3B5F-4A7C-9D8E-0F1A2B3C4D5E}',
      }],
      windows: {
        product_name: 'Windows 7 Professional', edition_id: 'Professional', installation_type: 'Client', version: '6.1', build: '7601',
        computer_name: 'WIN7-PC', hostname: 'WIN7-PC', config: '/Windows/System32/config', control_set: 'ControlSet001',
      },
    }]);
    expect(w7!.unread ?? []).toEqual([]);
    expect(w7!.partition_table!.partitions[1]!.filesystem?.windows?.state).toBe('hibernated');
    expect(w10!.guests).toEqual([{
      kind: 'windows', root: 'part3', problems: [],
      // the unused adapter (DHCP, no lease) says nothing
      network: [{
        name: '{0C2B4A6D-8E1F-4B3A-A5C7-D9E1F3A5B7C9}', addresses: ['192.168.50.10/24'], dhcp: false, gateway: '192.168.50.1',
        source: 'SYSTEM \\ControlSet002\\Services\\Tcpip\\Parameters\\Interfaces\\{0C2B4A6D-8E1F-4B3A-A5C7-D9E1F3A5B7C9}',
      }],
      windows: {
        product_name: 'Windows 10 Pro', edition_id: 'Professional', installation_type: 'Client', version: '10.0', display_version: '22H2',
        build: '19045', ubr: 3803, computer_name: 'DESKTOP-TEST', hostname: 'DESKTOP-TEST', domain: 'corp.example',
        // found as Windows finds it, whatever the case of the folders and files
        config: '/WINDOWS/system32/CONFIG', control_set: 'ControlSet002',
      },
    }]);
    expect(w11!.guests![0]!.windows).toMatchObject({ product_name: 'Windows 10 Pro', build: '22631', ubr: 2861, windows_11: true, computer_name: 'WIN11-VM' });

    const text = await sb.imgplan(['inspect', win7, win11]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${win7}: raw, 64.0 MiB\n  guest on part2: Windows 7 Professional (6.1, build 7601)\n    computer name WIN7-PC\n` +
      '    edition Professional  installation Client\n    network {6A4C1D2E-3B5F-4A7C-9D8E-0F1A2B3C4D5E}  10.0.2.15/24  dhcp  gateway 10.0.2.2\n');
    expect(text.stdout).toContain('  guest on part3: Windows 10 Pro (10.0, 23H2, build 22631.2861)\n    Windows 11: build 22000 or later');

    await nothingLeft();
    expect(await Promise.all(images.map(sha256))).toEqual(before);
  });

  it('hostile hives: a link to the host\'s files reads nothing of the host; junk is a problem; escapes are shown as escapes', async () => {
    const link = await sb.windowsDisk('link.img', 'win7', 'clean', 'link');
    const junk = await sb.windowsDisk('junk.img', 'win10', 'clean', 'junk');
    const evil = await sb.windowsDisk('evil.img', 'win7', 'clean', 'evil');
    const images = [link, junk, evil];
    const before = await Promise.all(images.map(sha256));

    const { code, images: [l, j, e], stderr } = await inspectJson(images);
    expect(code, stderr).toBe(0);
    // SOFTWARE -> /etc/passwd and SYSTEM -> ../../../../../etc/shadow resolve inside the guest, where there is no such file
    expect(l!.guests).toEqual([{
      kind: 'windows', root: 'part2', network: [], windows: { config: '/Windows/System32/config' },
      problems: [
        '/Windows/System32/config/SOFTWARE: no such file (a link to nothing inside the guest)',
        '/Windows/System32/config/SYSTEM: no such file (a link to nothing inside the guest)',
      ],
    }]);
    expect(JSON.stringify(l)).not.toContain('root:x:0:0');
    // hivexget refuses the junk SOFTWARE; SYSTEM is still read
    expect(j!.guests![0]!.windows).toEqual({
      computer_name: 'DESKTOP-TEST', hostname: 'DESKTOP-TEST', domain: 'corp.example', config: '/Windows/System32/config', control_set: 'ControlSet002',
    });
    expect(j!.guests![0]!.problems).toEqual([expect.stringMatching(/^SOFTWARE \\Microsoft\\Windows NT\\CurrentVersion: hivexget failed: hivexsh: failed to open hive file: SOFTWARE/)]);
    // raw in JSON (cut to 256 characters, said so), escaped in text
    const ew = e!.guests![0]!.windows!;
    expect(ew.product_name).toHaveLength(256);
    expect(ew.product_name!.startsWith('Windows\x1b[2J\x1b]0;owned\x07 "q" \\ line\nTWO AAAA')).toBe(true);
    expect(ew.computer_name).toBe('EVIL\x1b[31mPC');
    expect(e!.guests![0]!.problems).toEqual(['SOFTWARE CurrentVersion ProductName: only its first 256 characters are kept']);

    const text = await sb.imgplan(['inspect', evil]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(text.stdout).toContain('  guest on part2: Windows\\e[2J\\e]0;owned\\x07 "q" \\\\ line\\nTWO AAAA');
    expect(text.stdout).toContain('    computer name EVIL\\e[31mPC  hostname evil\n');

    await nothingLeft();
    expect(await Promise.all(images.map(sha256))).toEqual(before);
  });

  it('a host without hivexget: the Windows volume is listed as not read, with the package to install; nothing fails', async () => {
    const win7 = await sb.windowsDisk('win7.img', 'win7', 'clean');
    // every tool of /usr/bin but hivex's
    const bin = sb.path('bin');
    mkdirSync(bin);
    for (const f of readdirSync('/usr/bin')) if (!f.startsWith('hivex')) symlinkSync(`/usr/bin/${f}`, `${bin}/${f}`);
    const path = `${bin}:/usr/local/sbin:/usr/sbin:/sbin`;
    const before = await sha256(win7);
    const { code, images: [w], stderr } = await inspectJson([win7], { PATH: path });
    expect(code, stderr).toBe(0);
    expect(w!.guests ?? []).toEqual([]);
    expect(w!.unread).toEqual([{ volume: 'part2', why: expect.stringMatching(/hivexget is not installed .*apt-get install libhivex-bin .*dnf install hivex/) }]);
    await nothingLeft();
    expect(await sha256(win7)).toBe(before);
  });

  it('killed while ntfs-3g serves C: (SIGKILL): the FUSE daemon dies with the reader\'s PID namespace; no mount, loop or process is left', async () => {
    const img = await sb.windowsDisk('win7.img', 'win7', 'hibernated');
    const before = await sha256(img);
    const child = execa(process.execPath, [CLI, 'inspect', img], {
      reject: false, stdin: 'ignore', env: { IMGPLAN_STATE_DIR: sb.stateDir, NO_COLOR: '1' },
    });
    let seen = false;
    for (let i = 0; i < 1000 && child.exitCode === null && !seen; i++) {
      seen = (await sh(['pgrep', '-f', `ntfs-3g.*${sb.stateDir}`]).catch(() => '')) !== '';
      if (!seen) await new Promise((r) => setTimeout(r, 10));
    }
    expect(seen, 'the reader mounted an NTFS volume').toBe(true);
    child.kill('SIGKILL');
    await child;
    await nothingLeft();
    expect(await sh(['pgrep', '-f', `ntfs-3g.*${sb.stateDir}`]).catch(() => '')).toBe('');
    expect(await sha256(img)).toBe(before);
  });
});

describeRoot('the hive a command reads (fd 3)', () => {
  it('is the file imgplan opened and checked: a link swapped in afterwards is not followed; FIFOs, directories and big files are refused', async () => {
    const root = sb.path('g');
    mkdirSync(`${root}/WINDOWS/System32/Config`, { recursive: true });
    writeFileSync(`${root}/WINDOWS/System32/Config/software`, 'the guest\'s hive\n');
    writeFileSync(sb.path('host-secret'), 'the host\'s file\n');
    expect(await findCaseless(root, '/Windows/System32/config/SOFTWARE')).toBe('/WINDOWS/System32/Config/software');
    const opened = await openGuestFile(root, '/WINDOWS/System32/Config/software', 1024);
    if (!opened || 'error' in opened) throw new Error(`not opened: ${JSON.stringify(opened)}`);
    try {
      // the guest's path now leads to the host's file
      renameSync(`${root}/WINDOWS/System32/Config/software`, `${root}/moved`);
      symlinkSync(sb.path('host-secret'), `${root}/WINDOWS/System32/Config/software`);
      const r = await new ExecaRunner().run({ argv: ['cat', '/proc/self/fd/3'], effect: 'reads', fileFd3: opened.fh.fd });
      expect(r.stdout).toBe('the guest\'s hive\n');
    } finally {
      await opened.fh.close();
    }
    // resolved inside the guest: the link's /…/host-secret is not in the guest
    expect(await openGuestFile(root, '/WINDOWS/System32/Config/software', 1024)).toBeUndefined();
    await sh(['mkfifo', `${root}/fifo`]);
    expect(await openGuestFile(root, '/fifo', 1024)).toEqual({ error: 'not a regular file' });
    expect(await openGuestFile(root, '/WINDOWS', 1024)).toEqual({ error: 'a directory' });
    expect(await openGuestFile(root, '/moved', 4)).toEqual({ error: '17 bytes: more than the 4 imgplan reads' });
    // bounded output, and a script on stdin
    expect((await new ExecaRunner().run({ argv: ['yes'], effect: 'reads', maxOutputBytes: 1000 })).failure).toBe('killed');
    expect((await new ExecaRunner().run({ argv: ['cat'], effect: 'reads', input: 'cd \\\nls\n' })).stdout).toBe('cd \\\nls\n');
  });
});
