// The explorer page (lib/explorer/) in Debian's Chromium, headless, through
// playwright-core: the page loads cross-origin isolated, computes the tiny
// golden model's logits on WebGL2 (GPU.js's GPU kernels, on SwiftShader) and
// on the CPU path (WebAssembly SIMD) within the golden bound, runs the golden
// cases from its button, and loads a model from files given to its file
// input. Screenshots go to out/explorer/ (the README's come from there).
// Needs /usr/bin/chromium (apt-get install -y chromium; .ci/run installs it).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { GoldenCase } from '../../lib/golden/case.ts';
import { compareTensor } from '../../lib/golden/compare.ts';
import { goldenPath } from '../golden-files.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { tempDir } from '../temp-dir.ts';
import { type ExplorerSession, type ExplorerWindow, repositoryRoot, startExplorer } from '../../lib/explorer/chromium.ts';

/** Where the CPU path's kernels run (kernels/registry.ts): its SIMD kernels, host loops and copies, or a GPU.js webasm kernel. */
const CPU_PATH_PLACES = ['wasm-simd', 'host-loop', 'host-copy', 'webasm'];
const screenshots = path.join(repositoryRoot, 'out', 'explorer');
let session: ExplorerSession;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  session = await startExplorer();
  page = await session.context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(session.url);
  await page.evaluate(() => (globalThis as unknown as ExplorerWindow).gemma2ExplorerReady);
  fs.mkdirSync(screenshots, { recursive: true });
}, 60_000);

afterAll(async () => {
  await session?.close();
});

/** The page's logits for a golden case's input, compared in Node with the case's expected logits and bound. */
async function pageLogitsAgainstGolden(caseFile: string) {
  const goldenCase = GoldenCase.open(goldenPath(caseFile));
  try {
    const ids = goldenCase.intInput('input_ids');
    const [B, T] = ids.shape;
    const flat = Array.from(ids.contiguousData());
    const rows = Array.from({ length: B }, (_, b) => flat.slice(b * T, (b + 1) * T));
    const logits = await page.evaluate((rows) => (globalThis as unknown as ExplorerWindow).gemma2Explorer.forwardLogits(rows), rows);
    return compareTensor('logits', logits, goldenCase.expected('logits'), goldenCase.description.tolerance);
  } finally {
    goldenCase.close();
  }
}

test('the page loads cross-origin isolated, offers the three backends and starts on WebGL2 with the addition model', async () => {
  const state = await page.evaluate(() => {
    const explorer = (globalThis as unknown as ExplorerWindow).gemma2Explorer;
    return { isolated: (globalThis as unknown as ExplorerWindow).crossOriginIsolated, backends: explorer.backends(), backend: explorer.backend(), models: explorer.models() };
  });
  expect(state.isolated).toBe(true);
  expect(state.backends).toEqual([
    { name: 'webgl2', reason: null },
    { name: 'cpu-path', reason: null },
    { name: 'gpujs-cpu', reason: null },
  ]);
  expect(state.backend.name).toBe('webgl2');
  expect(state.models).toEqual(expect.arrayContaining(['addition', 'tiny', 'tiny-bf16']));
  await expect.poll(() => page.textContent('#model-status')).toContain('addition: 2 layers, hidden 32');
  expect(await page.textContent('#model-status')).toContain('tokenizer.json loaded');
  await page.screenshot({ path: path.join(screenshots, 'page.png'), fullPage: true });
  expect(pageErrors).toEqual([]);
});

