// gemma2 train: fine-tunes a model folder (or a model initialised from a
// config.json) on token ids or JSONL texts, fully or with LoRA, as a causal LM
// or as a sequence or token classifier (--task); writes a JSONL
// log, a loss-curve SVG and checkpoints under --out, with a progress bar on
// stderr. --resume continues a run from one of its checkpoints: the data and
// model arguments are kept in the checkpoint, so only the checkpoint is needed.
// Before anything is allocated the run's memory is estimated and checked; the
// output folder is locked while the run writes to it, and one that holds an
// earlier run is refused unless --overwrite.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { numberOption, parseCommandLine } from './args.ts';
import { setBackend, describeBackend } from '../../kernels/backend.ts';
import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { ConfigError, type Gemma2Config, parseGemma2Config } from '../model/config.ts';
import { HfTokenizer, TOKENIZER_FILE } from '../tokenizer/tokenizer.ts';
import { LoraModel, type LoraConfig } from '../train/lora.ts';
import { type Dataset, jsonlDataset, splitDataset, tokenFileDataset } from '../train/data.ts';
import { type TrainResult, Trainer } from '../train/trainer.ts';
import { type TrainerOptions, resolveTrainerOptions } from '../train/trainer-options.ts';
import { LOG_FILE } from '../train/train-log.ts';
import { type ModelSource, readTrainerState } from '../train/checkpoint.ts';
import { MemoryEstimateError, availableMemory, checkTrainingMemory, estimateTrainingMemory, formatBytes } from '../train/memory-estimate.ts';
import { acquireRunLock, describeStaleLock } from '../train/run-lock.ts';
import { clearRunFiles, runFolderContents } from '../train/run-folder.ts';
import { ProgressBar } from '../train/progress.ts';
import { TASKS, type TaskKind, type TrainableModel, classifierFromPretrained, headSeed, newClassifier, taskOfArchitectures } from '../train/task.ts';
import { type LabelScheme, type SchemeHints, sequenceClassificationDataset, sequenceLabelScheme, tokenClassificationDataset, tokenLabelScheme } from '../train/classification-data.ts';
import { describeMetrics } from '../train/train-log.ts';

