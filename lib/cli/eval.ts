// gemma2 eval: how well a model (or a model with a LoRA adapter) does on a
// JSONL file. A causal LM gets its strided perplexity over {"text"} lines
// (lib/train/evaluate.ts); a classifier its mean loss and accuracy and
// macro-F1 (MSE for regression) over labelled lines (classification-data.ts).
// Prints one JSON line, then one line for people.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { numberOption, parseCommandLine } from './args.ts';
import { setBackend, describeBackend } from '../../kernels/backend.ts';
import { HfTokenizer, TOKENIZER_FILE } from '../tokenizer/tokenizer.ts';
import { DataError } from '../train/data-error.ts';
import { readJsonlRecords, tokenizeJsonl } from '../train/jsonl-examples.ts';
import { examplesDataset } from '../train/data.ts';
import { type ClassifierModel, TASKS, type TaskKind, classifierFromPretrained, folderTask, headSeed } from '../train/task.ts';
import { evaluateModel, stridedPerplexity } from '../train/evaluate.ts';
import { describeMetrics } from '../train/train-log.ts';
import { type LabelScheme, sequenceClassificationDataset, sequenceLabelScheme, tokenClassificationDataset, tokenLabelScheme } from '../train/classification-data.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { type LoadedModel, loadModelWithAdapter } from './load-model.ts';

export const EVAL_USAGE = `
gemma2 eval --model <dir> [--adapter <dir>] --data <file.jsonl> [options]
  --model <dir>             a model folder: a causal LM or a classifier (or the base of --adapter)
  --adapter <dir>           a LoRA adapter (from gemma2 train --lora-*, or PEFT) to apply to --model
  --data <file.jsonl>       causal LM: {"text"} lines, each scored on its own (<bos> first), or the
                            {"prompt", "completion"} / {"messages"} examples gemma2 train reads, scored one per
                            row on the completions and assistant turns (the loss a training run's eval reports);
                            classifier: the lines gemma2 train --task seq-cls / token-cls reads
  --task <t>                causal-lm, seq-cls or token-cls: check that the model is for this task. On a
                            causal-LM folder, seq-cls or token-cls scores the untrained classifier that
                            gemma2 train --task ... --seed S starts from (labels from --data): a baseline
  --seed <s>                with that: the seed of the run whose start to score (default 0)
  --seq-len <t>             {"text"}: the window (default max_position_embeddings); prompt-completion and chat:
                            tokens per row, longer examples cut (default: the longest example);
                            classifier: tokens per row, longer texts cut (default 128)
  --stride <s>              {"text"}: tokens between windows (default: the window, no overlap);
                            each token is scored once, with up to seq-len - 1 tokens of context
  --loss-on-all-tokens      prompt-completion and chat: count every token, prompts included
  --batch-size <b>          rows per forward pass for classifiers, prompt-completion and chat (default 8)
  --tokenizer <dir>         the tokenizer (default: the --model folder, or the --adapter folder when only it has one)
  --backend <name>          kernel backend: webasm, cpu, ...`;

const OPTIONS = {
  model: { type: 'string' },
  adapter: { type: 'string' },
  data: { type: 'string' },
  task: { type: 'string' },
  'seq-len': { type: 'string' },
  stride: { type: 'string' },
  'batch-size': { type: 'string' },
  tokenizer: { type: 'string' },
  seed: { type: 'string' },
  'loss-on-all-tokens': { type: 'boolean' },
  backend: { type: 'string' },
} as const;

const positiveInt = (n: number) => n >= 1;

/** The texts of {"text"} records, tokenized: what perplexity scores. */
function tokenizedTexts(records: ReturnType<typeof readJsonlRecords>, file: string, tokenizer: HfTokenizer): number[][] {
  return records.map(({ line, fields }) => {
    const text = fields.text;
    if (typeof text !== 'string') throw new DataError(`${file}:${line}: "text" is ${text === null ? 'null' : typeof text}, expected a string`);
    return tokenizer.encode(text);
  });
}

