// `npm start`: the main job, on built-in defaults, with no downloads.
//   1. Parity: every golden case (golden/MANIFEST.json and golden/project/MANIFEST.json) against this
//      implementation, as `gemma2 parity` runs them.
//   2. Training: a small Gemma2 learns two-digit addition from scratch
//      (lib/tasks/addition.ts); held-out accuracy before and after.
//   3. Samples: the trained model answers a few held-out problems.
//   4. The loss curve is written as SVG (with the JSONL log and a checkpoint).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackend } from '../kernels/backend.ts';
import { GoldenCase } from './golden/case.ts';
import { runGoldenCase } from './golden/run.ts';
import { ModelStore, caseOrder } from './golden/model-store.ts';
import { readGoldenManifests } from './golden/manifest.ts';
import { parseGemma2Config } from './model/config.ts';
import { Gemma2ForCausalLM } from './model/causal-lm.ts';
import { Trainer } from './train/trainer.ts';
import { ProgressBar } from './train/progress.ts';
import * as addition from './tasks/addition.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const goldenDir = path.join(root, 'golden');
const outDir = path.join(root, 'out', 'addition');
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;

console.log(`gemma2-ts main job; kernels on ${describeBackend()}\n`);

// 1. Parity ----------------------------------------------------------------
const manifest = readGoldenManifests(goldenDir);
console.log(`1. Parity with Hugging Face Transformers: ${manifest.cases.length} golden cases (golden/FORMAT.md)`);
console.log(`   ${'case'.padEnd(28)}${'kind'.padEnd(16)}${'tensors'.padStart(8)}  ${'worst error / bound'.padStart(19)}  result`);
const store = new ModelStore(path.join(goldenDir, 'models'));
let parityFailures = 0;
// cases on the same model run together: the store holds one model at a time
for (const entry of caseOrder(manifest.cases)) {
  const goldenCase = GoldenCase.open(path.join(goldenDir, entry.file));
  try {
    const result = runGoldenCase(goldenCase, store);
    const worst = Math.max(...result.comparisons.map((c) => (c.bound === 0 ? (c.maxError === 0 ? 0 : Infinity) : c.maxError / c.bound)));
    if (!result.pass) parityFailures++;
    const detail = result.error ?? `${result.comparisons.length}`.padStart(8) + `  ${worst.toFixed(3).padStart(19)}`;
    console.log(`   ${entry.name.padEnd(28)}${result.kind.padEnd(16)}${detail}  ${result.pass ? 'pass' : 'FAIL'}`);
  } finally {
    goldenCase.close();
  }
}
console.log(`   ${parityFailures === 0 ? 'every case passes' : `${parityFailures} cases FAIL`} (${elapsed()}); details: npx gemma2 parity golden/cases/*.safetensors golden/project/cases/*.safetensors --models golden/models\n`);

// 2. Training ----------------------------------------------------------------
const config = parseGemma2Config(addition.MODEL_CONFIG);
const model = new Gemma2ForCausalLM(config, { seed: 0 });
const { train, test } = addition.splitProblems(200, 1);
const parameters = model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
const steps = Number(process.env.GEMMA2_START_STEPS ?? 1200);
console.log(`2. Training a ${parameters.toLocaleString('en')}-parameter Gemma2 (2 layers, width 32) from scratch on two-digit addition`);
console.log(`   "47+85=231" means 47 + 85 = 132: the answer is written least-significant digit first`);
console.log(`   ${train.length} training problems, ${test.length} held out`);
const before = addition.accuracy(model, test);
console.log(`   held-out accuracy before training: ${(100 * before).toFixed(1)}%`);
fs.rmSync(outDir, { recursive: true, force: true });
const trainer = new Trainer({
  model,
  train: addition.additionDataset(train),
  eval: addition.additionDataset(test),
  outDir,
  progress: new ProgressBar(steps),
  options: { steps, batchSize: 32, lr: 3e-3, schedule: 'cosine', warmupSteps: 20, evalEvery: 200, seed: 0 },
});
trainer.train();
const after = addition.accuracy(model, test);
console.log(`   held-out accuracy after ${steps} steps: ${(100 * after).toFixed(1)}% (${elapsed()})\n`);

// 3. Samples -----------------------------------------------------------------
console.log('3. The trained model on held-out problems (greedy decoding with the HybridCache):');
const samples = test.slice(0, 8);
addition.solve(model, samples).forEach((answer, i) => {
  const p = samples[i];
  const correct = answer === addition.answerText(p);
  const sum = [...answer].reverse().join('');
  console.log(`   ${addition.promptText(p)}${answer.padEnd(4)} i.e. ${p.a} + ${p.b} = ${sum.replace(/^0+(?=\d)/, '')} ${correct ? 'right' : `WRONG (${p.a + p.b})`}`);
});

// 4. Where things are --------------------------------------------------------
console.log(`\n4. Loss curve: ${path.relative(process.cwd(), path.join(outDir, 'loss.svg'))}`);
console.log(`   training log: ${path.relative(process.cwd(), path.join(outDir, 'train_log.jsonl'))}; checkpoint: ${path.relative(process.cwd(), path.join(outDir, `checkpoint-${steps}`))}`);
console.log(`   done in ${elapsed()}`);