export const TRAIN_USAGE = `
gemma2 train (--model <dir> | --init <config.json>) (--data <file.jsonl> | --tokens <file>) --out <dir> [options]
gemma2 train --resume <out>/checkpoint-<step> [--steps N] [--out <dir>] [--eval-every N] [--save-every N] [--save-total-limit N]
             [--skip-nonfinite-steps] [--ignore-memory-check] [--backend B]
  --model <dir>             a Hugging Face model folder to fine-tune
  --init <config.json>      train from scratch: random weights (Transformers' init, seeded by --seed)
  --data <file.jsonl>       JSONL examples, the format found from the fields (one format per file):
                              {"text": "..."}: <bos> text <eos>, concatenated and cut into rows (unless --pack or --pad)
                              {"prompt": "...", "completion": "..."}: <bos> prompt completion <eos>, packed (unless --pad)
                                (or both as lists of messages, rendered with the chat template)
                              {"messages": [{"role", "content"}, ...]}: the tokenizer's chat template, packed (unless --pad)
                                (or ShareGPT's {"conversations": [{"from", "value"}, ...]})
                            the loss counts the completions and assistant turns only (unless --loss-on-all-tokens)
  --pack                    with --data: whole examples side by side in each row, each with its own position ids
                            and no attention across examples (longer ones are cut to --seq-len)
  --pad                     with --data: one example per row instead, right-padded (padding gets no loss)
  --loss-on-all-tokens      with prompt/completion or messages data: the loss counts every token, prompts included
  --tokens <file>           token ids separated by whitespace or commas, cut into rows (no tokenizer needed)
  --tokenizer <dir>         the tokenizer for --data (default: the --model folder, or the --init config's folder)
  --task <t>                causal-lm, seq-cls or token-cls (default: the --model folder's architecture, else causal-lm).
                            seq-cls: --data lines {"text", "label"}: a class id, a class name, a number (regression,
                            --num-labels 1) or a list (multi-label); token-cls: {"tokens": [words], "labels": [...]}
                            or {"text", "labels": [one per token]}. Rows are padded, one text each. A causal-LM
                            folder gets a new score head (normal(0, initializer_range)).
  --num-labels <n>          classifier outputs (default: from the labels of --data)
  --id2label <a,b,...>      class names in id order (default: the class names of --data, sorted)
  --eval-data <file>        eval rows from another file (same kind as the training data)
  --eval-fraction <f>       or hold out the last fraction f of the training rows
  --out <dir>               log (${LOG_FILE}), plot (loss.svg) and checkpoint-<step>/ folders go here
  --steps <n>               optimizer steps (default 100)
  --batch-size <b>          rows per micro-batch (default 4)
  --grad-accum <k>          micro-batches per step (default 1)
  --seq-len <t>             tokens per row (default 128)
  --lr <lr>                 peak learning rate (default 1e-3)
  --schedule <s>            constant, linear or cosine decay after warmup (default linear)
  --warmup <w>              linear warmup steps (default 0)
  --optimizer <o>           adamw (default) or sgd
  --weight-decay <wd>       default 0.01 for adamw, 0 for sgd; never on norm weights
  --momentum <m>            sgd momentum (default 0)
  --max-grad-norm <g>       clip the gradient norm (default 1; 0 turns clipping off)
  --lora-r <r>, --lora-alpha <a>, --lora-dropout <d>, --lora-targets <q_proj,v_proj>
                            train LoRA adapters only (any of these turns LoRA on; defaults r 8, alpha 8, dropout 0, q_proj,v_proj)
  --eval-every <n>          eval loss (and a classifier's accuracy, macro-F1 or MSE) every n steps (default: at the end only)
  --eval-on-start           also evaluate the starting model, before the first step (logged at step 0)
  --save-every <n>          checkpoint every n steps (default: at the end only)
  --save-total-limit <n>    keep only the newest n checkpoints (and the best by eval loss); older ones are
                            deleted once a new one is complete (default: keep all)
  --early-stopping-patience <n>
                            stop after n evaluations in a row without the eval loss improving (needs eval data)
  --early-stopping-threshold <d>
                            an eval loss improves only when lower than the best by more than d (default 0)
  --skip-nonfinite-steps    skip a step whose loss or gradient norm is NaN or infinite (no update; counted and
                            reported) instead of stopping the run with an error (the default)
  --ignore-memory-check     train even when the estimated memory (weights, gradients, optimizer state,
                            activations) exceeds the free memory
  --overwrite               --out holds an earlier run: delete its log, plot and checkpoints and start again
  --seed <s>                data order, LoRA and --init weights (default 0)
  --gradient-checkpointing  recompute each layer's activations in backward instead of keeping them: less memory, about one more forward per step
  --resume <checkpoint>     continue a run bit-identically from its checkpoint
  --backend <name>          kernel backend: webasm, cpu, ...`;

const OPTIONS = {
  model: { type: 'string' },
  init: { type: 'string' },
  data: { type: 'string' },
  pad: { type: 'boolean' },
  pack: { type: 'boolean' },
  'loss-on-all-tokens': { type: 'boolean' },
  tokens: { type: 'string' },
  tokenizer: { type: 'string' },
  task: { type: 'string' },
  'num-labels': { type: 'string' },
  id2label: { type: 'string' },
  'eval-data': { type: 'string' },
  'eval-fraction': { type: 'string' },
  out: { type: 'string' },
  steps: { type: 'string' },
  'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' },
  'seq-len': { type: 'string' },
  lr: { type: 'string' },
  schedule: { type: 'string' },
  warmup: { type: 'string' },
  optimizer: { type: 'string' },
  'weight-decay': { type: 'string' },
  momentum: { type: 'string' },
  'max-grad-norm': { type: 'string' },
  'lora-r': { type: 'string' },
  'lora-alpha': { type: 'string' },
  'lora-dropout': { type: 'string' },
  'lora-targets': { type: 'string' },
  'eval-every': { type: 'string' },
  'save-every': { type: 'string' },
  'save-total-limit': { type: 'string' },
  'early-stopping-patience': { type: 'string' },
  'early-stopping-threshold': { type: 'string' },
  'skip-nonfinite-steps': { type: 'boolean' },
  'ignore-memory-check': { type: 'boolean' },
  overwrite: { type: 'boolean' },
  seed: { type: 'string' },
  'gradient-checkpointing': { type: 'boolean' },
  'eval-on-start': { type: 'boolean' },
  resume: { type: 'string' },
  backend: { type: 'string' },
} as const;