describe.each(['webgl2', 'cpu-path'])('on %s', (backend) => {
  test('the tiny model\'s logits match the golden case tiny-causal-lm', async () => {
    await page.evaluate(async (backend) => {
      const explorer = (globalThis as unknown as ExplorerWindow).gemma2Explorer;
      explorer.selectBackend(backend);
      await explorer.loadBuiltIn('tiny');
    }, backend);
    expect(await page.textContent('#backend-status')).toContain(backend === 'webgl2' ? 'webgl2' : 'CPU path (SIMD kernels and host loops)');
    await page.evaluate(() => (globalThis as unknown as ExplorerWindow).gemma2Explorer.resetKernelStats());
    const comparison = await pageLogitsAgainstGolden('cases/tiny-causal-lm.safetensors');
    // where each kernel actually ran: on webgl2 GPU.js's WebGL kernels, whose class calls its mode 'gpu' (none
    // degraded to GPU.js's 'cpu'); on the CPU path its own kernels
    const kernels = await page.evaluate(() => (globalThis as unknown as ExplorerWindow).gemma2Explorer.kernelsRun());
    expect(kernels.length).toBeGreaterThan(5);
    const elsewhere = kernels.filter((k) => k.ranOn.some((place) => (backend === 'webgl2' ? place !== 'gpu' : !CPU_PATH_PLACES.includes(place))));
    expect(elsewhere, `${backend}: kernels that ran elsewhere`).toEqual([]);
    expect(comparison.note).toBeUndefined();
    expect(comparison.maxError).toBeGreaterThan(0); // computed here, not copied from the golden
    expect(comparison.maxError, `${backend}: max error ${comparison.maxError} > bound ${comparison.bound}`).toBeLessThanOrEqual(comparison.bound);
  });

  test('the parity table shows tiny-causal-lm passing', async () => {
    const rows = await page.evaluate((names) => (globalThis as unknown as ExplorerWindow).gemma2Explorer.runParity(names), ['tiny-causal-lm']);
    expect(rows).toHaveLength(1);
    expect(rows[0].pass, JSON.stringify(rows[0])).toBe(true);
    expect(await page.textContent('#parity-table tr[data-case="tiny-causal-lm"] td:last-child')).toBe('pass');
  });
});

test('stepping to a layer\'s attention view shows the pattern runWithCache computes, cell by cell', async () => {
  await page.evaluate(async () => {
    const explorer = (globalThis as unknown as ExplorerWindow).gemma2Explorer;
    explorer.selectBackend('cpu-path');
    await explorer.loadBuiltIn('tiny');
  });
  const ids = [2, 17, 99, 5, 31, 8];
  await page.check('[data-control="prompt-as-ids"]');
  await page.fill('[data-control="prompt"]', ids.join(' '));
  await page.click('[data-action="run-prompt"]');
  await page.selectOption('[data-control="attention-layer"]', '1');
  // the same forward in Node: the tensor the page's attention view must show
  const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
  const { activations } = model.runWithCache({ inputIds: Tensor.fromData(Int32Array.from(ids), [1, ids.length]) }, ['layers.1.attn.pattern']);
  const pattern = activations.get('layers.1.attn.pattern')!; // [1, heads, T, T]
  const T = ids.length;
  for (const head of [0, pattern.shape[1] - 1]) {
    const canvas = page.locator(`canvas[title^="layer 1 head ${head} pattern"]`);
    const box = (await canvas.boundingBox())!;
    for (const [row, col] of [[0, 0], [3, 1], [T - 1, T - 2], [T - 1, T - 1]]) {
      // the canvas's tooltip names the value under the pointer
      await canvas.hover({ position: { x: ((col + 0.5) * box.width) / T, y: ((row + 0.5) * box.height) / T } });
      const title = (await canvas.getAttribute('title'))!;
      const shown = Number(/row (\d+), column (\d+): (\S+)$/.exec(title)![3]);
      expect(title).toContain(`row ${row}, column ${col}:`);
      const expected = (pattern.contiguousData() as Float32Array)[((head * T) + row) * T + col];
      expect(Math.abs(shown - expected), `head ${head} [${row}, ${col}]: page ${shown}, runWithCache ${expected}`).toBeLessThanOrEqual(1e-6);
    }
  }
  await page.locator('.attention-view').screenshot({ path: path.join(screenshots, 'attention-tiny-layer1.png') });
});

