// One Gemma2 decoder layer: attention and MLP, each wrapped by two RMSNorms
// (one before, one after) and a residual connection:
//   h = h + post_attention_norm( attention( input_norm(h) ) )
//   h = h + post_feedforward_norm( mlp( pre_feedforward_norm(h) ) )

import type { Tensor } from '../tensor/tensor.ts';
import { add } from '../ops/index.ts';
import type { Gemma2Config } from './config.ts';
import { Gemma2Attention } from './attention.ts';
import type { LayerCache } from './cache.ts';
import type { HookScope } from './hooks.ts';
import { Gemma2MLP } from './mlp.ts';
import { RMSNorm } from './norm.ts';
import { type InitOptions, type Module, type NamedParameters, withPrefix } from './module.ts';

export class Gemma2DecoderLayer implements Module {
  readonly selfAttn: Gemma2Attention;
  readonly mlp: Gemma2MLP;
  readonly inputLayernorm: RMSNorm;
  readonly postAttentionLayernorm: RMSNorm;
  readonly preFeedforwardLayernorm: RMSNorm;
  readonly postFeedforwardLayernorm: RMSNorm;

  constructor(
    config: Gemma2Config,
    readonly isSliding: boolean,
    init: InitOptions,
  ) {
    this.selfAttn = new Gemma2Attention(config, init);
    this.mlp = new Gemma2MLP(config, init);
    this.inputLayernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
    this.postAttentionLayernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
    this.preFeedforwardLayernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
    this.postFeedforwardLayernorm = new RMSNorm(config.hiddenSize, config.rmsNormEps);
  }

  /**
   * h [B, T, H] -> [B, T, H]. `mask` is this layer's additive attention mask
   * (sliding or global); `hooks` (scoped to `layers.<i>`) runs this layer's
   * hook points on the way (hook-points.ts).
   */
  forward(h: Tensor, cos: Tensor, sin: Tensor, mask: Tensor, cache: LayerCache | undefined, hooks: HookScope): Tensor {
    h = hooks.at('resid_pre', h);
    const a = hooks.at('input_norm', this.inputLayernorm.forward(h));
    const attended = this.selfAttn.forward(a, cos, sin, mask, cache, hooks.within('attn'));
    h = hooks.at('resid_mid', add(h, hooks.at('post_attn_norm', this.postAttentionLayernorm.forward(attended))));
    const m = hooks.at('pre_ff_norm', this.preFeedforwardLayernorm.forward(h));
    const transformed = this.mlp.forward(m, hooks.within('mlp'));
    return hooks.at('resid_post', add(h, hooks.at('post_ff_norm', this.postFeedforwardLayernorm.forward(transformed))));
  }

  namedParameters(): NamedParameters {
    return [
      ...withPrefix('self_attn', this.selfAttn),
      ...withPrefix('mlp', this.mlp),
      ...withPrefix('input_layernorm', this.inputLayernorm),
      ...withPrefix('post_attention_layernorm', this.postAttentionLayernorm),
      ...withPrefix('pre_feedforward_layernorm', this.preFeedforwardLayernorm),
      ...withPrefix('post_feedforward_layernorm', this.postFeedforwardLayernorm),
    ];
  }
}
