// Parity in the page: the golden cases (golden/MANIFEST.json and
// golden/project/MANIFEST.json) run here, on the backend in use, through the
// library's own runner and comparison (lib/golden/run.ts, compare.ts): the
// same code `npm start` and `gemma2 parity` run on Node, fed from fetched
// bytes instead of paths (as test/golden-from-bytes.test.ts does).

import { GoldenCase } from '../golden/case.ts';
import { type CaseResult, runGoldenCase } from '../golden/run.ts';
import { ModelStore, caseOrder } from '../golden/model-store.ts';
import { MANIFEST_FILES, type GoldenManifest, type ManifestCase } from '../golden/manifest.ts';
import type { MemoryModelFolder } from '../io/memory-folder.ts';
import { fetchBytes, fetchJson, fetchModelFolder } from './models.ts';

/** Both manifests, fetched from golden/ next to the page. */
export async function fetchGoldenManifest(): Promise<GoldenManifest> {
  const merged: GoldenManifest = { models: [], cases: [] };
  for (const file of MANIFEST_FILES) {
    const manifest = await fetchJson<Partial<GoldenManifest>>(`golden/${file}`);
    merged.models.push(...(manifest.models ?? []));
    merged.cases.push(...(manifest.cases ?? []));
  }
  return merged;
}

/** One case's outcome as the page shows it: the worst tensor's error against its bound. */
export interface CaseRow {
  name: string;
  kind: string;
  tensors: number;
  worstTensor: string;
  maxError: number;
  bound: number;
  pass: boolean;
  error?: string;
  milliseconds: number;
}

/** The tensor whose error is the largest fraction of its bound. */
export function summarize(result: CaseResult, milliseconds: number): CaseRow {
  const ratio = (c: { maxError: number; bound: number }) => (c.bound === 0 ? (c.maxError === 0 ? 0 : Infinity) : c.maxError / c.bound);
  const worst = result.comparisons.reduce<CaseResult['comparisons'][number] | undefined>((w, c) => (w === undefined || ratio(c) > ratio(w) ? c : w), undefined);
  return {
    name: result.name,
    kind: result.kind,
    tensors: result.comparisons.length,
    worstTensor: worst?.tensor ?? '-',
    maxError: worst?.maxError ?? NaN,
    bound: worst?.bound ?? NaN,
    pass: result.pass,
    error: result.error,
    milliseconds,
  };
}

/**
 * Runs `cases` (all of both manifests by default) one by one, handing each
 * row to `onRow` as it finishes; the page gets a frame between cases to draw.
 * Model folders are fetched once, before the first case that needs them.
 */
export async function runGoldenCases(onRow: (row: CaseRow) => void, select: (c: ManifestCase) => boolean = () => true): Promise<CaseRow[]> {
  const manifest = await fetchGoldenManifest();
  const cases = caseOrder(manifest.cases.filter(select));
  const folders = new Map<string, MemoryModelFolder>();
  for (const name of new Set(cases.map((c) => c.model))) {
    const entry = manifest.models.find((m) => m.name === name);
    if (entry === undefined) throw new Error(`golden manifests list no model ${name}`);
    folders.set(name, await fetchModelFolder({ name, url: `golden/models/${name}/`, files: Object.keys(entry.files), about: '' }));
  }
  // The store's models come from memory; makeRoomFor (Node's memory reclaim) is never called here: the tiny models are small.
  const store = new ModelStore((model) => folders.get(model)!);
  const rows: CaseRow[] = [];
  for (const entry of cases) {
    const goldenCase = GoldenCase.fromBytes(await fetchBytes(`golden/${entry.file}`), entry.file);
    const started = performance.now();
    try {
      const row = summarize(runGoldenCase(goldenCase, store), performance.now() - started);
      rows.push(row);
      onRow(row);
    } finally {
      goldenCase.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return rows;
}
