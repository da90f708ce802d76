// The training-memory estimate (lib/train/memory-estimate.ts): exact weight
// and adapter counts against built models, the activation term against what
// a forward really allocates on a small model, and the refusals: over the
// available memory (with the override), and a tensor too large for one typed
// array (gemma-2-2b's defaults at a long batch; no override).

import { describe, expect, test } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { parseGemma2Config } from '../../lib/model/config.ts';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { arenaChecks, clearArena } from '../../lib/tensor/arena.ts';
import { LoraModel } from '../../lib/train/lora.ts';
import { tokenLossSum } from '../../lib/train/trainer.ts';
import { MAX_TYPED_ARRAY_LENGTH, MemoryEstimateError, type TrainingShape, checkTrainingMemory, estimateTrainingMemory } from '../../lib/train/memory-estimate.ts';

const small = parseGemma2Config({
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  query_pre_attn_scalar: 16,
  sliding_window: 64,
});
const full: TrainingShape = { batchSize: 2, seqLen: 64, optimizer: 'adamw', momentum: 0, lora: null };

describe('the counts', () => {
  test('weights, gradients and optimizer state from the config equal those of the built model, full and LoRA', () => {
    const model = new Gemma2ForCausalLM(small, { seed: 1 });
    const P = model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
    const e = estimateTrainingMemory(small, full);
    expect(e.weightElements).toBe(P);
    expect(e.trainedElements).toBe(P);
    expect(e.weights).toBe(4 * P);
    expect(e.gradients).toBe(4 * P);
    expect(e.optimizerState).toBe(8 * P); // AdamW: exp_avg and exp_avg_sq
    expect(estimateTrainingMemory(small, { ...full, optimizer: 'sgd' }).optimizerState).toBe(0);
    expect(estimateTrainingMemory(small, { ...full, optimizer: 'sgd', momentum: 0.9 }).optimizerState).toBe(4 * P);
    // an untied head adds its own [V, H]
    const untied = parseGemma2Config({ vocab_size: 512, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, tie_word_embeddings: false });
    expect(estimateTrainingMemory(untied, full).weightElements).toBe(P + 512 * 64);

    const lora = new LoraModel(model, { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 2);
    const shape: TrainingShape = { ...full, lora: { r: 4, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, baseWeightBytes: 2 };
    const l = estimateTrainingMemory(small, shape);
    const trainable = lora.parameterCount().trainable;
    expect(l.trainedElements).toBe(trainable);
    expect(l.weights).toBe(2 * P + 4 * trainable);
    expect(l.gradients).toBe(4 * trainable);
    expect(l.optimizerState).toBe(8 * trainable);
  });

  test('the gemma-2-2b defaults ({}) count 2.61e9 weights: 41.8 GB to train fully with AdamW before activations', () => {
    const e = estimateTrainingMemory(parseGemma2Config({}), { ...full, batchSize: 1, seqLen: 128 });
    expect(e.weightElements).toBe(2_614_341_888); // gemma-2-2b's parameter count (tied embedding)
    expect(e.weights + e.gradients + e.optimizerState).toBe(16 * 2_614_341_888);
  });
});

/**
 * Array-buffer bytes once the garbage is gone: a full collection (vitest does
 * not expose gc), repeated after pauses, since V8 frees array buffers on a
 * background thread after the collection that found them dead.
 */
async function liveArrayBufferBytes(): Promise<number> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  let bytes = Number.NaN;
  for (let round = 0; round < 10; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = process.memoryUsage().arrayBuffers;
    if (now === bytes) break;
    bytes = now;
  }
  return bytes;
}

describe('the activation term against a measured forward', () => {
  test.each([
    [2, 64],
    [1, 160],
    [4, 16],
  ])('B %i x T %i: the bytes a forward keeps for backward are within a factor of two of the estimate', async (B, T) => {
    const model = new Gemma2ForCausalLM(small, { seed: 1 });
    for (const [, p] of model.namedParameters()) p.requireGrad();
    const ids = Tensor.fromData(Int32Array.from({ length: B * T }, (_, i) => (i * 7) % 512), [B, T]);
    // one step first, so that compiled kernels and scratch space are not counted
    tokenLossSum(model.forward({ inputIds: ids }).logits, ids).backward();
    // every array fresh: arrays an earlier case gave back to the arena would be reused, not counted
    arenaChecks.enabled = false;
    clearArena();
    try {
      const before = await liveArrayBufferBytes();
      const loss = tokenLossSum(model.forward({ inputIds: ids }).logits, ids); // the graph, alive until backward
      const kept = (await liveArrayBufferBytes()) - before;
      const estimated = estimateTrainingMemory(small, { ...full, batchSize: B, seqLen: T }).activations;
      expect(loss.item()).toBeGreaterThan(0);
      expect(kept / estimated, `kept ${kept} bytes, estimated ${estimated}`).toBeGreaterThan(0.5);
      expect(kept / estimated, `kept ${kept} bytes, estimated ${estimated}`).toBeLessThan(2);
    } finally {
      arenaChecks.enabled = true;
    }
  });
});

describe('the refusals', () => {
  const limit = { bytes: 1e9, source: 'a test limit' };

  test('over the available memory: refused with the estimate, its parts and the limit; the override lifts it', () => {
    const config = parseGemma2Config({}); // gemma-2-2b
    const shape = { ...full, batchSize: 1, seqLen: 128 };
    const e = estimateTrainingMemory(config, shape);
    expect(() => checkTrainingMemory(e, shape, { limit, override: '--ignore-memory-check' })).toThrow(MemoryEstimateError);
    expect(() => checkTrainingMemory(e, shape, { limit, override: '--ignore-memory-check' })).toThrow(
      /^training needs about 42\.99 GB: weights 10\.46 GB, gradients 10\.46 GB, AdamW state 20\.91 GB, activations at 1 x 128 tokens 1\.16 GB; that is more than the 1\.00 GB available \(a test limit\)\. .* --ignore-memory-check to try anyway$/,
    );
    expect(() => checkTrainingMemory(e, shape, { limit, compare: false, override: 'x' })).not.toThrow();
    // what is allocated already is not asked for again
    const tiny = estimateTrainingMemory(small, full);
    expect(() => checkTrainingMemory(tiny, full, { limit: { bytes: tiny.total - 1, source: 's' }, override: 'x' })).toThrow(MemoryEstimateError);
    expect(() => checkTrainingMemory(tiny, full, { limit: { bytes: tiny.total - 1, source: 's' }, allocated: tiny.weights, override: 'x' })).not.toThrow();
  });

  test('gradient checkpointing counts each layer\'s input and one layer\'s activations: a run refused without it fits with it', () => {
    const config = parseGemma2Config({}); // gemma-2-2b: 26 layers, hidden 2304
    const lora = { r: 8, targetModules: ['q_proj', 'v_proj'] };
    const shape = { ...full, batchSize: 2, seqLen: 1024, lora, baseWeightBytes: 2 as const };
    const kept = estimateTrainingMemory(config, shape);
    const recomputed = estimateTrainingMemory(config, { ...shape, gradientCheckpointing: true });
    const perLayer = (kept.activations - estimateTrainingMemory({ ...config, numHiddenLayers: 25 }, shape).activations) / 4;
    const layerInputs = config.numHiddenLayers * 2 * 1024 * config.hiddenSize;
    expect(recomputed.activations).toBe(kept.activations - 4 * (25 * perLayer - layerInputs));
    expect(recomputed.weights + recomputed.gradients + recomputed.optimizerState).toBe(kept.weights + kept.gradients + kept.optimizerState);
    const between = { bytes: (kept.total + recomputed.total) / 2, source: 'a test limit' };
    expect(() => checkTrainingMemory(kept, shape, { limit: between, override: 'x' })).toThrow(MemoryEstimateError);
    expect(() => checkTrainingMemory(recomputed, { ...shape, gradientCheckpointing: true }, { limit: between, override: 'x' })).not.toThrow();
  });

  test('a tensor larger than one typed array is named, override or not', () => {
    const config = parseGemma2Config({}); // vocabulary 256000
    const shape = { ...full, batchSize: 4, seqLen: 8192 }; // logits 4 * 8192 * 256000 = 8.4e9 elements
    const e = estimateTrainingMemory(config, shape);
    expect(e.largestTensor.elements).toBeGreaterThan(MAX_TYPED_ARRAY_LENGTH);
    expect(() => checkTrainingMemory(e, shape, { compare: false, override: 'x' })).toThrow(
      `the logits [4, 8192, 256000] would have 8.389e+9 elements, more than the ${MAX_TYPED_ARRAY_LENGTH} one typed array can hold in this engine`,
    );
  });
});
