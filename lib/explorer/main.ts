// The explorer page: picks the backend, loads a model, runs the golden cases,
// and hands the loaded model to the step-by-step views (views/explorer.ts).
// `window.gemma2Explorer` is the same page driven by code: the browser tests
// (test/browser/) and the page benchmark (lib/bench/explorer-forward.ts) use it.

import { noGrad } from '../autograd/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { parseGemma2Config } from '../model/config.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { MemoryModelFolder } from '../io/memory-folder.ts';
import { kernelStats, resetKernelStats } from '../../kernels/launch.ts';
import { describeBackend } from '../../kernels/backend.ts';
import { PAGE_BACKENDS, PAGE_BACKEND_LABELS, type PageBackend, automaticBackend, isPageBackend, unavailableReason, useBackend } from './backend.ts';
import { type BuiltInModel, type LoadedModel, builtInModels, fetchModelFolder, filesFromDrop, loadModel } from './models.ts';
import { type CaseRow, runGoldenCases } from './parity.ts';
import { formatError, mountViews } from './mount.ts';

const element = <T extends HTMLElement>(id: string) => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`index.html has no #${id}`);
  return found as T;
};

const backendSelect = element<HTMLSelectElement>('backend');
const backendStatus = element('backend-status');
const modelSelect = element<HTMLSelectElement>('model-select');
const loadButton = element<HTMLButtonElement>('load-model');
const folderInput = element<HTMLInputElement>('model-files');
const filesInput = element<HTMLInputElement>('model-files-flat');
const dropZone = element('drop-zone');
const modelStatus = element('model-status');
const parityButton = element<HTMLButtonElement>('run-parity');
const parityStatus = element('parity-status');
const parityTable = element<HTMLTableElement>('parity-table');
const explorerRoot = element('explorer');

let backendName: PageBackend = automaticBackend();
let loaded: LoadedModel | null = null;
let models: BuiltInModel[] = [];

function showError(target: HTMLElement, error: unknown): void {
  target.textContent = formatError(error);
  target.classList.add('error');
}

function showBackend(): void {
  backendSelect.value = backendName;
  backendStatus.textContent = `${PAGE_BACKEND_LABELS[backendName]}: ${describeBackend()}${crossOriginIsolated ? '; cross-origin isolated' : '; not cross-origin isolated'}`;
  backendStatus.classList.remove('error');
  document.body.dataset.backend = backendName;
}

function selectBackend(name: PageBackend): void {
  useBackend(name);
  backendName = name;
  showBackend();
  // The model is loaded again: on the CPU path weights live in the kernels' wasm memory, elsewhere in plain arrays.
  if (loaded !== null) showModel(loadModel(loaded.folder));
}

function showModel(model: LoadedModel): void {
  loaded = model;
  const c = model.model.config;
  modelStatus.classList.remove('error');
  modelStatus.textContent =
    `${model.name}: ${c.numHiddenLayers} layers, hidden ${c.hiddenSize}, ${c.numAttentionHeads} heads (${c.numKeyValueHeads} key/value), ` +
    `vocabulary ${c.vocabSize}; ${model.tokenizer === null ? model.tokenizerNote : 'tokenizer.json loaded'}`;
  document.body.dataset.model = model.name;
  mountViews(explorerRoot, { model: model.model, tokenizer: model.tokenizer, backendName: PAGE_BACKEND_LABELS[backendName] });
}

async function loadFolder(folder: Promise<MemoryModelFolder>): Promise<LoadedModel> {
  modelStatus.textContent = 'Loading…';
  try {
    const model = loadModel(await folder);
    showModel(model);
    return model;
  } catch (error) {
    showError(modelStatus, error);
    throw error;
  }
}

async function loadBuiltIn(name: string): Promise<LoadedModel> {
  const model = models.find((m) => m.name === name);
  if (model === undefined) throw new Error(`no built-in model ${JSON.stringify(name)}; the page has ${models.map((m) => m.name).join(', ')}`);
  modelSelect.value = name;
  return loadFolder(fetchModelFolder(model));
}

function addParityRow(row: CaseRow): void {
  const tr = parityTable.tBodies[0].insertRow();
  tr.className = row.pass ? 'pass' : 'fail';
  tr.dataset.case = row.name;
  const cells = [row.name, row.kind, String(row.tensors), row.worstTensor, row.error ?? row.maxError.toExponential(2), Number.isNaN(row.bound) ? '-' : row.bound.toExponential(2), row.pass ? 'pass' : 'FAIL'];
  for (const text of cells) tr.insertCell().textContent = text;
}