/** Options a resumed run may change: none of them alters the steps already taken. */
const RESUMABLE = new Set(['resume', 'steps', 'out', 'eval-every', 'save-every', 'save-total-limit', 'skip-nonfinite-steps', 'ignore-memory-check', 'backend']);

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** What the CLI keeps in trainer_state.json so that --resume can rebuild the same data and base model. */
interface RunInputs {
  source: ModelSource;
  /** What the model learns (absent in runs saved before tasks: causal-lm). */
  task?: TaskKind;
  /** A classifier's labels, fixed when the run starts. */
  labels?: LabelScheme | null;
  /** The run's --seed. */
  seed?: number;
  tokenizer: string | null;
  data: {
    kind: 'jsonl' | 'tokens';
    file: string;
    pad: boolean;
    /** Absent in checkpoints written before --pack existed (false). */
    pack?: boolean;
    /** Absent in checkpoints written before --loss-on-all-tokens existed (true). */
    completionOnlyLoss?: boolean;
    seqLen: number;
    evalFile: string | null;
    evalFraction: number | null;
  };
}

/** A number option (decimal or exponent notation, args.ts), checked; undefined when absent. */
function parseNumber(values: Values, name: keyof typeof OPTIONS, check: (n: number) => boolean, what: string): number | undefined {
  return numberOption('train', name, values[name], { integer: false, check, expected: what });
}

/** An integer option: decimal digits only (not 1e2, 0x10 or 1.0), checked; undefined when absent. */
function parseInteger(values: Values, name: keyof typeof OPTIONS, check: (n: number) => boolean, what: string): number | undefined {
  return numberOption('train', name, values[name], { integer: true, check, expected: what });
}

const positiveInt = (n: number) => Number.isInteger(n) && n >= 1;
const nonNegativeInt = (n: number) => Number.isInteger(n) && n >= 0;

function isFolder(dir: string): boolean {
  return fs.existsSync(dir) && fs.statSync(dir).isDirectory();
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`train: ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`train: ${file} is not JSON (${(error as Error).message})`);
  }
}

/**
 * The model a run starts from. Full fine-tuning trains float32 master weights
 * (`lora` false: loaded as float32 whatever the files store); LoRA keeps a bf16
 * checkpoint's frozen base in bf16 (the default load), its adapters float32.
 */
function buildModel(source: ModelSource, lora: boolean, inputs: RunInputs): TrainableModel {
  const task = inputs.task ?? 'causal-lm';
  const weightDtype = lora ? 'auto' : 'float32';
  if (task !== 'causal-lm') {
    const start = { task, scheme: inputs.labels!, seed: headSeed(source.kind === 'init' ? source.seed : (inputs.seed ?? 0)) };
    // from scratch: every weight, the head's too, drawn from --seed as the causal LM's are
    if (source.kind === 'init') return newClassifier(parseGemma2Config(readConfigFile(source.config)), { ...start, seed: source.seed });
    if (!isFolder(source.dir)) throw new Error(`train: model folder ${source.dir} does not exist`);
    return classifierFromPretrained(source.dir, { ...start, weightDtype });
  }
  if (source.kind === 'pretrained') {
    if (!isFolder(source.dir)) throw new Error(`train: model folder ${source.dir} does not exist`);
    return Gemma2ForCausalLM.fromPretrained(source.dir, { weightDtype });
  }
  return new Gemma2ForCausalLM(parseGemma2Config(readConfigFile(source.config)), { seed: source.seed });
}

/**
 * The config of the model a run starts from (the folder's config.json, or the
 * --init file), read without loading weights; null when the folder has none
 * (loading it then reports that).
 */
function sourceConfig(source: ModelSource): Gemma2Config | null {
  const file = source.kind === 'init' ? source.config : path.join(source.dir, 'config.json');
  if (source.kind === 'pretrained' && !fs.existsSync(file)) return null;
  try {
    return parseGemma2Config(readConfigFile(file));
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${file}: ${error.message}`);
    throw error;
  }
}

/** A warmup longer than the run would never reach the peak learning rate: refused rather than silently cut off. */
function refuseWarmupPastSteps(warmupSteps: number, steps: number): void {
  if (warmupSteps > steps) throw new UsageError(`train: --warmup ${warmupSteps} is more than --steps ${steps}; the learning rate would never reach its peak (--lr)`);
}

/** The task of a run: --task, or the --model folder's architecture. */
function taskFromArgs(values: Values, source: ModelSource): TaskKind {
  if (values.task !== undefined) {
    if (!(TASKS as readonly string[]).includes(values.task)) throw new UsageError(`train: --task ${values.task} is not one of ${TASKS.join(', ')}`);
    return values.task as TaskKind;
  }
  if (source.kind === 'pretrained' && fs.existsSync(path.join(source.dir, 'config.json'))) {
    const config = readConfigFile(path.join(source.dir, 'config.json')) as { architectures?: unknown };
    return taskOfArchitectures(Array.isArray(config.architectures) ? config.architectures : []);
  }
  return 'causal-lm';
}

