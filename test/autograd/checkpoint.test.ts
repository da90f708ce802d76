// Gradient checkpointing (lib/autograd/checkpoint.ts, Gemma2Model's
// gradientCheckpointing): the same ops run in the same order, so the loss and
// every gradient are bit-identical with it and without it, on the tiny golden
// model (full fine-tuning; LoRA over the float32 and the bf16 base, with and
// without dropout) and over a few Trainer steps and a `gemma2 train
// --gradient-checkpointing` run; the tape keeps one tensor per layer instead
// of the layer's activations; the gradient handed to a recomputation stays
// out of the arena; and what it cannot do (hooks, a cache, a function that
// does not repeat itself, an input written in place) is refused.

import { describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Tensor } from '../../lib/tensor/tensor.ts';
import { Generator } from '../../lib/tensor/random.ts';
import { noGrad } from '../../lib/autograd/tape.ts';
import { checkpoint } from '../../lib/autograd/checkpoint.ts';
import { add, dropout, mul, sum } from '../../lib/ops/index.ts';
import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { HybridCache } from '../../lib/generation/hybrid-cache.ts';
import { LoraModel } from '../../lib/train/lora.ts';
import { Dataset } from '../../lib/train/data.ts';
import { Trainer } from '../../lib/train/trainer.ts';
import { resolveTrainerOptions } from '../../lib/train/trainer-options.ts';
import { arenaChecks } from '../../lib/tensor/arena.ts';
import { readTrainerState } from '../../lib/train/checkpoint.ts';
import { main } from '../../lib/cli/main.ts';
import { goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';

/** Where a generator's stream stands (getState's words may come back signed or unsigned). */
const streamOf = (g: Generator) => {
  const { words, spareNormal } = g.getState();
  return { words: words.map((w) => w >>> 0), spareNormal };
};

const tiny = (weightDtype: 'float32' | 'bfloat16' = 'float32') => Gemma2ForCausalLM.fromPretrained(goldenPath(weightDtype === 'float32' ? 'models/tiny' : 'models/tiny-bf16'), { weightDtype });

/** Two rows of 12 ids, the second right-padded (mask 0, label -100) so the masks take part. */
const B = 2;
const T = 12;
const ids = Tensor.fromData(Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % 256), [B, T]);
const mask = Tensor.fromData(Int32Array.from({ length: B * T }, (_, i) => (i >= T + 9 ? 0 : 1)), [B, T]);
const labels = Tensor.fromData(Int32Array.from({ length: B * T }, (_, i) => (i >= T + 9 ? -100 : (i * 37 + 11) % 256)), [B, T]);

/** Loss and every trained tensor's gradient (as bits) after one forward and backward. */
function lossAndGradients(model: Gemma2ForCausalLM, trained: [string, Tensor][], gradientCheckpointing: boolean): { loss: number; grads: Map<string, Float32Array> } {
  model.model.gradientCheckpointing = gradientCheckpointing;
  for (const [, p] of trained) p.zeroGrad();
  const { loss } = model.forward({ inputIds: ids, attentionMask: mask, labels });
  loss!.backward();
  return { loss: loss!.item(), grads: new Map(trained.map(([name, p]) => [name, Float32Array.from(p.grad!.contiguousData() as Float32Array)])) };
}

function expectIdentical(a: ReturnType<typeof lossAndGradients>, b: ReturnType<typeof lossAndGradients>): void {
  expect(Object.is(a.loss, b.loss)).toBe(true);
  expect([...b.grads.keys()]).toEqual([...a.grads.keys()]);
  for (const [name, g] of a.grads) {
    // toEqual on typed arrays compares every element exactly (and tells which one differs)
    expect(b.grads.get(name), name).toEqual(g);
    expect(g.some((v) => v !== 0), `${name} got a gradient`).toBe(true);
  }
}

