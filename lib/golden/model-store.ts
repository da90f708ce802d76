// The models golden cases run on. A store holds one model at a time: asking
// for another (a different folder, or another class of the same folder)
// releases the one held first, so a run over gemma-2-2b-sized folders peaks
// at one model's memory rather than the sum of them all. Consecutive cases on
// the same folder and class share the loaded model; `caseOrder` puts such
// cases next to each other. Models come from a directory of model folders
// (Node), or from a function that gives each folder (a MemoryModelFolder:
// the golden cases run from bytes alone, test/golden-from-bytes.test.ts).
// Cases that take gradients of the weights (grad, *_grad, train) run on
// float32 weights (LoadOptions.weightDtype 'float32'); the others load as
// fromPretrained does by default, a bf16 checkpoint kept in bf16. The two
// are different models to the store: `<folder>|<class>` and
// `<folder>|<class>|float32`.

import { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import { Gemma2Model } from '../model/gemma2-model.ts';
import { Gemma2ForSequenceClassification, Gemma2ForTokenClassification } from '../model/classification.ts';
import type { ModelFolder } from '../io/model-folder.ts';
import { reclaimMemory } from './reclaim.ts';
import type { CaseKind } from './case.ts';

interface ModelClasses {
  causal_lm: Gemma2ForCausalLM;
  base_model: Gemma2Model;
  seq_cls: Gemma2ForSequenceClassification;
  token_cls: Gemma2ForTokenClassification;
}
export type ModelClass = keyof ModelClasses;

/** The weights a case needs: as fromPretrained loads them by default, or float32 (to take their gradients). */
export type WeightMode = 'auto' | 'float32';

const LOADERS: { [C in ModelClass]: (folder: string | ModelFolder, weightDtype: WeightMode) => ModelClasses[C] } = {
  causal_lm: (folder, weightDtype) => Gemma2ForCausalLM.fromPretrained(folder, { weightDtype }),
  base_model: (folder, weightDtype) => Gemma2Model.fromPretrained(folder, { weightDtype }),
  seq_cls: (folder, weightDtype) => Gemma2ForSequenceClassification.fromPretrained(folder, { weightDtype }),
  token_cls: (folder, weightDtype) => Gemma2ForTokenClassification.fromPretrained(folder, { weightDtype }),
};

/** Where a store finds the folder of a model by its name: a directory holding the folders, or a function giving each. */
export type ModelFolders = string | ((model: string) => string | ModelFolder);

/** The class each kind's runner (run.ts) loads its model as. */
const CLASS_OF_KIND: Record<CaseKind, ModelClass> = {
  causal_lm: 'causal_lm',
  grad: 'causal_lm',
  generate: 'causal_lm',
  train: 'causal_lm',
  base_model: 'base_model',
  seq_cls: 'seq_cls',
  seq_cls_grad: 'seq_cls',
  token_cls: 'token_cls',
  token_cls_grad: 'token_cls',
};

/** Kinds that change the weights: each gets a private copy, never the shared model. */
const PRIVATE_KINDS = new Set<CaseKind>(['train']);
/** Kinds that take gradients of the weights: float32 weights (a bfloat16 weight is never trained). */
const GRADIENT_KINDS = new Set<CaseKind>(['grad', 'seq_cls_grad', 'token_cls_grad', 'train']);

/** The weights a case of this kind runs on. */
export function weightModeOf(kind: CaseKind): WeightMode {
  return GRADIENT_KINDS.has(kind) ? 'float32' : 'auto';
}

/**
 * `<folder>|<class>` (`|float32` added for kinds that take gradients): the
 * model a case runs on, as ModelStore.heldModel names it; a kind that takes a
 * private copy gets a key no held model has.
 */
export function caseModelKey(c: { model: string; kind: string }): string {
  const kind = c.kind as CaseKind;
  if (!(kind in CLASS_OF_KIND)) return `${c.model}|${c.kind}`; // not a kind: it fails on its own, in place
  return PRIVATE_KINDS.has(kind) ? `${c.model}|private` : storeKey(c.model, CLASS_OF_KIND[kind], weightModeOf(kind));
}

function storeKey(model: string, modelClass: ModelClass, weights: WeightMode): string {
  return weights === 'auto' ? `${model}|${modelClass}` : `${model}|${modelClass}|${weights}`;
}

/**
 * The cases grouped by the model they run on, groups in the order their
 * first case appears and cases in their given order within a group, so a
 * one-model store loads each model once.
 */
export function caseOrder<T extends { model: string; kind: string }>(cases: T[]): T[] {
  const groups = new Map<string, T[]>();
  for (const c of cases) {
    const key = caseModelKey(c);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].flat();
}

export class ModelStore {
  private held: { key: string; model: ModelClasses[ModelClass] } | null = null;
  /** Whether a model was loaded since memory was last reclaimed: only then can a dead one be waiting (a dropped private copy counts). */
  private unreclaimed = false;
  /** Models loaded so far (a reuse does not count). */
  loads = 0;

  constructor(readonly models: ModelFolders) {}

  /** Folder `model` loaded as `modelClass` (with float32 weights when asked): the held model when it is that one, else a fresh load (the held one released first). */
  get<C extends ModelClass>(model: string, modelClass: C, weights: WeightMode = 'auto'): ModelClasses[C] {
    const key = storeKey(model, modelClass, weights);
    if (this.held?.key === key) return this.held.model as ModelClasses[C];
    const loaded = this.fresh(model, modelClass, weights);
    this.held = { key, model: loaded };
    return loaded;
  }

  /** A private copy the store does not keep (training changes its weights); the held model is released first. */
  fresh<C extends ModelClass>(model: string, modelClass: C, weights: WeightMode = 'auto'): ModelClasses[C] {
    this.release();
    this.loads++;
    this.unreclaimed = true;
    return LOADERS[modelClass](typeof this.models === 'string' ? `${this.models}/${model}` : this.models(model), weights) as ModelClasses[C];
  }

  /** Drops the held model; the garbage collector reclaims it once nothing else refers to it. */
  release(): void {
    this.held = null;
  }

  /**
   * Before running a case: releases the held model unless the case runs on
   * it, and reclaims the memory of every model dropped so far (see
   * lib/golden/reclaim.ts), so the next load never overlaps a dead model.
   */
  async makeRoomFor(c: { model: string; kind: string }): Promise<void> {
    if (this.held?.key === caseModelKey(c)) return;
    this.release();
    if (!this.unreclaimed) return;
    await reclaimMemory();
    this.unreclaimed = false;
  }

  /** `<folder>|<class>[|float32]` of the model held now, or null: never more than one. */
  get heldModel(): string | null {
    return this.held?.key ?? null;
  }
}
