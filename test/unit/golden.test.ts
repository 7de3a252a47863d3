import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { planToJson } from '../../src/render/plan-json.js';
import { makePlan } from '../../src/core/make-plan.js';
import { renderDiagnostics } from '../../src/render/diagnostics.js';
import { renderPlan } from '../../src/render/plan-text.js';
import { PLAIN } from '../../src/render/style.js';
import { manifestFor, observed } from './golden-support.js';

/**
 * Every scenario: a system state recorded on a real kernel (test/golden/record.sh), a manifest,
 * a mode → the exact text imgplan prints. `vitest -u` rewrites them; CI fails on a missing one.
 */
const SCENARIOS: { state: string; manifest?: string; mode: 'apply' | 'destroy'; golden: string; allowWrites?: boolean }[] = [
  { state: 'rescue/fresh', mode: 'apply', golden: 'plan.txt' },
  { state: 'rescue/fresh', mode: 'destroy', golden: 'destroy.txt' },
  { state: 'rescue/applied', mode: 'apply', golden: 'plan.txt' },
  { state: 'rescue/applied', mode: 'destroy', golden: 'destroy.txt' },
  { state: 'rescue/applied', manifest: 'manifest-edited.yaml', mode: 'apply', golden: 'plan-edited.txt' },
  { state: 'rescue/half', mode: 'apply', golden: 'plan.txt' },
  { state: 'rescue/half', mode: 'destroy', golden: 'destroy.txt' },
  { state: 'rescue/foreign', mode: 'apply', golden: 'plan.txt' },
  // recorded in a VM booting Debian's stock kernel, which parses partition tables
  { state: 'partscan/fresh', mode: 'apply', golden: 'plan.txt' },
  { state: 'partscan/applied', mode: 'apply', golden: 'plan.txt' },
  { state: 'partscan/applied', mode: 'destroy', golden: 'destroy.txt' },
  { state: 'kpartx/fresh', mode: 'apply', golden: 'plan.txt' },
  { state: 'kpartx/applied', mode: 'apply', golden: 'plan.txt' },
  { state: 'kpartx/applied', mode: 'destroy', golden: 'destroy.txt' },
  // Windows guests built by test/support/windows-disk.sh; the host kernel has no vfat
  { state: 'windows/fresh', mode: 'apply', golden: 'plan.txt' },
  { state: 'windows/applied', mode: 'apply', golden: 'plan.txt' },
  { state: 'windows/applied', mode: 'destroy', golden: 'destroy.txt' },
  { state: 'windows/problems', manifest: 'manifest-problems.yaml', mode: 'apply', golden: 'plan.txt', allowWrites: true },
  // QEMU images through qemu-storage-daemon exports (this host has no nbd), built by test/support/qemu-disk.sh
  { state: 'qemu/fresh', mode: 'apply', golden: 'plan.txt' },
  { state: 'qemu/applied', mode: 'apply', golden: 'plan.txt' },
  { state: 'qemu/applied', mode: 'destroy', golden: 'destroy.txt' },
  { state: 'qemu/problems', manifest: 'manifest-problems.yaml', mode: 'apply', golden: 'plan.txt' },
  // the same kind of images through nbd, recorded in the VM lane (test/golden/record-in-vm.sh)
  { state: 'nbd/fresh', mode: 'apply', golden: 'plan.txt' },
  { state: 'nbd/applied', mode: 'apply', golden: 'plan.txt' },
  { state: 'nbd/applied', mode: 'destroy', golden: 'destroy.txt' },
];

const validatePlanJson = new Ajv2020({ allErrors: true, strict: true }).compile(
  JSON.parse(readFileSync(new URL('../../schemas/plan.schema.json', import.meta.url), 'utf8')) as object,
);

describe('golden plans from recorded real-kernel states', () => {
  for (const s of SCENARIOS) {
    it(`${s.state} ${s.manifest ?? ''} ${s.mode} → ${s.golden}`, async () => {
      const { manifest, text } = manifestFor(s.state, s.manifest, s.allowWrites);
      const r = makePlan(manifest, await observed(s.state, manifest), { mode: s.mode });
      const rendered = r.plan ? renderPlan(r.plan, PLAIN) : renderDiagnostics(r.diagnostics, PLAIN, text);
      await expect(rendered).toMatchFileSnapshot(`../golden/${s.state}/${s.golden}`);
      if (r.plan) {
        const json = planToJson(r.plan);
        expect(validatePlanJson(json), JSON.stringify(validatePlanJson.errors)).toBe(true);
        await expect(`${JSON.stringify(json, null, 2)}\n`).toMatchFileSnapshot(`../golden/${s.state}/${s.golden.replace(/\.txt$/, '.json')}`);
      }
    });
  }
});
