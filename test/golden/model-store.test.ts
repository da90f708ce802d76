// ModelStore holds one model at a time (a run over big folders peaks at one
// model, not the sum): the same folder and class is reused, anything else
// releases the held model, and makeRoomFor leaves the released model garbage
// collected, its wasm-resident weights freed. caseOrder groups the cases of
// each model so the store loads each once.

import { expect, test } from 'vitest';
import { ModelStore, caseModelKey, caseOrder } from '../../lib/golden/model-store.ts';
import { reclaimMemory } from '../../lib/golden/reclaim.ts';
import { residentBytes } from '../../kernels/wasm/memory.ts';
import { backend } from '../../kernels/backend.ts';
import { goldenPath } from '../golden-files.ts';

test('the same folder and class is reused; another folder or class releases the held model', () => {
  const store = new ModelStore(goldenPath('models'));
  expect(store.heldModel).toBeNull();
  const tiny = store.get('tiny', 'causal_lm');
  expect(store.get('tiny', 'causal_lm')).toBe(tiny);
  expect(store.heldModel).toBe('tiny|causal_lm');
  expect(store.loads).toBe(1);

  store.get('tiny', 'base_model');
  expect(store.heldModel).toBe('tiny|base_model');
  store.get('tiny-bf16', 'causal_lm');
  expect(store.heldModel).toBe('tiny-bf16|causal_lm');
  // tiny was released, so asking for it again loads it again
  expect(store.get('tiny', 'causal_lm')).not.toBe(tiny);
  expect(store.loads).toBe(4);

  // a private copy (training) is never the held model, and releases the one held
  const copy = store.fresh('tiny', 'causal_lm');
  expect(store.heldModel).toBeNull();
  expect(store.get('tiny', 'causal_lm')).not.toBe(copy);
  expect(store.loads).toBe(6);
});

test('makeRoomFor another model leaves the released one collected and its resident weights freed', async () => {
  await reclaimMemory(); // the models of earlier tests, so that only this one counts
  const store = new ModelStore(goldenPath('models'));
  const residentBefore = residentBytes();
  const released = new WeakRef(store.get('tiny', 'causal_lm'));
  // on the CPU path the weights live in wasm memory, freed only by a finalizer
  if (backend().path === 'cpu') expect(residentBytes()).toBeGreaterThan(residentBefore);

  await store.makeRoomFor({ model: 'tiny', kind: 'generate' }); // the same model: kept
  expect(store.heldModel).toBe('tiny|causal_lm');
  expect(released.deref()).toBeDefined();

  await store.makeRoomFor({ model: 'tiny-seqcls', kind: 'seq_cls' });
  expect(store.heldModel).toBeNull();
  expect(released.deref()).toBeUndefined();
  expect(residentBytes()).toBe(residentBefore);
});

test('cases that take gradients of the weights get float32 weights; the others keep a bf16 checkpoint in bf16', () => {
  const store = new ModelStore(goldenPath('models'));
  const dtypes = (model: { namedParameters(): [string, { dtype: string }][] }) => new Set(model.namedParameters().map(([, p]) => p.dtype));
  expect(dtypes(store.get('tiny-bf16', 'causal_lm'))).toEqual(new Set(['bfloat16', 'float32'])); // matrices bf16, norms float32
  expect(store.heldModel).toBe('tiny-bf16|causal_lm');
  expect(dtypes(store.get('tiny-bf16', 'causal_lm', 'float32'))).toEqual(new Set(['float32']));
  expect(store.heldModel).toBe('tiny-bf16|causal_lm|float32');
  expect(caseModelKey({ model: 'tiny-bf16', kind: 'grad' })).toBe('tiny-bf16|causal_lm|float32');
  expect(dtypes(store.get('tiny', 'causal_lm'))).toEqual(new Set(['float32'])); // an F32 checkpoint loads as float32 anyway
});

test('caseOrder groups cases by folder, class and weight dtype, groups in order of first appearance, cases in order within one', () => {
  const cases = [
    { name: 'a', model: 'tiny', kind: 'causal_lm' },
    { name: 'b', model: 'cls', kind: 'seq_cls' },
    { name: 'c', model: 'tiny', kind: 'grad' },
    { name: 'd', model: 'tiny', kind: 'base_model' },
    { name: 'e', model: 'cls', kind: 'seq_cls_grad' },
    { name: 'f', model: 'tiny', kind: 'train' },
    { name: 'g', model: 'tiny', kind: 'generate' },
    { name: 'h', model: 'tiny', kind: 'train' },
  ];
  // cases that take gradients of the weights run on float32 weights, another model to the store than a default load
  expect(caseOrder(cases).map((c) => c.name)).toEqual(['a', 'g', 'b', 'c', 'd', 'e', 'f', 'h']);
  expect(caseModelKey(cases[0])).toBe('tiny|causal_lm');
  expect(caseModelKey(cases[2])).toBe('tiny|causal_lm|float32');
  expect(caseModelKey(cases[4])).toBe('cls|seq_cls|float32');
  // training takes a private copy: no held model matches it
  expect(caseModelKey(cases[5])).toBe('tiny|private');
});