/** The labels a classifier reads the eval file with: its own (id2label, problem_type), the file checked against them. */
function classifierScheme(model: ClassifierModel, task: 'seq-cls' | 'token-cls', file: string): LabelScheme {
  const { numLabels, id2label, problemType } = model.config;
  const names = Array.from({ length: numLabels }, (_, id) => id2label[String(id)] ?? `LABEL_${id}`);
  const scheme = task === 'seq-cls' ? sequenceLabelScheme(file, { numLabels, names }) : tokenLabelScheme(file, { numLabels, names });
  if (task === 'seq-cls' && problemType !== null && problemType !== scheme.problemType) {
    throw new UsageError(`eval: ${file} has ${scheme.problemType} labels, but the model's problem_type is ${problemType}`);
  }
  return scheme;
}

/** The classifier gemma2 train --task `task` --seed `seed` starts from: the folder's decoder stack and a new head, labels from the data. */
function untrainedClassifier(dir: string, task: 'seq-cls' | 'token-cls', file: string, seed: number): LoadedModel {
  const scheme = task === 'seq-cls' ? sequenceLabelScheme(file) : tokenLabelScheme(file);
  return { model: classifierFromPretrained(dir, { task, scheme, seed: headSeed(seed) }), lora: null, task, baseDir: dir, adapterDir: null, description: `${dir} with a new ${task} head (seed ${seed})` };
}

