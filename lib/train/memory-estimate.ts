// How much memory a training run needs, from the model config and the batch
// shape alone, so that a run that cannot fit is refused before anything is
// allocated. All counts are float32 elements (4 bytes) unless said otherwise.
//
//   P = weight elements (causalLMWeightShapes; + V*H for an untied lm_head)
//   N = trained elements: P (full fine-tuning) or the adapters,
//       sum over adapted projections [out, in] of r * (in + out) (LoRA)
//   weights        P * (4, or 2 for a bf16 base kept in bf16) + LoRA: N * 4
//   gradients      N * 4
//   optimizer      AdamW 2N * 4 (exp_avg, exp_avg_sq); SGD N * 4 with momentum, else 0
//   activations    what the forward at B rows of T tokens keeps for backward,
//                  per layer (B*T rows; nh heads, kv key/value heads, hd head width):
//                    B*T*(8H + (3 nh + 4 kv) hd + 3I)   8 [B,T,H]: the four norms, o_proj, down_proj,
//                                                         the two residual sums; q, k, v, RoPE'd q and k,
//                                                         v made contiguous, z; gate, up, gelu(gate)*up
//                  + B*nh*T*T                          the attention pattern (the fused attention op
//                                                         keeps only it; backward recomputes the scores)
//                  (with gradient checkpointing: B*T*H per layer, its input, and the above
//                  once, for the layer backward is running again)
//                  and once: B*T*H * 3 (embedding, its scaling, the final norm)
//                  + B*nh*T*T * 2                       one layer's recomputed scores and their
//                                                         gradient, while backward runs through it
//                  + B*T*V * 3                          the (softcapped) logits, the loss's softmax,
//                                                         the logits' gradient (the head's softcap is the
//                                                         product's epilogue: no uncapped copy is kept)
// Measured against the forward's allocations on a small model in
// test/train/memory-estimate.test.ts (within a factor of two).
//
// Available memory is os.freemem() (Linux: MemAvailable), or less when the
// process runs under a cgroup limit (process.constrainedMemory). Typed arrays
// live outside V8's heap, so the heap limit does not bound them; each single
// tensor must fit one typed array (buffer.constants.MAX_LENGTH elements).

import os from 'node:os';
import { constants } from 'node:buffer';
import type { Gemma2Config } from '../model/config.ts';
import { causalLMWeightShapes } from '../model/weight-shapes.ts';
import { TrainerError } from './trainer-options.ts';
import type { OptimizerKind } from './trainer-options.ts';

export class MemoryEstimateError extends TrainerError {
  override name = 'MemoryEstimateError';
}

export interface TrainingShape {
  batchSize: number;
  seqLen: number;
  optimizer: OptimizerKind;
  /** SGD momentum (a momentum buffer per trained element when > 0). */
  momentum: number;
  /** LoRA rank and adapted projections, or null for full fine-tuning. */
  lora: { r: number; targetModules: readonly string[] } | null;
  /** Bytes per frozen base weight: 2 for a bf16 base kept in bf16 (LoRA), else 4. */
  baseWeightBytes?: 2 | 4;
  /** Gradient checkpointing: the forward keeps each layer's input, not its activations (lib/autograd/checkpoint.ts). */
  gradientCheckpointing?: boolean;
}

export interface MemoryEstimate {
  weights: number;
  gradients: number;
  optimizerState: number;
  activations: number;
  /** Bytes, the sum of the above. */
  total: number;
  /** Weight and trained element counts (P and N above). */
  weightElements: number;
  trainedElements: number;
  /** The largest single tensor: its name and element count (the typed-array limit applies to it). */
  largestTensor: { name: string; elements: number };
}

const F32 = 4;

function weightShapes(c: Gemma2Config): [string, number[]][] {
  const shapes = causalLMWeightShapes(c);
  if (!c.tieWordEmbeddings) shapes.push(['lm_head.weight', [c.vocabSize, c.hiddenSize]]);
  return shapes;
}