/** What the labels may be: --num-labels and --id2label, or a classifier folder's own labels. */
function schemeHints(values: Values, source: ModelSource, task: TaskKind): SchemeHints {
  const hints: SchemeHints = {};
  const numLabels = parseInteger(values, 'num-labels', positiveInt, 'a positive integer');
  if (numLabels !== undefined) hints.numLabels = numLabels;
  if (values.id2label !== undefined) {
    const names = values.id2label.split(',').map((n) => n.trim());
    if (names.some((n) => n === '') || new Set(names).size !== names.length) throw new UsageError(`train: --id2label ${values.id2label} must name distinct classes, comma-separated, in id order`);
    if (numLabels !== undefined && numLabels !== names.length) throw new UsageError(`train: --num-labels ${numLabels} but --id2label names ${names.length} classes`);
    hints.names = names;
  }
  if (source.kind === 'pretrained' && values['num-labels'] === undefined && values.id2label === undefined) {
    const config = sourceConfig(source);
    if (config !== null && taskOfArchitectures(config.architectures) === task) {
      // continue training a classifier: its labels, in id order
      hints.numLabels = config.numLabels;
      hints.names = Array.from({ length: config.numLabels }, (_, id) => config.id2label[String(id)]);
    }
  }
  return hints;
}

/** The training and eval rows the inputs name. */
function loadData(inputs: RunInputs, vocabSize: number): { train: Dataset; eval: Dataset | null } {
  const { kind, file, pad, pack, completionOnlyLoss, seqLen, evalFile, evalFraction } = inputs.data;
  const task = inputs.task ?? 'causal-lm';
  let read: (f: string) => Dataset;
  if (kind === 'tokens') {
    read = (f) => tokenFileDataset(f, seqLen, vocabSize);
  } else {
    const dir = inputs.tokenizer!;
    if (!fs.existsSync(path.join(dir, TOKENIZER_FILE))) {
      throw new Error(`train: ${dir} has no ${TOKENIZER_FILE}, so the texts of ${file} cannot be tokenized; pass token ids with --tokens, or a tokenizer folder with --tokenizer`);
    }
    const tokenizer = HfTokenizer.fromPretrained(dir);
    const scheme = inputs.labels!;
    const layout = pad ? 'pad' : pack ? 'pack' : undefined; // undefined: the format's default
    if (task === 'seq-cls') read = (f) => sequenceClassificationDataset(f, tokenizer, { seqLen, vocabSize, scheme });
    else if (task === 'token-cls') read = (f) => tokenClassificationDataset(f, tokenizer, { seqLen, vocabSize, scheme });
    else read = (f) => jsonlDataset(f, tokenizer, { seqLen, vocabSize, layout, completionOnlyLoss });
  }
  const all = read(file);
  if (evalFile !== null) return { train: all, eval: read(evalFile) };
  if (evalFraction !== null) return splitDataset(all, evalFraction);
  return { train: all, eval: null };
}

