// Gemma2 self-attention (GEMMA2.md, "Forward pass", step 2), eager form, the
// one Transformers trains Gemma2 with: its SDPA path cannot soft-cap the scores
// (huggingface/transformers#31887):
//   q, k, v = a Wq^T, a Wk^T, a Wv^T, split into heads of head_dim
//   q, k    = RoPE(q), RoPE(k)
//   s       = (q k^T) * query_pre_attn_scalar^-0.5
//   s       = c tanh(s / c)                      if attn_logit_softcapping = c
//   s       = s + M                  M = finfo.min where blocked (causal, sliding window, padding), else 0
//   o       = softmax(s) v                      over keys, in float32 (huggingface/transformers#17437)
//   out     = o Wo^T
// The scale by query_pre_attn_scalar (not head_dim) and the cap before the mask
// are Gemma2's own (huggingface/transformers#31659).
// Grouped-query attention: each group of heads / kv_heads query heads shares
// one key/value head; the group's queries are stacked as the rows of one
// product with that head's keys (and its probabilities with its values).
// Without hooks (outputAttentions is a hook too) the block from the scores to
// p v is one op, `attention` (lib/ops/attention.ts: no [B, heads, T, S] tensor
// in a forward without gradients, only p kept with one); a hook on
// attn.scores, attn.capped_scores or attn.pattern needs the composed ops,
// which give the same bits.

import type { Tensor } from '../tensor/tensor.ts';
import { add, attention, matmul, mul, rope, softcap, softmax } from '../ops/index.ts';
import type { Gemma2Config } from './config.ts';
import type { KeyValues, LayerCache } from './cache.ts';
import { type InitOptions, Linear, type Module, type NamedParameters, withPrefix } from './module.ts';
import type { HookScope } from './hooks.ts';

export class Gemma2Attention implements Module {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly oProj: Linear;
  private readonly heads: number;
  private readonly kvHeads: number;
  private readonly headDim: number;
  private readonly scaling: number;
  private readonly softcap: number | null;

  constructor(config: Gemma2Config, init: InitOptions) {
    const { hiddenSize, numAttentionHeads, numKeyValueHeads, headDim, attentionBias } = config;
    this.heads = numAttentionHeads;
    this.kvHeads = numKeyValueHeads;
    this.headDim = headDim;
    this.scaling = config.queryPreAttnScalar ** -0.5;
    this.softcap = config.attnLogitSoftcapping;
    this.qProj = new Linear(hiddenSize, numAttentionHeads * headDim, attentionBias, init);
    this.kProj = new Linear(hiddenSize, numKeyValueHeads * headDim, attentionBias, init);
    this.vProj = new Linear(hiddenSize, numKeyValueHeads * headDim, attentionBias, init);
    this.oProj = new Linear(numAttentionHeads * headDim, hiddenSize, attentionBias, init);
  }

  /** Projects `x` [B, T, H] to [B, heads, T, hd]. */
  private splitHeads(projection: Linear, x: Tensor, heads: number): Tensor {
    const [B, T] = x.shape;
    return projection.forward(x).reshape([B, T, heads, this.headDim]).permute([0, 2, 1, 3]);
  }

  /**
   * x [B, T, H]; cos, sin [B or 1, T, hd] for this call's positions;
   * mask [B or 1, 1, T, S] (additive: 0 or finfo.min) over the S key slots: this call's
   * T tokens, or with a cache every slot it returns. Returns [B, T, H].
   * `hooks` runs the points attn.q ... attn.out (hook-points.ts) on the way.
   */
  forward(x: Tensor, cos: Tensor, sin: Tensor, mask: Tensor, cache: LayerCache | undefined, hooks: HookScope): Tensor {
    const [B, T] = x.shape;
    const groups = this.heads / this.kvHeads;
    const q = hooks.at('q', rope(this.splitHeads(this.qProj, x, this.heads), cos, sin)); // [B, heads, T, hd]
    const current: KeyValues = {
      keys: hooks.at('k', rope(this.splitHeads(this.kProj, x, this.kvHeads), cos, sin)), // [B, kv, T, hd]
      values: hooks.at('v', this.splitHeads(this.vProj, x, this.kvHeads).contiguous()), // [B, kv, T, hd]
    };
    const { keys, values } = cache ? cache.update(current) : current; // [B, kv, S, hd] each
    // Grouped-query attention without copying k or v per query head: the `groups` query heads of one
    // kv head are stacked as rows, [B, kv, groups * T, hd], one product per kv head.
    const stacked = q.reshape([B, this.kvHeads, groups * T, this.headDim]);
    const heads = hooks.active ? this.composedAttention(stacked, keys, values, mask, hooks) : attention(stacked, keys, values, mask, { scaling: this.scaling, softcap: this.softcap });
    const z = heads // [B, kv, groups*T, hd]
      .reshape([B, this.heads, T, this.headDim])
      .permute([0, 2, 1, 3]); // [B, T, heads, hd]
    const o = hooks.at('z', z).reshape([B, T, this.heads * this.headDim]);
    return hooks.at('out', this.oProj.forward(o));
  }

  /** The attention op's block as separate ops, for the hook points on its way: [B, kv, groups*T, hd]. */
  private composedAttention(stacked: Tensor, keys: Tensor, values: Tensor, mask: Tensor, hooks: HookScope): Tensor {
    const [B, , rows] = stacked.shape;
    const groups = this.heads / this.kvHeads;
    const T = rows / groups;
    const S = keys.shape[2];
    const perGroup = [B, this.kvHeads, groups, T, S];
    let scores = this.atEachHead(hooks, 'scores', mul(matmul(stacked, keys.transpose(-1, -2)), this.scaling)); // [B, kv, groups*T, S]
    if (this.softcap !== null) scores = softcap(scores, this.softcap); // c tanh(s / c)
    scores = this.atEachHead(hooks, 'capped_scores', scores);
    // added, not filled: a fully masked row (a left pad) still passes the softmax gradient to s, as in Transformers
    const masked = add(scores.reshape(perGroup), mask.unsqueeze(1)); // mask [B|1, 1, 1, T, S]: every kv head and group
    const pattern = this.atEachHead(hooks, 'pattern', softmax(masked, -1).reshape([B, this.kvHeads, groups * T, S]));
    return matmul(pattern, values);
  }

  /**
   * The hook point `name` on a [B, kv, groups*T, S] tensor, which hooks see
   * per query head, [B, heads, T, S] (the same memory); without hooks, no view is made.
   */
  private atEachHead(hooks: HookScope, name: string, stacked: Tensor): Tensor {
    if (!hooks.active) return stacked;
    const [B, , rows, S] = stacked.shape;
    const T = rows / (this.heads / this.kvHeads);
    return hooks.at(name, stacked.reshape([B, this.heads, T, S])).reshape(stacked.shape);
  }

  namedParameters(): NamedParameters {
    return [
      ...withPrefix('q_proj', this.qProj),
      ...withPrefix('k_proj', this.kProj),
      ...withPrefix('v_proj', this.vProj),
      ...withPrefix('o_proj', this.oProj),
    ];
  }
}