const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function estimateTrainingMemory(c: Gemma2Config, shape: TrainingShape): MemoryEstimate {
  const { batchSize: B, seqLen: T } = shape;
  const shapes = weightShapes(c);
  const weightElements = shapes.reduce((n, [, s]) => n + elements(s), 0);
  const adapters =
    shape.lora === null
      ? 0
      : shapes
          .filter(([name]) => shape.lora!.targetModules.some((t) => name.endsWith(`.${t}.weight`)))
          .reduce((n, [, [out, inner]]) => n + shape.lora!.r * (inner + out), 0);
  const trainedElements = shape.lora === null ? weightElements : adapters;
  const baseBytes = shape.lora === null ? F32 : (shape.baseWeightBytes ?? F32);
  const weights = weightElements * baseBytes + adapters * F32;
  const gradients = trainedElements * F32;
  const optimizerState = trainedElements * F32 * (shape.optimizer === 'adamw' ? 2 : shape.momentum > 0 ? 1 : 0);

  const { hiddenSize: H, intermediateSize: I, numAttentionHeads: nh, numKeyValueHeads: kv, headDim: hd, vocabSize: V } = c;
  const perLayer = B * T * (8 * H + (3 * nh + 4 * kv) * hd + 3 * I) + B * nh * T * T;
  const once = B * T * H * 3 + B * nh * T * T * 2 + B * T * V * 3;
  // gradient checkpointing keeps each layer's input only, and one layer's activations while backward reruns it
  const layers = shape.gradientCheckpointing ? c.numHiddenLayers * B * T * H + perLayer : c.numHiddenLayers * perLayer;
  const activations = (layers + once) * F32;

  const candidates: [string, number][] = [
    ...shapes.map(([name, s]): [string, number] => [name, elements(s)]),
    [`the logits [${B}, ${T}, ${V}]`, B * T * V],
    [`the attention scores [${B}, ${nh}, ${T}, ${T}]`, B * nh * T * T],
    [`the MLP activations [${B}, ${T}, ${I}]`, B * T * I],
  ];
  const [name, largest] = candidates.reduce((a, b) => (b[1] > a[1] ? b : a));
  return {
    weights,
    gradients,
    optimizerState,
    activations,
    total: weights + gradients + optimizerState + activations,
    weightElements,
    trainedElements,
    largestTensor: { name, elements: largest },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(1)} kB`;
}

/** The most elements one typed array may hold in this engine. */
export const MAX_TYPED_ARRAY_LENGTH = constants.MAX_LENGTH;

export interface MemoryLimit {
  bytes: number;
  /** Where the number comes from, for the message. */
  source: string;
}

/** Memory this process can still allocate: free memory, or less under a cgroup limit. */
export function availableMemory(): MemoryLimit {
  const free = os.freemem();
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  if (constrained > 0 && constrained < os.totalmem()) {
    const left = constrained - process.memoryUsage().rss;
    if (left < free) return { bytes: left, source: `the process's memory limit ${formatBytes(constrained)} less the ${formatBytes(process.memoryUsage().rss)} it uses` };
  }
  return { bytes: free, source: `free memory: os.freemem(), of ${formatBytes(os.totalmem())} in all` };
}

export interface MemoryCheck {
  /** Bytes already allocated of the estimate (the weights, when the model exists): not asked of the free memory. */
  allocated?: number;
  limit?: MemoryLimit;
  /** false: skip the comparison with free memory (the typed-array limit still applies: nothing can lift it). */
  compare?: boolean;
  /** How the caller turns the comparison off, for the message (e.g. "--ignore-memory-check"). */
  override: string;
}

/**
 * Throws MemoryEstimateError when one tensor cannot be a typed array, or when
 * the estimate (less what is already allocated) exceeds the available memory.
 */
export function checkTrainingMemory(estimate: MemoryEstimate, shape: TrainingShape, check: MemoryCheck): void {
  const { name, elements: largest } = estimate.largestTensor;
  if (largest > MAX_TYPED_ARRAY_LENGTH) {
    throw new MemoryEstimateError(
      `${name} would have ${largest.toExponential(3)} elements, more than the ${MAX_TYPED_ARRAY_LENGTH} one typed array can hold in this engine; use a smaller model, batch or sequence length`,
    );
  }
  if (check.compare === false) return;
  const limit = check.limit ?? availableMemory();
  const needed = estimate.total - (check.allocated ?? 0);
  if (needed <= limit.bytes) return;
  const optimizerName = shape.optimizer === 'adamw' ? 'AdamW state' : 'SGD momentum';
  throw new MemoryEstimateError(
    `training needs about ${formatBytes(estimate.total)}: weights ${formatBytes(estimate.weights)}, gradients ${formatBytes(estimate.gradients)}, ` +
      `${optimizerName} ${formatBytes(estimate.optimizerState)}, activations at ${shape.batchSize} x ${shape.seqLen} tokens ${formatBytes(estimate.activations)}` +
      `${check.allocated ? ` (${formatBytes(check.allocated)} of it already allocated)` : ''}; ` +
      `that is more than the ${formatBytes(limit.bytes)} available (${limit.source}). ` +
      `Use a smaller model, batch or sequence length, or LoRA, or ${check.override} to try anyway`,
  );
}