test.each([['cpu-path', 'CPU path (WebAssembly SIMD)', 30_000], ['webgl2', 'GPU.js on WebGL2', 240_000]] as const)('every golden case passes on %s, run from the page\'s button', async (backend, label, timeout) => {
  await page.evaluate((backend) => (globalThis as unknown as ExplorerWindow).gemma2Explorer.selectBackend(backend), backend);
  await page.click('#run-parity');
  await expect.poll(() => page.textContent('#parity-status'), { timeout }).toMatch(/cases on .*: (every case passes|\d+ FAIL)/);
  const manifests = ['MANIFEST.json', 'project/MANIFEST.json'].map((file) => JSON.parse(fs.readFileSync(goldenPath(file), 'utf8')) as { cases: unknown[] });
  const caseCount = manifests.reduce((n, m) => n + m.cases.length, 0);
  expect(await page.textContent('#parity-status')).toContain(`${caseCount} cases on ${label}: every case passes`);
  expect(await page.locator('#parity-table tbody tr.pass').count()).toBe(caseCount);
  await page.screenshot({ path: path.join(screenshots, `parity-${backend}.png`), fullPage: true });
}, 300_000);

test('a sharded Hugging Face folder given to the folder input loads, and its logits match its golden case', async () => {
  await page.setInputFiles('#model-files', goldenPath('models/tiny-bf16'));
  await expect.poll(() => page.textContent('#model-status')).toContain('tiny-bf16: 4 layers, hidden 64');
  expect(await page.evaluate(() => (globalThis as unknown as ExplorerWindow).document.body.dataset.model)).toBe('tiny-bf16');
  const comparison = await pageLogitsAgainstGolden('cases/tiny-bf16-causal-lm.safetensors');
  expect(comparison.maxError, `max error ${comparison.maxError} > bound ${comparison.bound}`).toBeLessThanOrEqual(comparison.bound);
});

/** The page's DOM, as much of it as the drop test builds a DataTransfer with (this file has no DOM types). */
interface DropGlobals {
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: unknown[], name: string) => unknown;
  fetch(url: string): Promise<{ arrayBuffer(): Promise<unknown> }>;
}

test('a folder\'s files dropped on the page load (read in the page, as a drop hands them over)', async () => {
  // a drop of Files the page fetched itself: the addition model's folder
  const transfer = await page.evaluateHandle(async () => {
    const dom = globalThis as unknown as DropGlobals;
    const transfer = new dom.DataTransfer();
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.json']) {
      transfer.items.add(new dom.File([await (await dom.fetch(`models/addition/${name}`)).arrayBuffer()], name));
    }
    return transfer;
  });
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: transfer });
  await expect.poll(() => page.textContent('#model-status')).toContain('dropped folder: 2 layers, hidden 32');
  expect(await page.textContent('#model-status')).toContain('tokenizer.json loaded');
});

test('files without config.json are refused with a message naming what is missing', async () => {
  await page.setInputFiles('#model-files-flat', goldenPath('models/tiny/model.safetensors'));
  await expect.poll(() => page.textContent('#model-status')).toMatch(/has no config\.json; it has model\.safetensors/);
  expect(await page.locator('#model-status.error').count()).toBe(1);
});

describe('the static build (explore:build), served by explore:preview', () => {
  let built: ExplorerSession;
  const buildDir = tempDir('explorer-build');

  beforeAll(async () => {
    built = await startExplorer({ serve: 'static', buildDir });
  }, 60_000);

  afterAll(async () => {
    await built?.close();
  });

  test('holds the page, the golden files and the addition model, and runs a golden case on the CPU path', async () => {
    expect(fs.existsSync(path.join(buildDir, 'index.html'))).toBe(true);
    expect(fs.readdirSync(path.join(buildDir, 'models', 'addition')).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const staticPage = await built.context.newPage();
    const errors: string[] = [];
    staticPage.on('pageerror', (error) => errors.push(error.message));
    await staticPage.goto(built.url);
    await staticPage.evaluate(() => (globalThis as unknown as ExplorerWindow).gemma2ExplorerReady);
    const rows = await staticPage.evaluate(async () => {
      const explorer = (globalThis as unknown as ExplorerWindow).gemma2Explorer;
      if (!(globalThis as unknown as ExplorerWindow).crossOriginIsolated) throw new Error('the preview server did not make the page cross-origin isolated');
      explorer.selectBackend('cpu-path');
      return explorer.runParity(['tiny-causal-lm', 'tiny-bf16-causal-lm']);
    });
    expect(rows.map((r) => [r.name, r.pass])).toEqual([
      ['tiny-causal-lm', true],
      ['tiny-bf16-causal-lm', true],
    ]);
    expect(errors).toEqual([]);
  });
});