describe('gradient checkpointing on the tiny golden model', () => {
  test('full fine-tuning: the loss and every parameter gradient are bit-identical with it and without it', () => {
    const model = tiny();
    const trained = model.namedParameters();
    for (const [, p] of trained) p.requireGrad();
    const plain = lossAndGradients(model, trained, false);
    const checkpointed = lossAndGradients(model, trained, true);
    expectIdentical(plain, checkpointed);
  });

  for (const [base, dropoutP] of [['float32', 0], ['float32', 0.3], ['bfloat16', 0.3]] as const) {
    test(`LoRA over the ${base} base, dropout ${dropoutP}: bit-identical adapter gradients, and the dropout stream ends where it would have`, () => {
      const model = tiny(base);
      const lora = new LoraModel(model, { r: 4, alpha: 8, dropout: dropoutP, targetModules: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'down_proj'] }, 5);
      // B starts at zero, so A would get no gradient: give B values, as after some training
      const init = new Generator(9);
      for (const [name, p] of lora.trainableParameters()) if (name.endsWith('lora_B.weight')) p.contiguousData().set(Float32Array.from({ length: p.size }, () => init.nextNormal() * 0.1));
      const trained = lora.trainableParameters();
      const start = lora.generator.getState();
      const plain = lossAndGradients(model, trained, false);
      const streamAfterPlain = streamOf(lora.generator);
      lora.generator.setState(start);
      const checkpointed = lossAndGradients(model, trained, true);
      expectIdentical(plain, checkpointed);
      expect(streamOf(lora.generator)).toEqual(streamAfterPlain);
      if (dropoutP > 0) expect(streamAfterPlain.words).not.toEqual(start.words.map((w) => w >>> 0)); // dropout drew: the masks were really repeated
      for (const [, p] of model.namedParameters()) expect(p.grad).toBeNull(); // the frozen base gets nothing
    });
  }

  test.each(['LoRA with dropout', 'full fine-tuning'])('a Trainer run of a few steps (%s) gives the same losses, gradient norms and weights', (kind) => {
    const rows = Int32Array.from({ length: 8 * T }, (_, i) => (i * 53 + 7) % 256);
    const data = new Dataset(rows, rows.slice(), null, T, 'fixed rows');
    const run = (gradientCheckpointing: boolean) => {
      const model = tiny();
      const lora = kind === 'full fine-tuning' ? null : new LoraModel(model, { r: 2, alpha: 4, dropout: 0.2, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 3);
      const trainer = new Trainer({ model, lora, train: data, options: { steps: 3, batchSize: 2, gradAccum: 2, lr: 0.01, gradientCheckpointing } });
      const log = [trainer.trainStep(), trainer.trainStep(), trainer.trainStep()].map((e) => [e.loss, e.grad_norm]);
      expect(model.model.gradientCheckpointing).toBe(gradientCheckpointing);
      return { log, weights: trainer.parameters.map(([, p]) => Array.from(p.contiguousData())) };
    };
    const plain = run(false);
    expect(run(true)).toEqual(plain);
  });

  test('the tape keeps far fewer tensors: each layer saves its input, not its activations', () => {
    const model = tiny();
    for (const [, p] of model.namedParameters()) p.requireGrad();
    const tapeTensors = (gradientCheckpointing: boolean) => {
      model.model.gradientCheckpointing = gradientCheckpointing;
      const { loss } = model.forward({ inputIds: ids, labels });
      const seen = new Set<Tensor>();
      const stack = [loss!];
      while (stack.length > 0) {
        const t = stack.pop()!;
        if (seen.has(t)) continue;
        seen.add(t);
        stack.push(...(t.gradNode?.inputs ?? []));
      }
      return [...seen].filter((t) => t.gradNode !== null).length; // computed tensors the tape holds
    };
    const plain = tapeTensors(false);
    const checkpointed = tapeTensors(true);
    // 4 layers: one checkpoint node each, instead of every op inside them
    expect(checkpointed).toBeLessThan(plain / 4);
    expect(model.model.forward({ inputIds: ids }).lastHiddenState.gradNode?.inputs[0].gradNode?.op).toBe('checkpoint');
  });

  test('hooks, outputAttentions and a cache are refused while checkpointing records gradients, and run as usual without recording', () => {
    const model = tiny();
    for (const [, p] of model.namedParameters()) p.requireGrad();
    model.model.gradientCheckpointing = true;
    expect(() => model.runWithHooks({ inputIds: ids }, { 'layers.0.resid_post': (h) => h })).toThrow(/gradient checkpointing runs each layer twice.*hooks/);
    expect(() => model.forward({ inputIds: ids, outputAttentions: true })).toThrow(/gradient checkpointing runs each layer twice.*outputAttentions/);
    expect(() => model.forward({ inputIds: ids, cache: new HybridCache(model.config, { batch: B, maxCacheLen: T }) })).toThrow(/would write the cache twice/);
    const seen: number[][] = [];
    noGrad(() => model.runWithHooks({ inputIds: ids }, { 'layers.0.resid_post': (h) => void seen.push(h.shape) }));
    expect(seen).toEqual([[B, T, 64]]);
  });

  test('retainGrad on the layer outputs (outputHiddenStates) sees the same gradients with it and without it', () => {
    const model = tiny();
    for (const [, p] of model.namedParameters()) p.requireGrad();
    const layerOutputGrads = (gradientCheckpointing: boolean) => {
      model.model.gradientCheckpointing = gradientCheckpointing;
      const { loss, hiddenStates } = model.forward({ inputIds: ids, labels, outputHiddenStates: true });
      for (const h of hiddenStates!) h.retainGrad();
      loss!.backward();
      return hiddenStates!.map((h) => Array.from(h.grad!.contiguousData()));
    };
    expect(layerOutputGrads(true)).toEqual(layerOutputGrads(false));
  });
});

