// The golden cases of golden/models/tiny (one model.safetensors) and
// golden/models/tiny-bf16 (BF16 shards and an index), run from bytes alone:
// this test reads the files with node:fs and hands their bytes to in-memory
// model folders and case readers, so no path reaches the library, as in a
// browser. The cases go through the same runner and comparison as
// test/golden.test.ts (lib/golden); the library is also watched for asking
// Node for its file system while it loads and runs them.

import { afterEach, expect, test, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { GoldenCase } from '../lib/golden/case.ts';
import { runGoldenCase } from '../lib/golden/run.ts';
import { ModelStore, caseOrder } from '../lib/golden/model-store.ts';
import { MemoryModelFolder } from '../lib/io/memory-folder.ts';
import { goldenPath } from './golden-files.ts';

interface Manifest {
  models: { name: string; files: Record<string, string> }[];
  cases: { name: string; model: string; kind: string; file: string }[];
}

const manifest = JSON.parse(readFileSync(goldenPath('MANIFEST.json'), 'utf8')) as Manifest;
const MODELS = ['tiny', 'tiny-bf16'];

/** A model's folder as bytes, named by its folder name only (a label, not a path). */
function folderFromBytes(model: string): MemoryModelFolder {
  const entry = manifest.models.find((m) => m.name === model);
  if (entry === undefined) throw new Error(`MANIFEST.json lists no model ${model}`);
  return new MemoryModelFolder(
    Object.keys(entry.files).map((file) => [file, new Uint8Array(readFileSync(goldenPath(`models/${model}/${file}`)))]),
    model,
  );
}

const folders = new Map(MODELS.map((model) => [model, folderFromBytes(model)]));
const store = new ModelStore((model) => {
  const folder = folders.get(model);
  if (folder === undefined) throw new Error(`no in-memory folder for ${model}`);
  return folder;
});
const cases = caseOrder(manifest.cases.filter((c) => MODELS.includes(c.model)));

afterEach(() => {
  vi.restoreAllMocks();
});

test('the bytes-only cases cover every kind the two models have, and the sharded folder', () => {
  expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['causal_lm', 'base_model', 'grad', 'generate']));
  expect(folders.get('tiny-bf16')!.list().sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
});

test.each(cases.map((c) => [c.name, c] as const))('%s, from bytes', (_, entry) => {
  const builtins = vi.spyOn(process, 'getBuiltinModule');
  const goldenCase = GoldenCase.fromBytes(new Uint8Array(readFileSync(goldenPath(entry.file))), entry.file);
  try {
    const result = runGoldenCase(goldenCase, store);
    expect(result.error, `${entry.name} could not run`).toBeUndefined();
    const failures = result.comparisons.filter((c) => !c.pass).map((c) => `${c.tensor}: max error ${c.maxError} > bound ${c.bound}${c.note ? ` (${c.note})` : ''}`);
    expect(failures, entry.name).toEqual([]);
    expect(result.comparisons.length).toBeGreaterThan(0);
  } finally {
    goldenCase.close();
  }
  // Loading and running went through the in-memory folders: the library never asked Node for a file system.
  expect(builtins.mock.calls.map(([id]) => id).filter((id) => id === 'node:fs' || id === 'node:path')).toEqual([]);
});