/** The run's inputs from fresh arguments (not --resume). */
function inputsFromArgs(values: Values): RunInputs {
  // (the seed is kept with the inputs: a classifier's new head is drawn from it)
  if ((values.model === undefined) === (values.init === undefined)) throw new UsageError('train: give exactly one of --model <dir> and --init <config.json>');
  if ((values.data === undefined) === (values.tokens === undefined)) throw new UsageError('train: give exactly one of --data <file.jsonl> and --tokens <file>');
  if (values['eval-data'] !== undefined && values['eval-fraction'] !== undefined) throw new UsageError('train: give at most one of --eval-data and --eval-fraction');
  for (const flag of ['pad', 'pack', 'loss-on-all-tokens'] as const) {
    if (values[flag] && values.data === undefined) throw new UsageError(`train: --${flag} applies to --data texts; token ids are cut into rows as they come`);
  }
  if (values.pad && values.pack) throw new UsageError('train: give at most one of --pack and --pad');
  const seed = parseInteger(values, 'seed', Number.isInteger, 'an integer') ?? 0;
  const source: ModelSource = values.model !== undefined ? { kind: 'pretrained', dir: path.resolve(values.model) } : { kind: 'init', config: path.resolve(values.init!), seed };
  const tokenizer = values.tokenizer ?? (source.kind === 'pretrained' ? source.dir : path.dirname(source.config));
  const evalFraction = parseNumber(values, 'eval-fraction', (n) => n > 0 && n < 1, 'a fraction between 0 and 1') ?? null;
  const task = taskFromArgs(values, source);
  let labels: LabelScheme | null = null;
  if (task === 'causal-lm') {
    if (values['num-labels'] !== undefined || values.id2label !== undefined) throw new UsageError('train: --num-labels and --id2label are for a classifier (--task seq-cls or token-cls)');
  } else {
    if (values.data === undefined) throw new UsageError(`train: --task ${task} reads labelled JSONL lines from --data (token ids carry no labels)`);
    for (const flag of ['pad', 'pack', 'loss-on-all-tokens'] as const) {
      if (values[flag]) throw new UsageError(`train: --task ${task} pads one labelled text per row; --${flag} is for causal-LM texts`);
    }
    const hints = schemeHints(values, source, task);
    const file = path.resolve(values.data);
    labels = task === 'seq-cls' ? sequenceLabelScheme(file, hints) : tokenLabelScheme(file, hints);
  }
  return {
    source,
    task,
    labels,
    seed,
    tokenizer: values.data === undefined ? null : path.resolve(tokenizer),
    data: {
      kind: values.data !== undefined ? 'jsonl' : 'tokens',
      file: path.resolve(values.data ?? values.tokens!),
      pad: values.pad === true,
      pack: values.pack === true,
      completionOnlyLoss: values['loss-on-all-tokens'] !== true,
      seqLen: parseInteger(values, 'seq-len', (n) => Number.isInteger(n) && n >= 2, 'an integer >= 2') ?? 128,
      evalFile: values['eval-data'] === undefined ? null : path.resolve(values['eval-data']),
      evalFraction,
    },
  };
}

function trainerOptionsFromArgs(values: Values): Partial<TrainerOptions> {
  const optimizer = values.optimizer ?? 'adamw';
  if (optimizer !== 'adamw' && optimizer !== 'sgd') throw new UsageError(`train: --optimizer ${optimizer} is not adamw or sgd`);
  const schedule = values.schedule ?? 'linear';
  if (schedule !== 'constant' && schedule !== 'linear' && schedule !== 'cosine') throw new UsageError(`train: --schedule ${schedule} is not constant, linear or cosine`);
  if (values.momentum !== undefined && optimizer !== 'sgd') throw new UsageError('train: --momentum is an SGD option (add --optimizer sgd)');
  const maxGradNorm = parseNumber(values, 'max-grad-norm', (n) => n >= 0 && Number.isFinite(n), 'a number >= 0');
  const options: Partial<TrainerOptions> = {
    optimizer,
    schedule,
    steps: parseInteger(values, 'steps', positiveInt, 'a positive integer'),
    batchSize: parseInteger(values, 'batch-size', positiveInt, 'a positive integer'),
    gradAccum: parseInteger(values, 'grad-accum', positiveInt, 'a positive integer'),
    lr: parseNumber(values, 'lr', (n) => n >= 0 && Number.isFinite(n), 'a number >= 0'),
    warmupSteps: parseInteger(values, 'warmup', nonNegativeInt, 'an integer >= 0'),
    weightDecay: parseNumber(values, 'weight-decay', (n) => n >= 0 && Number.isFinite(n), 'a number >= 0'),
    momentum: parseNumber(values, 'momentum', (n) => n >= 0 && n < 1, 'a number in [0, 1)'),
    maxGradNorm: maxGradNorm === undefined ? undefined : maxGradNorm === 0 ? null : maxGradNorm,
    evalEvery: parseInteger(values, 'eval-every', nonNegativeInt, 'an integer >= 0'),
    saveEvery: parseInteger(values, 'save-every', nonNegativeInt, 'an integer >= 0'),
    seed: parseInteger(values, 'seed', Number.isInteger, 'an integer'),
    gradientCheckpointing: values['gradient-checkpointing'],
    evalOnStart: values['eval-on-start'],
    saveTotalLimit: parseInteger(values, 'save-total-limit', positiveInt, 'a positive integer'),
    earlyStoppingPatience: parseInteger(values, 'early-stopping-patience', positiveInt, 'a positive integer'),
    earlyStoppingThreshold: parseNumber(values, 'early-stopping-threshold', (n) => n >= 0 && Number.isFinite(n), 'a number >= 0'),
    skipNonFinite: values['skip-nonfinite-steps'] === true ? true : undefined,
  };
  return options;
}

