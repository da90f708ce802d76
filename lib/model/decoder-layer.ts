// One Gemma2 decoder layer: attention and MLP, each wrapped by two RMSNorms
// (one before, one after) and a residual connection:
//   h = h + post_attention_norm( attention( input_norm(h) ) )
//   h = h + post_feedforward_norm( mlp( pre_feedforward_norm(h) ) )

import type { Tensor } from '../tensor/tensor.ts';
import { add } from '../ops/index.ts';
import type { Gemma2Config } from './config.ts';
import { Gemma2Attention } from './attention.ts';
import type { LayerCache } from './cache.ts';
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

  /** h [B, T, H] -> [B, T, H]. `mask` is this layer's additive attention mask (sliding or global). */
  forward(h: Tensor, cos: Tensor, sin: Tensor, mask: Tensor, cache?: LayerCache): Tensor {
    const attended = this.selfAttn.forward(this.inputLayernorm.forward(h), cos, sin, mask, cache);
    h = add(h, this.postAttentionLayernorm.forward(attended));
    const transformed = this.mlp.forward(this.preFeedforwardLayernorm.forward(h));
    return add(h, this.postFeedforwardLayernorm.forward(transformed));
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
