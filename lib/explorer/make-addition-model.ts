// Makes the addition model the explorer ships (lib/explorer/assets/models/addition/):
// the model `npm start` trains (lib/start.ts, section 2: the same config,
// data split, optimizer and steps), saved as a Hugging Face folder, with a
// tokenizer.json for the task's vocabulary (lib/tasks/addition.ts) so the
// page can turn "<bos>47+85=" into ids. Run once:
//
//   npx tsx lib/explorer/make-addition-model.ts
//
// (Node only: the page itself never imports this file.)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseGemma2Config } from '../model/config.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { Trainer } from '../train/trainer.ts';
import { HfTokenizer } from '../tokenizer/tokenizer.ts';
import * as addition from '../tasks/addition.ts';

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets', 'models', 'addition');

// lib/start.ts's model and run
const config = parseGemma2Config(addition.MODEL_CONFIG);
const steps = 1200;
const model = new Gemma2ForCausalLM(config, { seed: 0 });
const { train, test } = addition.splitProblems(200, 1);
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemma2-addition-'));
try {
  new Trainer({
    model,
    train: addition.additionDataset(train),
    eval: addition.additionDataset(test),
    outDir: runDir,
    options: { steps, batchSize: 32, lr: 3e-3, schedule: 'cosine', warmupSteps: 20, evalEvery: 200, seed: 0 },
  }).train();
} finally {
  fs.rmSync(runDir, { recursive: true, force: true });
}

// The task's vocabulary as a tokenizers WordLevel model: one token per character, <bos> added in front.
const vocab: Record<string, number> = { '<pad>': addition.PAD, '<eos>': addition.EOS, '<bos>': addition.BOS };
for (const c of '0123456789+=') vocab[c] = addition.encode(c)[0];
const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const tokenizerJson = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [special('<pad>', addition.PAD), special('<eos>', addition.EOS), special('<bos>', addition.BOS)],
  normalizer: null,
  pre_tokenizer: { type: 'Split', pattern: { Regex: '.' }, behavior: 'Isolated', invert: false },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<bos>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<bos>': { id: '<bos>', ids: [addition.BOS], tokens: ['<bos>'] } },
  },
  decoder: { type: 'Fuse' },
  model: { type: 'WordLevel', vocab, unk_token: '<pad>' },
};
const tokenizerConfig = { bos_token: '<bos>', eos_token: '<eos>', pad_token: '<pad>', add_bos_token: true, add_eos_token: false, model_max_length: 64 };

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
model.savePretrained(outDir);
fs.writeFileSync(path.join(outDir, 'tokenizer.json'), `${JSON.stringify(tokenizerJson, null, 2)}\n`);
fs.writeFileSync(path.join(outDir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);

// The saved folder must reload and still add: the checkpoint and the tokenizer, as the page will use them.
const reloaded = Gemma2ForCausalLM.fromPretrained(outDir);
const tokenizer = HfTokenizer.fromPretrained(outDir);
const ids = tokenizer.encode('47+85=');
if (ids.join(',') !== [addition.BOS, ...addition.encode('47+85=')].join(',')) throw new Error(`tokenizer.json encodes 47+85= as ${ids}`);
console.log(`held-out accuracy after ${steps} steps: ${(100 * addition.accuracy(reloaded, test)).toFixed(1)}%`);
console.log(`saved ${outDir}: ${fs.readdirSync(outDir).map((f) => `${f} (${fs.statSync(path.join(outDir, f)).size} B)`).join(', ')}`);
