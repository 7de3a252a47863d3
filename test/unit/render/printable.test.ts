import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { argvText } from '../../../src/plan/argv-text.js';
import type { ObservedState } from '../../../src/probe/observed.js';
import { planToJson } from '../../../src/render/plan-json.js';
import { renderPlan } from '../../../src/render/plan-text.js';
import { printable } from '../../../src/printable.js';
import { PLAIN } from '../../../src/render/style.js';
import { manifestFor, observed } from '../golden-support.js';

const HOSTILE = 'boot\u001b]0;owned\u0007\u001b[2J\u202eefil';

describe('text from an image never drives the terminal', () => {
  it('printable escapes control characters and bidi overrides, and leaves ordinary text alone', () => {
    expect(printable('/mnt/web01 ext4 "root"')).toBe('/mnt/web01 ext4 "root"');
    expect(printable(HOSTILE)).toBe('boot\\e]0;owned\\x07\\e[2J\\u202eefil');
    expect(printable('a\\b\nc')).toBe('a\\\\b\\nc');
  });

  it('argv with a control character is shown in bash\'s $\'…\' form', () => {
    expect(argvText(['mount', '-o', 'ro', '/dev/loop0', '/mnt/a b'])).toBe("mount -o ro /dev/loop0 '/mnt/a b'");
    expect(argvText(['echo', 'x\u001b[2J\'y'])).toBe("echo $'x\\e[2J\\'y'");
  });

  it('a filesystem label with escapes shows escaped in the plan, and exact in the JSON', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const obs = await observed('rescue/fresh', manifest);
    const web01 = obs.images.web01!;
    const crafted: ObservedState = { ...obs, images: { ...obs.images, web01: { ...web01, contents: { ...web01.contents, part1: { ...web01.contents.part1!, LABEL: HOSTILE } } } } };
    const plan = makePlan(manifest, crafted, { mode: 'apply' }).plan!;
    const text = renderPlan(plan, PLAIN);
    expect(text).toContain('ext4 "boot\\e]0;owned\\x07\\e[2J\\u202eefil"');
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(JSON.stringify(planToJson(plan))).toContain(JSON.stringify(HOSTILE).slice(1, -1));
  });
});
