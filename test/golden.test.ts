// Golden parity: every case in golden/MANIFEST.json and golden/project/MANIFEST.json, run the way its kind
// says (golden/FORMAT.md) and compared with FORMAT.md's rule, on every
// backend. The golden files are checked against the manifest's sha256 first.
// A case that fails or cannot run is a red test, never a skip.

import { describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { GoldenCase } from '../lib/golden/case.ts';
import { runGoldenCase } from '../lib/golden/run.ts';
import { ModelStore, caseModelKey, caseOrder } from '../lib/golden/model-store.ts';
import { describeEachBackend } from './helpers.ts';
import { readGoldenManifests } from '../lib/golden/manifest.ts';
import { goldenPath } from './golden-files.ts';

// golden/MANIFEST.json (copied from ../shared/golden) and golden/project/MANIFEST.json (made here with make_case.py)
const manifest = readGoldenManifests(goldenPath(''));


const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('golden files', () => {
  test('every case and model file matches the sha256 in its manifest', () => {
    for (const c of manifest.cases) expect(sha256(goldenPath(c.file)), c.file).toBe(c.sha256);
    for (const m of manifest.models) {
      for (const [file, digest] of Object.entries(m.files)) expect(sha256(goldenPath(`models/${m.name}/${file}`)), `${m.name}/${file}`).toBe(digest);
    }
  });
});

describeEachBackend('golden parity', () => {
  // cases on the same model run together: the store holds one model at a time
  const store = new ModelStore(goldenPath('models'));
  for (const entry of caseOrder(manifest.cases)) {
    test(`${entry.name} (${entry.kind})`, () => {
      const goldenCase = GoldenCase.open(goldenPath(entry.file));
      try {
        const result = runGoldenCase(goldenCase, store);
        expect(result.error, `${entry.name} could not run`).toBeUndefined();
        const failures = result.comparisons.filter((c) => !c.pass).map((c) => `${c.tensor}: max error ${c.maxError} > bound ${c.bound}${c.note ? ` (${c.note})` : ''}`);
        expect(failures, `${entry.name}`).toEqual([]);
        expect(result.comparisons.length).toBeGreaterThan(0);
        // the model the runner asked for is the one caseOrder grouped the case by
        if (entry.kind !== 'train') expect(store.heldModel).toBe(caseModelKey(entry));
      } finally {
        goldenCase.close();
      }
    });
  }
});
