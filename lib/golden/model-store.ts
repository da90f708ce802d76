// The models golden cases run on. A store holds one model at a time: asking
// for another (a different folder, or another class of the same folder)
// releases the one held first, so a run over gemma-2-2b-sized folders peaks
// at one model's memory rather than the sum of them all. Consecutive cases on
// the same folder and class share the loaded model; `caseOrder` puts such
// cases next to each other. Models come from a directory of model folders
// (Node), or from a function that gives each folder (a MemoryModelFolder:
// the golden cases run from bytes alone, test/golden-from-bytes.test.ts).

import path from 'node:path';
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

const LOADERS: { [C in ModelClass]: (folder: string | ModelFolder) => ModelClasses[C] } = {
  causal_lm: (folder) => Gemma2ForCausalLM.fromPretrained(folder),
  base_model: (folder) => Gemma2Model.fromPretrained(folder),
  seq_cls: (folder) => Gemma2ForSequenceClassification.fromPretrained(folder),
  token_cls: (folder) => Gemma2ForTokenClassification.fromPretrained(folder),
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

/**
 * `<folder>|<class>`: the model a case runs on, as ModelStore.heldModel names
 * it; a kind that takes a private copy gets a key no held model has.
 */
export function caseModelKey(c: { model: string; kind: string }): string {
  const kind = c.kind as CaseKind;
  if (!(kind in CLASS_OF_KIND)) return `${c.model}|${c.kind}`; // not a kind: it fails on its own, in place
  return PRIVATE_KINDS.has(kind) ? `${c.model}|private` : storeKey(c.model, CLASS_OF_KIND[kind]);
}

function storeKey(model: string, modelClass: ModelClass): string {
  return `${model}|${modelClass}`;
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

  /** Folder `model` loaded as `modelClass`: the held model when it is that one, else a fresh load (the held one released first). */
  get<C extends ModelClass>(model: string, modelClass: C): ModelClasses[C] {
    const key = storeKey(model, modelClass);
    if (this.held?.key === key) return this.held.model as ModelClasses[C];
    const loaded = this.fresh(model, modelClass);
    this.held = { key, model: loaded };
    return loaded;
  }

  /** A private copy the store does not keep (training changes its weights); the held model is released first. */
  fresh<C extends ModelClass>(model: string, modelClass: C): ModelClasses[C] {
    this.release();
    this.loads++;
    this.unreclaimed = true;
    return LOADERS[modelClass](typeof this.models === 'string' ? path.join(this.models, model) : this.models(model));
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

  /** `<folder>|<class>` of the model held now, or null: never more than one. */
  get heldModel(): string | null {
    return this.held?.key ?? null;
  }
}