const leaf = (values: number[], shape = [values.length]) => Tensor.fromData(Float32Array.from(values), shape).requireGrad();

describe('checkpoint()', () => {

  test('gradients of inputs and of parameters it closes over match the plain function', () => {
    const w = leaf([0.5, -2, 3]);
    const f = (x: Tensor) => mul(add(mul(x, w), x), w);
    const gradsOf = (run: (x: Tensor) => Tensor) => {
      const x = leaf([1, 2, 3]);
      w.zeroGrad();
      sum(mul(run(mul(x, 2)), x)).backward();
      return [Array.from(x.grad!.contiguousData()), Array.from(w.grad!.contiguousData())];
    };
    expect(gradsOf((x) => checkpoint(f, [x]))).toEqual(gradsOf(f));
  });

  test('parameter gradients accumulate into .grad across calls, as without checkpointing', () => {
    const w = leaf([1, 2]);
    const x = Tensor.fromData(Float32Array.from([3, 4]), [2]);
    sum(mul(x, w)).backward();
    sum(checkpoint((v) => mul(v, w), [x])).backward();
    expect(Array.from(w.grad!.contiguousData())).toEqual([6, 8]);
  });

  test('a function that computes something else when run again (a counter, a random source dropout does not note) is an error', () => {
    let calls = 0;
    const x = leaf([1, 2, 3]);
    const y = checkpoint((v) => mul(v, ++calls), [x]);
    expect(() => sum(y).backward()).toThrow(/recomputation differs from the first pass at element 0 \(2 against 1\)/);
  });

  test('dropout inside draws the same mask again, and the stream continues where the forward left it', () => {
    const g = new Generator(1);
    const x = leaf(Array.from({ length: 64 }, (_, i) => i + 1));
    const y = checkpoint((v) => dropout(v, 0.5, g), [x]);
    const after = streamOf(g);
    sum(y).backward(); // a different mask would fail the recomputation check
    expect(streamOf(g)).toEqual(after);
    expect(Array.from(x.grad!.contiguousData())).toEqual(Array.from(y.contiguousData(), (v) => (v === 0 ? 0 : 2)));
  });

  test('a tensor computed outside with a gradient must come in through the inputs', () => {
    const outside = mul(leaf([1, 2]), 3);
    const x = leaf([1, 1]);
    expect(() => checkpoint((v) => mul(v, outside), [x])).toThrow(/reads a tensor of shape \[2\] computed by mulScalar outside it.*pass it in the inputs/);
  });

  test('an input or a parameter written in place before backward is refused, as for any op that saves it', () => {
    const x = leaf([1, 2]);
    const w = leaf([3, 4]);
    const fresh = () => {
      const h = mul(x, 1);
      return { h, y: checkpoint((v) => mul(v, w), [h]) };
    };
    const written = fresh();
    noGrad(() => written.h.copyFrom(Tensor.fromData(Float32Array.from([5, 5]), [2])));
    expect(() => sum(written.y).backward()).toThrow(/checkpoint: input 0 .* was written in place/);
    const stepped = fresh();
    noGrad(() => w.copyFrom(Tensor.fromData(Float32Array.from([5, 5]), [2]))); // an optimizer step before backward
    expect(() => sum(stepped.y).backward()).toThrow(/checkpoint: input 1 \(shape \[2\]\) was written in place/);
  });

  test('without gradient recording it is a plain call', () => {
    const x = leaf([1, 2]);
    const y = noGrad(() => checkpoint((v) => mul(v, 2), [x]));
    expect(y.requiresGrad).toBe(false);
    expect(Array.from(y.contiguousData())).toEqual([2, 4]);
  });
});

