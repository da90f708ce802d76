// PreTrainedModel: what the four model classes share (Transformers keeps it
// in PreTrainedModel too): loading a Hugging Face folder into the class it is
// called on, saving one under the class's architecture name, and naming
// parameters by the checkpoint's dotted paths. A subclass states only its
// architecture name and its parts:
//
//   class Gemma2ForCausalLM extends PreTrainedModel {
//     static readonly architecture = 'Gemma2ForCausalLM';
//     protected parts() { return [['model', this.model], ['lm_head.weight', this.lmHead]]; }
//   }
//
//   Gemma2ForCausalLM.fromPretrained('path/to/folder')      // Node
//   Gemma2ForCausalLM.fromPretrained(memoryFolder)          // anywhere (lib/io/memory-folder.ts)
//   model.savePretrained('out/dir', { dtype: 'BF16' })       // or a FolderSink

import { Tensor } from '../tensor/tensor.ts';
import type { FolderSink, ModelFolder } from '../io/model-folder.ts';
import type { Gemma2Config } from './config.ts';
import type { WeightDType } from '../tensor/storage.ts';
import { type Module, type NamedParameters, withPrefix } from './module.ts';
import { type LoadOptions, type SaveOptions, loadPretrained, savePretrained } from './pretrained.ts';
import { hookPointNames } from './hook-points.ts';
import { type CacheSelection, type HookableModel, HookScope, type Hooks, runWithCache, runWithHooks } from './hooks.ts';

/** A parameter (a Tensor) or a module of them, under its checkpoint name; null for a part this configuration lacks (a tied head). */
export type ModelPart = [name: string, part: Module | Tensor | null];

/** A model class fromPretrained can build: its constructor (config, and the weight matrices' dtype) and its Transformers class name. */
export interface PreTrainedModelClass<M extends PreTrainedModel> {
  new (config: Gemma2Config, options?: { weightDtype?: WeightDType }): M;
  /** The Transformers class name written to config.json's "architectures". */
  readonly architecture: string;
}

export abstract class PreTrainedModel implements Module {
  abstract readonly config: Gemma2Config;

  /**
   * The parts that hold parameters, in checkpoint order: a Tensor is one
   * parameter named `name`; a Module's parameters are named `name.<theirs>`.
   */
  protected abstract parts(): ModelPart[];

  /** Every parameter under its Hugging Face checkpoint name ("model.layers.0.self_attn.q_proj.weight"). */
  namedParameters(): NamedParameters {
    return this.parts().flatMap(([name, part]): NamedParameters => {
      if (part === null) return [];
      return part instanceof Tensor ? [[name, part]] : withPrefix(name, part);
    });
  }

  /**
   * Loads a Hugging Face folder (config.json + safetensors, one file or
   * shards) as the class this is called on: a path on Node, or a ModelFolder
   * anywhere. Checkpoint names with or without the "model." prefix load
   * either way; every missing, unexpected or mis-shaped weight is reported in
   * one WeightLoadError (unless options.strict is false). A checkpoint stored
   * in bf16 keeps its weight matrices in bf16 (half the memory; the kernels
   * widen them exactly as they read), unless options.weightDtype is
   * 'float32': see LoadOptions.
   */
  static fromPretrained<M extends PreTrainedModel>(this: PreTrainedModelClass<M>, source: string | ModelFolder, options?: LoadOptions): M {
    return loadPretrained(source, (config, weightDtype) => new this(config, { weightDtype }), options).model;
  }

  /** Writes a folder (a path on Node, or a FolderSink) that Transformers' from_pretrained of this class can load. */
  savePretrained(target: string | FolderSink, options?: SaveOptions): void {
    savePretrained(this, target, this.architecture, options);
  }

  /** Every hook point of this model in forward order (hook-points.ts): the decoder stack's; the causal LM adds its head's. */
  hookPointNames(): string[] {
    return hookPointNames(this.config.numHiddenLayers, false);
  }

  /**
   * forward(input) with `hooks` reading or replacing activations at hook
   * points (hooks.ts): for ablation and activation patching. Every name is
   * checked first: an unknown one is an error, not a hook that never runs.
   */
  runWithHooks<I extends { hooks?: Hooks | HookScope }, O>(this: HookableModel<I, O>, input: I, hooks: Hooks): O {
    return runWithHooks(this, input, hooks);
  }

  /** forward(input), keeping the activation at every hook point (or those `names` selects): name -> tensor, in forward order. */
  runWithCache<I extends { hooks?: Hooks | HookScope }, O>(this: HookableModel<I, O>, input: I, names?: CacheSelection): { output: O; activations: Map<string, Tensor> } {
    return runWithCache(this, input, names);
  }

  /** The hooks a forward's input carries, as a scope; a specification given to forward directly is checked like runWithHooks's. */
  protected hookScope(hooks: Hooks | HookScope | undefined): HookScope {
    if (hooks === undefined || hooks instanceof HookScope) return HookScope.of(hooks);
    return HookScope.of(hooks).validate(this.hookPointNames(), this.architecture);
  }

  /** The Transformers class name this model saves as (the subclass's static `architecture`). */
  get architecture(): string {
    const architecture = (this.constructor as Partial<PreTrainedModelClass<PreTrainedModel>>).architecture;
    if (typeof architecture !== 'string') throw new Error(`${this.constructor.name} extends PreTrainedModel but declares no static architecture name`);
    return architecture;
  }
}
