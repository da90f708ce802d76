// Gemma2's gated MLP (GeGLU): down( gelu_tanh(gate(a)) * up(a) ), with GELU's
// tanh approximation, not the exact GELU (huggingface/transformers#29402).

import type { Tensor } from '../tensor/tensor.ts';
import { geluTanh, geluTanhMul, mul } from '../ops/index.ts';
import type { Gemma2Config } from './config.ts';
import type { HookScope } from './hooks.ts';
import { type InitOptions, Linear, type Module, type NamedParameters, withPrefix } from './module.ts';

export class Gemma2MLP implements Module {
  readonly gateProj: Linear;
  readonly upProj: Linear;
  readonly downProj: Linear;

  constructor(config: Gemma2Config, init: InitOptions) {
    this.gateProj = new Linear(config.hiddenSize, config.intermediateSize, false, init);
    this.upProj = new Linear(config.hiddenSize, config.intermediateSize, false, init);
    this.downProj = new Linear(config.intermediateSize, config.hiddenSize, false, init);
  }

  /** a [..., H] -> [..., H] through [..., intermediate_size]; `hooks` runs mlp.gate ... mlp.out. */
  forward(a: Tensor, hooks: HookScope): Tensor {
    const gate = hooks.at('gate', this.gateProj.forward(a));
    const up = hooks.at('up', this.upProj.forward(a));
    // With no hook set, gelu(gate) * up is one op (one pass forward, one backward) and the activation
    // mlp.act is never made. With hooks, the two steps run apart so a hook at mlp.act can read or replace
    // the activation. Both give the same bits, forward and gradients (the fused kernels round where
    // geluTanh and mul do; test/ops/fused.test.ts, test/model/hooks.test.ts).
    const gated = hooks.active ? hooks.at('gated', mul(hooks.at('act', geluTanh(gate)), up)) : geluTanhMul(gate, up);
    return hooks.at('out', this.downProj.forward(gated));
  }

  namedParameters(): NamedParameters {
    return [...withPrefix('gate_proj', this.gateProj), ...withPrefix('up_proj', this.upProj), ...withPrefix('down_proj', this.downProj)];
  }
}