describe('checkpoint() and the gradient arena', () => {
  test("the gradient backward hands to a checkpoint stays the outer backward's: another tensor may be waiting for the same one", () => {
    // add's rule hands one gradient to both inputs; the recomputation's backward must not give it back to the arena.
    const gradsOf = (useCheckpoint: boolean, checkpointFirst: boolean) => {
      const x = leaf([1, 2, 3]);
      const other = leaf([4, 5, 6]);
      const y = useCheckpoint ? checkpoint((v) => mul(v, v), [x]) : mul(x, x);
      sum(mul(checkpointFirst ? add(y, other) : add(other, y), 3)).backward();
      return [Array.from(x.grad!.contiguousData()), Array.from(other.grad!.contiguousData())];
    };
    arenaChecks.poisonReturned = true; // an array handed back too early reads as NaN
    try {
      for (const checkpointFirst of [true, false]) expect(gradsOf(true, checkpointFirst)).toEqual(gradsOf(false, checkpointFirst));
    } finally {
      arenaChecks.poisonReturned = false;
    }
  });
});

test('the trainer option gradientCheckpointing must be a boolean', () => {
  expect(resolveTrainerOptions({ gradientCheckpointing: true }).gradientCheckpointing).toBe(true);
  expect(() => resolveTrainerOptions({ gradientCheckpointing: 'yes' as unknown as boolean })).toThrow(/gradientCheckpointing must be true or false, got "yes"/);
});

describe('gemma2 train --gradient-checkpointing', () => {
  const scratch = tempDir('grad-checkpoint');
  const tokens = path.join(scratch, 'tokens.txt');
  fs.writeFileSync(tokens, Array.from({ length: 64 }, (_, i) => (i * 29 + 5) % 256).join(' '));

  /** The train log's losses and the saved trainer options of a quiet in-process run. */
  async function train(out: string, ...flags: string[]) {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await main(['train', '--model', goldenPath('models/tiny'), '--tokens', tokens, '--out', out, '--steps', '2', '--batch-size', '2', '--seq-len', '16', '--lora-r', '2', '--lora-dropout', '0.1', ...flags]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const losses = fs.readFileSync(path.join(out, 'train_log.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'train').map((e) => e.loss);
    return { losses, options: readTrainerState(path.join(out, 'checkpoint-2')).options };
  }

  test('reaches the trainer (and its saved options) and trains exactly as without it', async () => {
    const plain = await train(path.join(scratch, 'plain'));
    const checkpointed = await train(path.join(scratch, 'checkpointed'), '--gradient-checkpointing');
    expect(plain.options.gradientCheckpointing).toBe(false);
    expect(checkpointed.options.gradientCheckpointing).toBe(true);
    expect(checkpointed.losses).toEqual(plain.losses);
  });
});