export function runEval(argv: string[]): number {
  const { values: parsed, help } = parseCommandLine('eval', argv, OPTIONS);
  if (help) {
    console.log(EVAL_USAGE.trimStart());
    return 0;
  }
  const values = parsed as { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };
  if (values.model === undefined) throw new UsageError('eval: --model <dir> is required');
  if (values.data === undefined) throw new UsageError('eval: --data <file.jsonl> is required');
  if (values.task !== undefined && !(TASKS as readonly string[]).includes(values.task)) throw new UsageError(`eval: --task ${values.task} is not one of ${TASKS.join(', ')}`);
  const seqLen = numberOption('eval', 'seq-len', values['seq-len'], { integer: true, check: (n) => n >= 2, expected: 'an integer >= 2' });
  const stride = numberOption('eval', 'stride', values.stride, { integer: true, check: positiveInt, expected: 'a positive integer' });
  const batchSize = numberOption('eval', 'batch-size', values['batch-size'], { integer: true, check: positiveInt, expected: 'a positive integer' }) ?? 8;
  if (values.backend !== undefined) setBackend(values.backend);
  const file = path.resolve(values.data);
  if (!fs.existsSync(file)) throw new Error(`eval: data file ${file} does not exist`);
  // a checkpoint folder carries its tokenizer: the model's, else the adapter's
  const tokenizerDir = values.tokenizer ?? (values.adapter !== undefined && !fs.existsSync(path.join(values.model, TOKENIZER_FILE)) ? values.adapter : values.model);
  if (!fs.existsSync(path.join(tokenizerDir, TOKENIZER_FILE))) throw new Error(`eval: ${tokenizerDir} has no ${TOKENIZER_FILE} to tokenize ${file} with; name a tokenizer folder with --tokenizer`);

  const seed = numberOption('eval', 'seed', values.seed, { integer: true, check: Number.isInteger, expected: 'an integer' });
  const untrained = values.adapter === undefined && (values.task === 'seq-cls' || values.task === 'token-cls') && folderTask(values.model) === 'causal-lm';
  if (seed !== undefined && !untrained) throw new UsageError('eval: --seed picks the new score head of an untrained classifier (--task seq-cls or token-cls on a causal-LM folder)');
  const { model, lora, task } = untrained ? untrainedClassifier(values.model, values.task as 'seq-cls' | 'token-cls', file, seed ?? 0) : loadModelWithAdapter('eval', { model: values.model, adapter: values.adapter });
  if (values.task !== undefined && values.task !== task) throw new UsageError(`eval: --task ${values.task}, but ${values.adapter ?? values.model} is a ${task} model`);
  const tokenizer = HfTokenizer.fromPretrained(tokenizerDir);
  const what = `${values.model}${lora === null ? '' : ` + adapter ${values.adapter}`}`;
  const started = performance.now();
  let result: Record<string, unknown>;
  let human: string;

  // a causal LM's file is read once: {"text"} lines are scored by strided perplexity, the other formats per example
  const contents = model instanceof Gemma2ForCausalLM ? fs.readFileSync(file, 'utf8') : null;
  const records = contents === null ? null : readJsonlRecords(file, contents);
  if (model instanceof Gemma2ForCausalLM && records![0].format !== 'text') {
    // prompt-completion or chat examples: the loss gemma2 train's eval reports on them, one example per row
    if (values.stride !== undefined) throw new UsageError('eval: --stride is for the perplexity of {"text"} lines; prompt-completion and chat examples are scored one per row');
    const completionOnlyLoss = values['loss-on-all-tokens'] !== true;
    const tokenized = tokenizeJsonl(file, contents!, tokenizer, { completionOnlyLoss, vocabSize: model.config.vocabSize });
    const longest = Math.max(...tokenized.examples.map((e) => e.ids.length));
    const rowLength = seqLen ?? Math.max(2, Math.min(longest, model.config.maxPositionEmbeddings));
    const data = examplesDataset(file, tokenized, tokenizer.padTokenId, { seqLen: rowLength, layout: 'pad' });
    const { loss, items } = evaluateModel(model, data, batchSize);
    const counted = completionOnlyLoss ? 'completion and assistant tokens' : 'tokens';
    result = { task, data: file, format: tokenized.format, loss, perplexity: Math.exp(loss), tokens: items, rows: data.rows, seq_len: rowLength, completion_only_loss: completionOnlyLoss };
    human = `${what}: loss ${loss.toFixed(4)} (perplexity ${Math.exp(loss).toFixed(4)}) over ${items} ${counted} of ${data.rows} examples${data.notes.length > 0 ? ` (${data.notes.join('; ')})` : ''}`;
  } else if (model instanceof Gemma2ForCausalLM) {
    if (values['batch-size'] !== undefined) throw new UsageError('eval: --batch-size is for classifiers and chat or prompt-completion examples; {"text"} lines are scored one window at a time');
    if (values['loss-on-all-tokens'] !== undefined) throw new UsageError('eval: --loss-on-all-tokens is for chat or prompt-completion examples; the perplexity of {"text"} lines counts every token');
    const maxLength = seqLen ?? model.config.maxPositionEmbeddings;
    const texts = tokenizedTexts(records!, file, tokenizer);
    const ppl = stridedPerplexity(model, texts, { maxLength, stride });
    result = { task, data: file, perplexity: ppl.perplexity, nll: ppl.nll, tokens: ppl.tokens, windows: ppl.windows, max_length: maxLength, stride: stride ?? maxLength };
    human = `${what}: perplexity ${ppl.perplexity.toFixed(4)} (mean NLL ${ppl.nll.toFixed(4)}) over ${ppl.tokens} tokens of ${texts.length} texts, windows of ${maxLength} every ${stride ?? maxLength}`;
  } else {
    if (values.stride !== undefined) throw new UsageError('eval: --stride is for causal-LM perplexity; a classifier reads one text per row');
    const classifierTask = task as Exclude<TaskKind, 'causal-lm'>;
    const scheme = classifierScheme(model, classifierTask, file);
    const options = { seqLen: seqLen ?? 128, vocabSize: model.config.vocabSize, scheme };
    const data = classifierTask === 'seq-cls' ? sequenceClassificationDataset(file, tokenizer, options) : tokenClassificationDataset(file, tokenizer, options);
    const { loss, items, metrics } = evaluateModel(model, data, batchSize);
    result = { task, data: file, rows: data.rows, loss, ...metrics };
    human = `${what}: ${data.rows} rows${data.notes.length > 0 ? ` (${data.notes.join('; ')})` : ''}, loss ${loss.toFixed(4)} over ${items} ${task === 'token-cls' ? 'tokens' : 'items'}${describeMetrics(metrics)}`;
  }
  console.log(JSON.stringify(result));
  console.log(`${human}; ${((performance.now() - started) / 1000).toFixed(1)} s on ${describeBackend()}`);
  return 0;
}