function loraFromArgs(values: Values): LoraConfig | null {
  if (!['lora-r', 'lora-alpha', 'lora-dropout', 'lora-targets'].some((k) => values[k as keyof Values] !== undefined)) return null;
  const r = parseInteger(values, 'lora-r', positiveInt, 'a positive integer') ?? 8;
  return {
    r,
    alpha: parseNumber(values, 'lora-alpha', (n) => n > 0 && Number.isFinite(n), 'a positive number') ?? 8,
    dropout: parseNumber(values, 'lora-dropout', (n) => n >= 0 && n < 1, 'a number in [0, 1)') ?? 0,
    targetModules: (values['lora-targets'] ?? 'q_proj,v_proj').split(',').map((t) => t.trim()).filter((t) => t !== ''),
  };
}

const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`);

function describeSource(source: ModelSource): string {
  return source.kind === 'pretrained' ? source.dir : `random weights from ${source.config} (seed ${source.seed})`;
}

/**
 * Refuses, before anything is allocated, a run whose estimated memory exceeds
 * the free memory (unless --ignore-memory-check) or whose largest tensor
 * cannot be one typed array (always). Returns the estimate in words.
 */
function checkMemoryBeforeAllocating(configFile: string, options: TrainerOptions, seqLen: number, lora: LoraConfig | null, ignore: boolean): string {
  const config = parseGemma2Config(readConfigFile(configFile));
  // a LoRA base stays as the checkpoint stores it: bf16 weights take two bytes
  const shape = { batchSize: options.batchSize, seqLen, optimizer: options.optimizer, momentum: options.momentum, lora, baseWeightBytes: lora !== null && config.torchDtype === 'bfloat16' ? (2 as const) : (4 as const), gradientCheckpointing: options.gradientCheckpointing };
  const estimate = estimateTrainingMemory(config, shape);
  try {
    checkTrainingMemory(estimate, shape, { compare: !ignore, override: '--ignore-memory-check' });
  } catch (error) {
    if (error instanceof MemoryEstimateError) throw new Error(`train: ${error.message}`);
    throw error;
  }
  const limit = availableMemory();
  return `memory: about ${formatBytes(estimate.total)} estimated (weights ${formatBytes(estimate.weights)}, gradients ${formatBytes(estimate.gradients)}, optimizer ${formatBytes(estimate.optimizerState)}, activations ${formatBytes(estimate.activations)}), ${formatBytes(limit.bytes)} free${ignore ? ' (not checked: --ignore-memory-check)' : ''}`;
}

/** Refuses an --out that holds an earlier run, saying what can be done with it; --overwrite clears it instead. */
function claimOutputFolder(out: string, overwrite: boolean): void {
  const { hasLog, checkpoints } = runFolderContents(out);
  if (!hasLog && checkpoints.length === 0) return;
  if (overwrite) {
    const removed = clearRunFiles(out);
    console.log(`--overwrite: removed ${removed.join(', ')} from ${out}`);
    return;
  }
  if (checkpoints.length === 0) {
    throw new UsageError(
      `train: ${out} holds the log of a run (${LOG_FILE}) that stopped before its first checkpoint, so there is nothing to resume; ` +
        'start it again with --overwrite (deletes that run\'s log, plot and any half-written checkpoint), or choose another --out',
    );
  }
  throw new UsageError(
    `train: ${out} already holds a training run (${hasLog ? LOG_FILE : 'checkpoints'}); continue it with --resume ${path.join(out, `checkpoint-${checkpoints.at(-1)}`)}, ` +
      'start it again with --overwrite, or choose another --out',
  );
}

export function runTrain(argv: string[]): number {
  const commandLine = parseCommandLine('train', argv, OPTIONS);
  if (commandLine.help) {
    console.log(TRAIN_USAGE.trimStart());
    return 0;
  }
  const values = commandLine.values as Values;
  if (values.backend !== undefined) setBackend(values.backend);

  let trainer: Trainer;
  let inputs: RunInputs;
  let eval_: Dataset | null;
  let train: Dataset;
  let outDir: string;
  const ignoreMemory = values['ignore-memory-check'] === true;
  const progressFor = (steps: number) => new ProgressBar(steps, process.stderr);

  if (values.resume !== undefined) {
    const others = Object.keys(values).filter((k) => !RESUMABLE.has(k));
    if (others.length > 0) {
      throw new UsageError(
        `train: --resume continues with the checkpoint's model, data and options; --${others.join(', --')} cannot be changed ` +
          '(only --steps, --out, --eval-every, --save-every, --save-total-limit, --skip-nonfinite-steps, --ignore-memory-check, --backend)',
      );
    }
    const checkpoint = values.resume;
    const state = readTrainerState(checkpoint);
    inputs = state.extra?.cli as RunInputs;
    if (inputs === undefined || state.source === null) throw new Error(`train: ${checkpoint} was not written by gemma2 train, so its data and model are unknown`);
    const overrides: Partial<TrainerOptions> = {};
    const steps = parseInteger(values, 'steps', positiveInt, 'a positive integer');
    const evalEvery = parseInteger(values, 'eval-every', nonNegativeInt, 'an integer >= 0');
    const saveEvery = parseInteger(values, 'save-every', nonNegativeInt, 'an integer >= 0');
    const saveTotalLimit = parseInteger(values, 'save-total-limit', positiveInt, 'a positive integer');
    if (steps !== undefined) overrides.steps = steps;
    if (evalEvery !== undefined) overrides.evalEvery = evalEvery;
    if (saveEvery !== undefined) overrides.saveEvery = saveEvery;
    if (saveTotalLimit !== undefined) overrides.saveTotalLimit = saveTotalLimit;
    if (values['skip-nonfinite-steps'] === true) overrides.skipNonFinite = true;
    const total = overrides.steps ?? state.options.steps;
    if (evalEvery !== undefined && inputs.data.evalFile === null && inputs.data.evalFraction === null) throw new UsageError('train: --eval-every needs eval data, and this run has none');
    refuseWarmupPastSteps(state.options.warmupSteps, total);
    if (state.step >= total) throw new UsageError(`train: ${checkpoint} is at step ${state.step} and the run has ${total} steps; give --steps with more to train further`);
    const source = state.source;
    // A full checkpoint holds its config; LoRA adapters use their base model's.
    const configFile = state.lora === null ? path.join(checkpoint, 'config.json') : source.kind === 'pretrained' ? path.join(source.dir, 'config.json') : source.config;
    const memory = checkMemoryBeforeAllocating(configFile, resolveTrainerOptions(state.options), inputs.data.seqLen, state.lora, ignoreMemory);
    ({ train, eval: eval_ } = loadData(inputs, parseGemma2Config(readConfigFile(configFile)).vocabSize));
    outDir = values.out ?? path.dirname(path.resolve(checkpoint));
    trainer = Trainer.resume(checkpoint, {
      train,
      eval: eval_,
      outDir,
      memoryCheck: !ignoreMemory,
      baseModel: () => buildModel(source, true, inputs), // asked for only by LoRA checkpoints
      overrides,
      tokenizerDir: inputs.tokenizer ?? (source.kind === 'pretrained' ? source.dir : null),
      progress: progressFor(total),
    });
    console.log(`resuming ${checkpoint} at step ${state.step} of ${total}`);
    console.log(memory);
  } else {
    if (values.out === undefined) throw new UsageError('train: --out <dir> is required');
    inputs = inputsFromArgs(values);
    for (const flag of ['eval-every', 'eval-on-start'] as const) {
      if (values[flag] !== undefined && inputs.data.evalFile === null && inputs.data.evalFraction === null) {
        throw new UsageError(`train: --${flag} needs eval data: --eval-data <file> or --eval-fraction <f>`);
      }
    }
    const options = resolveTrainerOptions(trainerOptionsFromArgs(values));
    refuseWarmupPastSteps(options.warmupSteps, options.steps);
    const loraConfig = loraFromArgs(values);
    const out = values.out;
    if (options.earlyStoppingPatience !== null && inputs.data.evalFile === null && inputs.data.evalFraction === null) {
      throw new UsageError('train: --early-stopping-patience needs eval data: --eval-data <file> or --eval-fraction <f>');
    }
    if (values.overwrite !== true) claimOutputFolder(out, false); // refused early, before the model is loaded
    const configFile = inputs.source.kind === 'pretrained' ? path.join(inputs.source.dir, 'config.json') : inputs.source.config;
    if (inputs.source.kind === 'pretrained' && !isFolder(inputs.source.dir)) throw new Error(`train: model folder ${inputs.source.dir} does not exist`);
    // before the weights are allocated: the rows must fit the model's positions, the run the machine's memory
    const maxPositions = sourceConfig(inputs.source)?.maxPositionEmbeddings ?? Infinity;
    if (inputs.data.seqLen > maxPositions) {
      throw new UsageError(`train: --seq-len ${inputs.data.seqLen} is more than the model's max_position_embeddings (${maxPositions}); rows that long reach positions it was not trained on`);
    }
    const memory = checkMemoryBeforeAllocating(configFile, options, inputs.data.seqLen, loraConfig, ignoreMemory);
    const model = buildModel(inputs.source, loraConfig !== null, inputs);
    ({ train, eval: eval_ } = loadData(inputs, model.config.vocabSize));
    outDir = out;
    // LoRA draws its dropout masks and initial A from seed + 1 and seed + 2: not the data order's stream (seed).
    const lora = loraConfig === null ? null : new LoraModel(model, loraConfig, options.seed + 1);
    trainer = new Trainer({
      model,
      lora,
      train,
      eval: eval_,
      options,
      outDir: out,
      source: inputs.source,
      tokenizerDir: inputs.tokenizer ?? (inputs.source.kind === 'pretrained' ? inputs.source.dir : null),
      extra: { cli: inputs },
      progress: progressFor(options.steps),
      memoryCheck: !ignoreMemory,
    });
    const total = model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
    const what =
      lora === null
        ? `full fine-tuning of ${count(total)} parameters`
        : `LoRA r=${loraConfig!.r} alpha=${loraConfig!.alpha} dropout=${loraConfig!.dropout} on ${loraConfig!.targetModules.join(',')}: ${count(lora.parameterCount().trainable)} trainable of ${count(lora.parameterCount().total)}`;
    console.log(`model: ${describeSource(inputs.source)}; ${what}`);
    if (inputs.labels != null) console.log(`task: ${inputs.task}, ${inputs.labels.problemType}, ${inputs.labels.names.length} label${inputs.labels.names.length === 1 ? '' : 's'} (${inputs.labels.names.join(', ')})`);
    console.log(memory);
  }
  const o = trainer.options;
  console.log(`train: ${train.describe()}`);
  if (eval_ !== null) console.log(`eval: ${eval_.describe()}`);
  console.log(
    `${o.steps} steps of ${o.gradAccum} x ${o.batchSize} rows; ${o.optimizer} lr ${o.lr} (${o.schedule}, warmup ${o.warmupSteps}), weight decay ${o.weightDecay}` +
      `${o.maxGradNorm === null ? '' : `, grad norm clipped at ${o.maxGradNorm}`}; kernels on ${describeBackend()}`,
  );

  // One run per folder: locked before anything is written there, released however the run ends.
  const lock = acquireRunLock(outDir);
  let result: TrainResult;
  try {
    if (lock.tookOverStale !== null) console.log(describeStaleLock(lock.tookOverStale));
    if (values.resume === undefined) claimOutputFolder(outDir, values.overwrite === true); // (again) under the lock: another run may have written it meanwhile
    for (const note of trainer.notes) console.log(note);
    result = trainer.train();
  } finally {
    lock.release();
  }
  const loss = (v: number | null) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : String(v ?? 'not finite'));
  const last = trainer.history.filter((e) => e.type === 'train').pop();
  const lastEval = trainer.history.filter((e) => e.type === 'eval').pop();
  const evalMetrics = lastEval === undefined || lastEval.eval_accuracy === undefined && lastEval.eval_mse === undefined ? null : { count: lastEval.eval_tokens, accuracy: lastEval.eval_accuracy, macro_f1: lastEval.eval_macro_f1, mse: lastEval.eval_mse };
  if (last !== undefined) console.log(`step ${last.step}: loss ${loss(last.loss)}${lastEval === undefined ? '' : `, eval loss ${loss(lastEval.eval_loss)}${describeMetrics(evalMetrics)}`}`);
  if (result.skippedSteps > 0) console.log(`skipped ${result.skippedSteps} of ${result.step} steps for a non-finite loss or gradient norm (--skip-nonfinite-steps; see "skipped" in the log)`);
  if (result.stoppedEarlyAt !== null) console.log(`stopped early at step ${result.stoppedEarlyAt} of ${o.steps}: ${o.earlyStoppingPatience} evaluations without improvement (--early-stopping-patience)`);
  if (result.bestCheckpoint !== null) console.log(`best checkpoint: ${result.bestCheckpoint} (eval loss ${loss(result.bestMetric)})`);
  console.log(`log: ${result.logFile}`);
  console.log(`plot: ${result.plotFile}`);
  // --save-total-limit may have deleted some of this run's checkpoints already
  const kept = result.checkpoints.filter((dir) => fs.existsSync(dir));
  const deleted = result.checkpoints.length - kept.length;
  console.log(`checkpoints: ${kept.join(', ')}${deleted > 0 ? ` (${deleted} older ones deleted: --save-total-limit ${o.saveTotalLimit})` : ''}`);
  return 0;
}