async function runParity(select?: (c: { name: string }) => boolean): Promise<CaseRow[]> {
  parityTable.hidden = false;
  parityTable.tBodies[0].replaceChildren();
  parityStatus.classList.remove('error');
  parityStatus.textContent = `running the golden cases on ${PAGE_BACKEND_LABELS[backendName]}…`;
  const started = performance.now();
  try {
    const rows = await runGoldenCases(addParityRow, select);
    const failed = rows.filter((r) => !r.pass).length;
    parityStatus.textContent = `${rows.length} cases on ${PAGE_BACKEND_LABELS[backendName]}: ${failed === 0 ? 'every case passes' : `${failed} FAIL`} (${((performance.now() - started) / 1000).toFixed(1)} s)`;
    return rows;
  } catch (error) {
    showError(parityStatus, error);
    throw error;
  }
}

/** The logits of a forward pass of the loaded model, as plain arrays (for the tests). */
function forwardLogits(ids: number[][], attentionMask?: number[][]): { shape: number[]; data: number[] } {
  if (loaded === null) throw new Error('no model is loaded');
  const { model } = loaded;
  const asTensor = (rows: number[][]) => Tensor.fromData(Int32Array.from(rows.flat()), [rows.length, rows[0].length]);
  const logits = noGrad(() => model.forward({ inputIds: asTensor(ids), attentionMask: attentionMask && asTensor(attentionMask) }).logits);
  return { shape: [...logits.shape], data: Array.from(logits.contiguousData()) };
}

/** Milliseconds of `reps` forwards (with the loss, no gradients) of a random-weight model of `configJson`, after one warm-up (kernels compile there). */
function benchForward(configJson: unknown, batch: number, seq: number, reps: number): { warmupMs: number; forwardMs: number[] } {
  const config = parseGemma2Config(configJson);
  const model = new Gemma2ForCausalLM(config, { seed: 0 });
  const ids = Tensor.fromData(Int32Array.from({ length: batch * seq }, (_, i) => (i * 7919 + 13) % config.vocabSize), [batch, seq]);
  const once = () => {
    const started = performance.now();
    noGrad(() => model.forward({ inputIds: ids, labels: ids }).loss!.item());
    return performance.now() - started;
  };
  const warmupMs = once();
  return { warmupMs, forwardMs: Array.from({ length: reps }, once) };
}

const api = {
  backends: () => PAGE_BACKENDS.map((name) => ({ name, reason: unavailableReason(name) })),
  backend: () => ({ name: backendName, summary: describeBackend() }),
  selectBackend,
  models: () => models.map((m) => m.name),
  loadBuiltIn: async (name: string) => (await loadBuiltIn(name)).name,
  runParity: (names?: string[]) => runParity(names === undefined ? undefined : (c) => names.includes(c.name)),
  forwardLogits,
  benchForward,
  /** Each kernel launched since resetKernelStats, and where it actually ran (GPU.js may degrade a kernel to cpu). */
  kernelsRun: () => [...kernelStats()].map(([name, stat]) => ({ name, launches: stat.launches, ranOn: [...stat.ranOn] })),
  resetKernelStats,
};
declare global {
  interface Window {
    gemma2Explorer: typeof api;
    gemma2ExplorerReady: Promise<void>;
  }
}
window.gemma2Explorer = api;

async function start(): Promise<void> {
  for (const name of PAGE_BACKENDS) {
    const option = new Option(PAGE_BACKEND_LABELS[name], name);
    const reason = unavailableReason(name);
    option.disabled = reason !== null;
    if (reason !== null) option.title = reason;
    backendSelect.add(option);
  }
  useBackend(backendName);
  showBackend();
  backendSelect.addEventListener('change', () => {
    if (!isPageBackend(backendSelect.value)) return;
    try {
      selectBackend(backendSelect.value);
    } catch (error) {
      showError(backendStatus, error);
    }
  });

  models = await builtInModels();
  for (const model of models) {
    const option = new Option(model.name, model.name);
    option.title = model.about;
    modelSelect.add(option);
  }
  loadButton.addEventListener('click', () => void loadBuiltIn(modelSelect.value).catch(() => undefined));
  for (const input of [folderInput, filesInput]) {
    input.addEventListener('change', () => {
      if (input.files !== null && input.files.length > 0) void loadFolder(MemoryModelFolder.fromFiles(input.files)).catch(() => undefined);
    });
  }
  dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    dropZone.classList.add('over');
  });
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('over');
    if (event.dataTransfer !== null) void loadFolder(filesFromDrop(event.dataTransfer).then((files) => MemoryModelFolder.fromFiles(files, 'dropped folder'))).catch(() => undefined);
  });
  parityButton.addEventListener('click', () => void runParity().catch(() => undefined));
  await loadBuiltIn(models[0].name);
}

window.gemma2ExplorerReady = start().catch((error) => {
  showError(modelStatus, error);
  throw error;
});
