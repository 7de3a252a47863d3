import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../src/core/make-plan.js';
import { renderPlan } from '../../../src/render/plan-text.js';
import { COLOUR, PLAIN, styleFor } from '../../../src/render/style.js';
import { manifestFor, observed } from '../golden-support.js';

describe('colour', () => {
  it('only on a terminal, and never with NO_COLOR', () => {
    expect(styleFor({ isTTY: true }, {})).toBe(COLOUR);
    expect(styleFor({ isTTY: true }, { NO_COLOR: '' })).toBe(PLAIN);
    expect(styleFor({ isTTY: false }, {})).toBe(PLAIN);
    expect(styleFor({}, {})).toBe(PLAIN);
  });

  it('colours symbols and addresses without changing the text', async () => {
    const { manifest } = manifestFor('rescue/fresh');
    const plan = makePlan(manifest, await observed('rescue/fresh', manifest), { mode: 'apply' }).plan!;
    const coloured = renderPlan(plan, COLOUR);
    expect(coloured).toContain('\x1b[32m+');
    // eslint-disable-next-line no-control-regex
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(renderPlan(plan, PLAIN));
  });
});
