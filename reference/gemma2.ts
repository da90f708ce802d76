// The whole Gemma2 forward pass as plain float64 loops: the oracle the
// tensor-library model is tested against, and the page to read beside
// GEMMA2.md (the spec of the math). One function per step, in GEMMA2.md's order:
//
//   1. embedTokens            h = embed[x] * sqrt(H)
//   2. per layer (decoderLayer):
//        rmsNorm                a = x / sqrt(mean(x^2) + eps) * (1 + w)
//        rotaryTables, rope     x' = x cos + rotate_half(x) sin
//        selfAttention          grouped-query attention, heads first (headsFirst: [B, heads, T, hd]):
//                               scores (q k^T) * query_pre_attn_scalar^-0.5,
//          softcap              s = c tanh(s / c)
//          isKeyVisible         causal, sliding-window and padding masks
//          softmax              over keys, then the weighted sum of values and o_proj
//        h = h + rmsNorm_post_attn(attention)
//        mlp (geluTanh)         h = h + rmsNorm_post_ff(down(gelu_tanh(gate a) * up a)), a = rmsNorm_pre_ff(h)
//   3. rmsNorm (final)
//   4. lmHead                 logits = h E^T (tied embedding), then softcap
//   and the heads: referenceCausalLMLoss, referenceSequenceClassification, referenceTokenClassification.
//
// Hook points: every step's output has a name (REF_HOOK_POINTS, in forward order:
// embed, layers.<i>.resid_pre .. resid_post, final_norm, logits_raw, logits), and
// RefOptions.hook sees each one as the forward computes it and may change it in
// place; the forward goes on with what the hook left there.
//
// Layout: every activation is a flat row-major Float64Array and its shape
// comment says how to index it: `// [B, T, H]` means element (b * T + t) * H + h.
// Weights keep their Hugging Face names and layouts (a Linear weight is [out, in]).
//
// Precision. Hugging Face Transformers, even when the whole model runs in
// float64 (the float64 golden cases), computes four things in float32:
//   - the rotary tables: inv_freq, the angles p * inv_freq, and cos/sin
//     (Gemma2RotaryEmbedding casts inv_freq and the positions with .float());
//   - every RMSNorm (Gemma2RMSNorm: self._norm(x.float()) * (1.0 + self.weight.float()),
//     cast back with .type_as(x); the goldens' hidden_states.L, the output of
//     the final norm, are all exactly float32-representable);
//   - the attention softmax (softmax(..., dtype=torch.float32), cast back);
//   - the causal LM loss (logits.float() before the cross-entropy).
// precision 'transformers' (the default) rounds those steps to float32 with
// Math.fround, step by step as PyTorch does; every other step is float64.
// precision 'float64' computes everything in float64: the exact math.
// What that buys, measured with PyTorch 1.13 (the goldens' version; the numbers
// and the story are in test/reference-gemma2.test.ts): 'transformers' equals
// Transformers run with those float32 steps correctly rounded to 4e-15, and
// 'float64' equals Transformers run all in float64 to 3e-13. Against the goldens
// both are ~1e-4 off on the logits (4% of the tolerance): PyTorch's float32
// cos/sin/exp are within 1 ulp but not correctly rounded and it sums in another
// order, and the tiny golden model amplifies one-ulp float32 changes ~1000x.

/**
 * The configuration fields the reference reads, in camelCase (the library's
 * parsed config has them all; declared here so the oracle imports nothing of
 * what it checks).
 */
export interface Gemma2Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  queryPreAttnScalar: number;
  slidingWindow: number;
  /** Per layer: 'sliding_attention' or 'full_attention'. */
  layerTypes: string[];
  attnLogitSoftcapping: number | null;
  finalLogitSoftcapping: number | null;
  tieWordEmbeddings: boolean;
  padTokenId: number | null;
  numLabels: number;
}

/** Weights by Hugging Face name, e.g. 'model.layers.0.self_attn.q_proj.weight' [out, in]. */
export type RefWeights = Map<string, { shape: number[]; data: Float64Array }>;

export interface RefForwardInput {
  /** [B][T] token ids; every row the same length. */
  inputIds: number[][];
  /** [B][T], 1 = token, 0 = padding (a key that is 0 is never attended to). Default: all ones. */
  attentionMask?: number[][];
  /** [B][T] positions for RoPE. Default 0..T-1 in every row (a plain forward does not derive them from the mask). */
  positionIds?: number[][];
}

/**
 * Called at a hook point with its name, its values (row-major, in the layout
 * REF_HOOK_POINTS gives) and its shape. The values are the forward's own array:
 * what the hook writes there is what the rest of the forward reads (perturb one
 * element for a finite difference, zero a head to ablate it), and the forward
 * never writes the array again after the call, so a hook may keep it.
 */
export type RefHook = (name: string, values: Float64Array, shape: number[]) => void;

export interface RefOptions {
  /**
   * 'transformers' (default): round the rotary tables, the RMSNorms, the attention
   * softmax and the loss to float32, as Transformers does even for a float64 model.
   * 'float64': everything in float64.
   */
  precision?: 'transformers' | 'float64';
  /**
   * Called at every hook point, in the order of referenceHookPointNames; the
   * causal LM adds logits_raw and logits, the classification heads fire the
   * base model's points only. Without it the forward computes the same numbers.
   */
  hook?: RefHook;
}

export interface RefModelOutput {
  /** L + 1 entries, each [B, T, H]: .0 the scaled embedding, .i the output of layer i-1, .L after the final norm. */
  hiddenStates: Float64Array[];
}

export interface RefCausalLMOutput extends RefModelOutput {
  /** [B, T, V] */
  logits: Float64Array;
}

/** The float32 masking constant, torch.finfo(torch.float32).min; see isKeyVisible. */
export const MASKED_SCORE = -3.4028234663852886e38;

// ---------------------------------------------------------------------------
// Hook points
// ---------------------------------------------------------------------------

/**
 * A hook point: its name and its shape, in the letters B batch, T positions,
 * S key slots (T: the reference has no cache), H hidden_size, I intermediate_size,
 * V vocab_size, hd head_dim. The same names, order and shapes as the library's
 * table (lib/model/hook-points.ts); stated here so that the oracle imports nothing
 * of what it checks, and test/reference-hooks.test.ts checks that the two agree.
 */
export interface RefHookPoint {
  name: string;
  shape: string;
}

export const REF_HOOK_POINTS: {
  /** Before the layers. */
  start: readonly RefHookPoint[];
  /** Every layer, as `layers.<i>.<name>`, in the order decoderLayer computes them. */
  layer: readonly RefHookPoint[];
  /** After the layers (the final norm: hidden_states.L). */
  end: readonly RefHookPoint[];
  /** The causal LM head only. */
  lmHead: readonly RefHookPoint[];
} = {
  start: [{ name: 'embed', shape: '[B, T, H]' }],
  layer: [
    { name: 'resid_pre', shape: '[B, T, H]' },
    { name: 'input_norm', shape: '[B, T, H]' },
    { name: 'attn.q', shape: '[B, heads, T, hd]' },
    { name: 'attn.k', shape: '[B, kv_heads, T, hd]' },
    { name: 'attn.v', shape: '[B, kv_heads, T, hd]' },
    { name: 'attn.scores', shape: '[B, heads, T, S]' },
    { name: 'attn.capped_scores', shape: '[B, heads, T, S]' },
    { name: 'attn.pattern', shape: '[B, heads, T, S]' },
    { name: 'attn.z', shape: '[B, T, heads, hd]' },
    { name: 'attn.out', shape: '[B, T, H]' },
    { name: 'post_attn_norm', shape: '[B, T, H]' },
    { name: 'resid_mid', shape: '[B, T, H]' },
    { name: 'pre_ff_norm', shape: '[B, T, H]' },
    { name: 'mlp.gate', shape: '[B, T, I]' },
    { name: 'mlp.up', shape: '[B, T, I]' },
    { name: 'mlp.act', shape: '[B, T, I]' },
    { name: 'mlp.gated', shape: '[B, T, I]' },
    { name: 'mlp.out', shape: '[B, T, H]' },
    { name: 'post_ff_norm', shape: '[B, T, H]' },
    { name: 'resid_post', shape: '[B, T, H]' },
  ],
  end: [{ name: 'final_norm', shape: '[B, T, H]' }],
  lmHead: [
    { name: 'logits_raw', shape: '[B, T, V]' },
    { name: 'logits', shape: '[B, T, V]' },
  ],
};

/** Every hook point name of a model with `layers` layers, in the order the forward fires them. */
export function referenceHookPointNames(layers: number, withLmHead: boolean): string[] {
  const names = REF_HOOK_POINTS.start.map((p) => p.name);
  for (let i = 0; i < layers; i++) for (const p of REF_HOOK_POINTS.layer) names.push(`layers.${i}.${p.name}`);
  names.push(...REF_HOOK_POINTS.end.map((p) => p.name));
  if (withLmHead) names.push(...REF_HOOK_POINTS.lmHead.map((p) => p.name));
  return names;
}

/** Rounds a value to the dtype a step is computed in: Math.fround for Transformers' float32 steps, or identity. */
type Round = (v: number) => number;
const float64: Round = (v) => v;

function roundingFor(options: RefOptions | undefined): Round {
  return (options?.precision ?? 'transformers') === 'transformers' ? Math.fround : float64;
}

/** The weight `name`, checked against the shape the config implies. */
function param(weights: RefWeights, name: string, shape: number[]): Float64Array {
  const w = weights.get(name);
  if (w === undefined) throw new Error(`reference gemma2: missing weight ${name}`);
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`reference gemma2: ${name} has shape [${w.shape}], expected [${shape}]`);
  }
  return w.data;
}

/** B and T of a [B][T] input, checking that every row has the same length. */
function batchShape(inputIds: number[][]): [number, number] {
  const B = inputIds.length;
  if (B === 0) throw new Error('reference gemma2: empty batch');
  const T = inputIds[0].length;
  if (T === 0) throw new Error('reference gemma2: empty sequence');
  for (const row of inputIds) if (row.length !== T) throw new Error('reference gemma2: rows of different lengths');
  return [B, T];
}

// ---------------------------------------------------------------------------
// 1. Scaled embedding: h = embed[x] * sqrt(H)
// ---------------------------------------------------------------------------

/**
 * Transformers multiplies by sqrt(hidden_size) rounded to the compute dtype
 * (torch.tensor(H ** 0.5, dtype=...)): in float64 that is Math.sqrt(H) itself.
 */
export function embedTokens(config: Gemma2Config, embed: Float64Array, inputIds: number[][]): Float64Array {
  const [B, T] = batchShape(inputIds);
  const H = config.hiddenSize;
  const V = config.vocabSize;
  const normaliser = Math.sqrt(H);
  const h = new Float64Array(B * T * H); // [B, T, H]
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = inputIds[b][t];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`reference gemma2: token id ${id} at [${b}][${t}] is outside 0..${V - 1}`);
      for (let i = 0; i < H; i++) h[(b * T + t) * H + i] = embed[id * H + i] * normaliser;
    }
  }
  return h;
}

// ---------------------------------------------------------------------------
// RMSNorm: y = x / sqrt(mean(x^2) + eps) * (1 + w)
// ---------------------------------------------------------------------------

/**
 * Over the last axis of x [rows, H]. Gemma multiplies by (1 + w), not w.
 * With f32 = Math.fround this follows Gemma2RMSNorm op by op:
 * x.float(); x.pow(2).mean(-1) + eps; rsqrt (1 / sqrt); x * that; * (1.0 + w.float()).
 */
export function rmsNorm(x: Float64Array, w: Float64Array, eps: number, f32: Round = float64): Float64Array {
  const H = w.length;
  const rows = x.length / H;
  const y = new Float64Array(x.length); // [rows, H]
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let i = 0; i < H; i++) {
      const v = f32(x[r * H + i]);
      squares += f32(v * v);
    }
    const meanSquare = f32(f32(squares) / H);
    const inverseRms = f32(1 / f32(Math.sqrt(f32(meanSquare + f32(eps)))));
    for (let i = 0; i < H; i++) y[r * H + i] = f32(f32(f32(x[r * H + i]) * inverseRms) * f32(1 + w[i]));
  }
  return y;
}

// ---------------------------------------------------------------------------
// Rotary position embedding (RoPE), rotate-half form
// ---------------------------------------------------------------------------

/**
 * cos and sin [B, T, hd] for positions [B][T]:
 *   inv_freq[j] = theta^(-2j/hd), j < hd/2;  angle = [p inv_freq, p inv_freq] (the half repeated).
 * Transformers computes all of it in float32:
 *   inv_freq = 1.0 / (theta ** (arange(0, hd, 2).float() / hd)), freqs = inv_freq.float() @ positions.float(),
 *   cos = emb.cos(), sin = emb.sin(), each a float32 result; f32 = Math.fround rounds where it rounds.
 * Checked against PyTorch 1.13: inv_freq and the angles come out bit for bit; cos/sin
 * differ in the last bit for 15 of the tiny model's 192 entries (PyTorch's float32
 * cos/sin are SLEEF's, within 1 ulp, not correctly rounded). The float32 angle is off
 * the exact p * inv_freq by up to ulp(p inv_freq) / 2, an error that grows with p.
 */
export function rotaryTables(positionIds: number[][], hd: number, theta: number, f32: Round = float64): { cos: Float64Array; sin: Float64Array } {
  const [B, T] = batchShape(positionIds);
  const half = hd / 2;
  const invFreq = new Float64Array(half); // [hd/2]
  for (let j = 0; j < half; j++) invFreq[j] = f32(1 / f32(theta ** f32((2 * j) / hd)));
  const cos = new Float64Array(B * T * hd); // [B, T, hd]
  const sin = new Float64Array(B * T * hd); // [B, T, hd]
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = f32(positionIds[b][t]);
      for (let j = 0; j < half; j++) {
        const angle = f32(p * invFreq[j]);
        const row = (b * T + t) * hd;
        cos[row + j] = cos[row + j + half] = f32(Math.cos(angle));
        sin[row + j] = sin[row + j + half] = f32(Math.sin(angle));
      }
    }
  }
  return { cos, sin };
}

/**
 * x' = x cos + rotate_half(x) sin, rotate_half([x1, x2]) = [-x2, x1] (halves, not interleaved pairs).
 * x [B, T, heads, hd]; cos, sin [B, T, hd] (shared by every head).
 */
export function rope(x: Float64Array, heads: number, hd: number, cos: Float64Array, sin: Float64Array): Float64Array {
  const half = hd / 2;
  const rows = cos.length / hd; // B * T
  const y = new Float64Array(x.length); // [B, T, heads, hd]
  for (let r = 0; r < rows; r++) {
    for (let head = 0; head < heads; head++) {
      const base = (r * heads + head) * hd;
      for (let d = 0; d < hd; d++) {
        const rotated = d < half ? -x[base + d + half] : x[base + d - half];
        y[base + d] = x[base + d] * cos[r * hd + d] + rotated * sin[r * hd + d];
      }
    }
  }
  return y;
}

// ---------------------------------------------------------------------------
// Attention
// ---------------------------------------------------------------------------

/** y = x W^T (+ bias): x [rows, in], W [out, in] -> y [rows, out]. */
export function linear(x: Float64Array, w: Float64Array, outFeatures: number, bias?: Float64Array): Float64Array {
  const inFeatures = w.length / outFeatures;
  const rows = x.length / inFeatures;
  const y = new Float64Array(rows * outFeatures); // [rows, out]
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let total = 0;
      for (let i = 0; i < inFeatures; i++) total += x[r * inFeatures + i] * w[o * inFeatures + i];
      y[r * outFeatures + o] = bias ? total + bias[o] : total;
    }
  }
  return y;
}

/** Soft capping: c tanh(s / c), computed as Transformers does (divide, tanh, multiply). */
export function softcap(s: number, c: number): number {
  return Math.tanh(s / c) * c;
}

/**
 * Whether query q may attend to key k (sequence indices 0..T-1 in a plain forward):
 *   causal:          k <= q
 *   sliding layers:  k > q - sliding_window (the window holds sliding_window positions, q included)
 *   padding:         attention_mask[b][k] != 0.
 * Transformers adds torch.finfo(dtype).min to a hidden score rather than -infinity
 * (MASKED_SCORE, the float32 one: a float64 model's float64 minimum becomes -inf once
 * the softmax casts to float32, which is the same for any row that sees a key). So a
 * query that sees no key at all (a left-padding position) gets equal scores for all
 * T keys and averages every value instead of producing NaN. (In float64 Transformers
 * it is NaN; the goldens with padding are float32 runs for that reason.)
 */
export function isKeyVisible(config: Gemma2Config, sliding: boolean, attentionMask: number[][] | undefined, b: number, q: number, k: number): boolean {
  if (k > q) return false;
  if (sliding && k <= q - config.slidingWindow) return false;
  if (attentionMask !== undefined && attentionMask[b][k] === 0) return false;
  return true;
}

/**
 * softmax(s)_k = exp(s_k - max) / sum_j exp(s_j - max), in place over one row of scores.
 * With f32 = Math.fround it follows PyTorch's float32 CPU kernel: cast the scores to float32,
 * e_k = exp(s_k - max), then e_k * (1 / sum e).
 */
export function softmax(scores: Float64Array, f32: Round = float64): void {
  let max = -Infinity;
  for (let k = 0; k < scores.length; k++) {
    scores[k] = f32(scores[k]);
    if (scores[k] > max) max = scores[k];
  }
  let sum = 0;
  for (let k = 0; k < scores.length; k++) {
    scores[k] = f32(Math.exp(f32(scores[k] - max)));
    sum += scores[k];
  }
  const inverse = f32(1 / f32(sum));
  for (let k = 0; k < scores.length; k++) scores[k] = f32(scores[k] * inverse);
}

/** [B, T, heads, hd] -> [B, heads, T, hd]: Transformers' view(B, T, heads, hd).transpose(1, 2). */
export function headsFirst(x: Float64Array, B: number, T: number, heads: number, hd: number): Float64Array {
  const y = new Float64Array(x.length); // [B, heads, T, hd]
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < heads; n++) {
        const from = ((b * T + t) * heads + n) * hd;
        y.set(x.subarray(from, from + hd), ((b * heads + n) * T + t) * hd);
      }
    }
  }
  return y;
}

/**
 * Self-attention of one layer on a = input_layernorm(h) [B, T, H]; returns z Wo^T [B, T, H].
 * In stages, each a whole tensor and a hook point (names relative to the layer):
 *   attn.q, attn.k, attn.v   a Wq^T, a Wk^T, a Wv^T split into heads of hd, RoPE on q and k
 *   attn.scores              s = (q . k) * query_pre_attn_scalar^-0.5; query head n uses
 *                            key/value head floor(n / (heads / kv_heads)) (grouped-query attention)
 *   attn.capped_scores       c tanh(s / c) (a copy of s without a cap)
 *   attn.pattern             p = softmax(capped + mask) over keys
 *   attn.z                   z = sum_k p_k v_k, each head's output
 *   attn.out                 z Wo^T
 */
export function selfAttention(
  config: Gemma2Config,
  weights: RefWeights,
  layer: number,
  a: Float64Array,
  B: number,
  T: number,
  cos: Float64Array,
  sin: Float64Array,
  attentionMask: number[][] | undefined,
  f32: Round = float64,
  hook?: RefHook,
): Float64Array {
  const H = config.hiddenSize;
  const heads = config.numAttentionHeads;
  const kvHeads = config.numKeyValueHeads;
  const hd = config.headDim;
  const group = heads / kvHeads;
  const prefix = `model.layers.${layer}.self_attn`;
  const sliding = config.layerTypes[layer] === 'sliding_attention';

  // Projections, RoPE (on [B, T, heads, hd]), then heads first.
  const q = headsFirst(rope(linear(a, param(weights, `${prefix}.q_proj.weight`, [heads * hd, H]), heads * hd), heads, hd, cos, sin), B, T, heads, hd); // [B, heads, T, hd]
  hook?.('attn.q', q, [B, heads, T, hd]);
  const k = headsFirst(rope(linear(a, param(weights, `${prefix}.k_proj.weight`, [kvHeads * hd, H]), kvHeads * hd), kvHeads, hd, cos, sin), B, T, kvHeads, hd); // [B, kv, T, hd]
  hook?.('attn.k', k, [B, kvHeads, T, hd]);
  const v = headsFirst(linear(a, param(weights, `${prefix}.v_proj.weight`, [kvHeads * hd, H]), kvHeads * hd), B, T, kvHeads, hd); // [B, kv, T, hd]
  hook?.('attn.v', v, [B, kvHeads, T, hd]);

  // s = (q k^T) * query_pre_attn_scalar^-0.5
  const scale = config.queryPreAttnScalar ** -0.5;
  const scores = new Float64Array(B * heads * T * T); // [B, heads, T, S]
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < heads; n++) {
      const g = Math.floor(n / group); // its key/value head
      for (let qi = 0; qi < T; qi++) {
        const qBase = ((b * heads + n) * T + qi) * hd;
        for (let ki = 0; ki < T; ki++) {
          const kBase = ((b * kvHeads + g) * T + ki) * hd;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qBase + d] * k[kBase + d];
          scores[((b * heads + n) * T + qi) * T + ki] = dot * scale;
        }
      }
    }
  }
  hook?.('attn.scores', scores, [B, heads, T, T]);

  // c tanh(s / c)
  const cap = config.attnLogitSoftcapping;
  const capped = new Float64Array(scores.length); // [B, heads, T, S]
  for (let i = 0; i < scores.length; i++) capped[i] = cap === null ? scores[i] : softcap(scores[i], cap);
  hook?.('attn.capped_scores', capped, [B, heads, T, T]);

  // p = softmax(capped + mask), one row of keys per query
  const pattern = new Float64Array(capped.length); // [B, heads, T, S]
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < heads; n++) {
      for (let qi = 0; qi < T; qi++) {
        const row = ((b * heads + n) * T + qi) * T;
        for (let ki = 0; ki < T; ki++) pattern[row + ki] = capped[row + ki] + (isKeyVisible(config, sliding, attentionMask, b, qi, ki) ? 0 : MASKED_SCORE);
        softmax(pattern.subarray(row, row + T), f32);
      }
    }
  }
  hook?.('attn.pattern', pattern, [B, heads, T, T]);

  // z = p v, back to positions first for o_proj
  const z = new Float64Array(B * T * heads * hd); // [B, T, heads, hd]
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < heads; n++) {
      const g = Math.floor(n / group);
      for (let qi = 0; qi < T; qi++) {
        const row = ((b * heads + n) * T + qi) * T;
        for (let d = 0; d < hd; d++) {
          let total = 0;
          for (let ki = 0; ki < T; ki++) total += pattern[row + ki] * v[((b * kvHeads + g) * T + ki) * hd + d];
          z[((b * T + qi) * heads + n) * hd + d] = total;
        }
      }
    }
  }
  hook?.('attn.z', z, [B, T, heads, hd]);

  const out = linear(z, param(weights, `${prefix}.o_proj.weight`, [H, heads * hd]), H); // [B, T, H]
  hook?.('attn.out', out, [B, T, H]);
  return out;
}

// ---------------------------------------------------------------------------
// MLP: down( gelu_tanh(gate(a)) * up(a) )
// ---------------------------------------------------------------------------

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * The GeGLU MLP on a [B, T, H]: down(gelu_tanh(a Wgate^T) * (a Wup^T)) [B, T, H].
 * Hook points (relative to the layer): mlp.gate, mlp.up, mlp.act, mlp.gated (down's input), mlp.out.
 */
export function mlp(
  config: Gemma2Config,
  weights: RefWeights,
  layer: number,
  a: Float64Array,
  B = 1,
  T = a.length / (B * config.hiddenSize),
  hook?: RefHook,
): Float64Array {
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const prefix = `model.layers.${layer}.mlp`;
  const gate = linear(a, param(weights, `${prefix}.gate_proj.weight`, [I, H]), I); // [B, T, I]
  hook?.('mlp.gate', gate, [B, T, I]);
  const up = linear(a, param(weights, `${prefix}.up_proj.weight`, [I, H]), I); // [B, T, I]
  hook?.('mlp.up', up, [B, T, I]);
  const act = new Float64Array(gate.length); // [B, T, I]
  for (let i = 0; i < gate.length; i++) act[i] = geluTanh(gate[i]);
  hook?.('mlp.act', act, [B, T, I]);
  const gated = new Float64Array(gate.length); // [B, T, I]
  for (let i = 0; i < gate.length; i++) gated[i] = act[i] * up[i];
  hook?.('mlp.gated', gated, [B, T, I]);
  const out = linear(gated, param(weights, `${prefix}.down_proj.weight`, [H, I]), H); // [B, T, H]
  hook?.('mlp.out', out, [B, T, H]);
  return out;
}

// ---------------------------------------------------------------------------
// 2. One decoder layer
// ---------------------------------------------------------------------------

/**
 *   h = h + RMSNorm_post_attn( attention( RMSNorm_in(h) ) )
 *   h = h + RMSNorm_post_ff( MLP( RMSNorm_pre_ff(h) ) )
 * The hook sees names relative to the layer (resid_pre, input_norm, attn.q, ...).
 */
export function decoderLayer(
  config: Gemma2Config,
  weights: RefWeights,
  layer: number,
  h: Float64Array,
  B: number,
  T: number,
  cos: Float64Array,
  sin: Float64Array,
  attentionMask: number[][] | undefined,
  f32: Round = float64,
  hook?: RefHook,
): Float64Array {
  const H = config.hiddenSize;
  const eps = config.rmsNormEps;
  const norm = (name: string) => param(weights, `model.layers.${layer}.${name}.weight`, [H]);

  // The hook gets its own copy of the incoming h, so that what it writes reaches
  // this layer but leaves the previous layer's output (its resid_post) as it was.
  const h0 = hook ? h.slice() : h; // [B, T, H]
  hook?.('resid_pre', h0, [B, T, H]);
  const a = rmsNorm(h0, norm('input_layernorm'), eps, f32); // [B, T, H]
  hook?.('input_norm', a, [B, T, H]);
  const attention = selfAttention(config, weights, layer, a, B, T, cos, sin, attentionMask, f32, hook); // [B, T, H]
  const attentionOut = rmsNorm(attention, norm('post_attention_layernorm'), eps, f32); // [B, T, H]
  hook?.('post_attn_norm', attentionOut, [B, T, H]);
  const h1 = new Float64Array(h0.length); // [B, T, H]
  for (let i = 0; i < h0.length; i++) h1[i] = h0[i] + attentionOut[i];
  hook?.('resid_mid', h1, [B, T, H]);

  const m = rmsNorm(h1, norm('pre_feedforward_layernorm'), eps, f32); // [B, T, H]
  hook?.('pre_ff_norm', m, [B, T, H]);
  const mlpOut = rmsNorm(mlp(config, weights, layer, m, B, T, hook), norm('post_feedforward_layernorm'), eps, f32); // [B, T, H]
  hook?.('post_ff_norm', mlpOut, [B, T, H]);
  const h2 = new Float64Array(h0.length); // [B, T, H]
  for (let i = 0; i < h0.length; i++) h2[i] = h1[i] + mlpOut[i];
  hook?.('resid_post', h2, [B, T, H]);
  return h2;
}

// ---------------------------------------------------------------------------
// The model: embedding, layers, final norm (Gemma2Model)
// ---------------------------------------------------------------------------

/**
 * Gemma2Model: hidden_states.0 .. .L (the last after the final norm: last_hidden_state).
 * options.hook fires embed, every layer's points as layers.<i>.<name>, final_norm;
 * each hidden state is the value its hook point (embed, resid_post, final_norm) left.
 */
export function referenceGemma2Model(config: Gemma2Config, weights: RefWeights, input: RefForwardInput, options?: RefOptions): RefModelOutput {
  const f32 = roundingFor(options);
  const [B, T] = batchShape(input.inputIds);
  const H = config.hiddenSize;
  for (const [what, rows] of [['attentionMask', input.attentionMask], ['positionIds', input.positionIds]] as const) {
    if (rows !== undefined && (rows.length !== B || rows.some((row) => row.length !== T))) {
      throw new Error(`reference gemma2: ${what} must be [${B}][${T}] like inputIds`);
    }
  }
  const positionIds = input.positionIds ?? Array.from({ length: B }, () => Array.from({ length: T }, (_, t) => t));
  const { cos, sin } = rotaryTables(positionIds, config.headDim, config.ropeTheta, f32); // [B, T, hd] each

  const hook = options?.hook;
  let h = embedTokens(config, param(weights, 'model.embed_tokens.weight', [config.vocabSize, H]), input.inputIds); // [B, T, H]
  hook?.('embed', h, [B, T, H]);
  const hiddenStates = [h];
  for (let layer = 0; layer < config.numHiddenLayers; layer++) {
    const layerHook: RefHook | undefined = hook && ((name, values, shape) => hook(`layers.${layer}.${name}`, values, shape));
    h = decoderLayer(config, weights, layer, h, B, T, cos, sin, input.attentionMask, f32, layerHook);
    if (layer < config.numHiddenLayers - 1) hiddenStates.push(h);
  }
  // 3. Final norm; Transformers reports it in place of the last layer's raw output.
  const final = rmsNorm(h, param(weights, 'model.norm.weight', [H]), config.rmsNormEps, f32); // [B, T, H]
  hook?.('final_norm', final, [B, T, H]);
  hiddenStates.push(final);
  return { hiddenStates };
}

// ---------------------------------------------------------------------------
// 4. Causal LM head: logits = h E^T, then c tanh(logits / c)
// ---------------------------------------------------------------------------

/**
 * The LM head on the final hidden states [B, T, H]: tied to the embedding unless the config unties it.
 * Hook points logits_raw (h E^T) and logits (softcapped; a copy of logits_raw without a cap).
 */
export function lmHead(
  config: Gemma2Config,
  weights: RefWeights,
  h: Float64Array,
  B = 1,
  T = h.length / (B * config.hiddenSize),
  hook?: RefHook,
): Float64Array {
  const V = config.vocabSize;
  const H = config.hiddenSize;
  const name = config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const raw = linear(h, param(weights, name, [V, H]), V); // [B, T, V]
  hook?.('logits_raw', raw, [B, T, V]);
  const cap = config.finalLogitSoftcapping;
  const logits = new Float64Array(raw.length); // [B, T, V]
  for (let i = 0; i < raw.length; i++) logits[i] = cap === null ? raw[i] : softcap(raw[i], cap);
  hook?.('logits', logits, [B, T, V]);
  return logits;
}

/** Gemma2ForCausalLM: the hidden states and the logits [B, T, V]; options.hook fires the model's points, then logits_raw and logits. */
export function referenceGemma2(config: Gemma2Config, weights: RefWeights, input: RefForwardInput, options?: RefOptions): RefCausalLMOutput {
  const [B, T] = batchShape(input.inputIds);
  const { hiddenStates } = referenceGemma2Model(config, weights, input, options);
  return { hiddenStates, logits: lmHead(config, weights, hiddenStates[config.numHiddenLayers], B, T, options?.hook) };
}

/**
 * Causal LM loss: the logits at position t predict labels[t + 1] (shift by one),
 * cross-entropy, labels equal to -100 ignored, mean over the counted tokens
 * (NaN when none is counted, as PyTorch). logits [B, T, V], labels [B][T].
 * 'transformers' precision rounds the logits to float32 first (logits.float()).
 */
export function referenceCausalLMLoss(logits: Float64Array, vocab: number, labels: number[][], options?: RefOptions): number {
  const f32 = roundingFor(options);
  const [B, T] = batchShape(labels);
  if (logits.length !== B * T * vocab) throw new Error(`reference gemma2: logits hold ${logits.length} values, expected ${B}x${T}x${vocab}`);
  let total = 0;
  let counted = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const label = labels[b][t + 1];
      if (label === -100) continue;
      if (!Number.isInteger(label) || label < 0 || label >= vocab) throw new Error(`reference gemma2: label ${label} outside 0..${vocab - 1}`);
      const row = (b * T + t) * vocab;
      let max = -Infinity;
      for (let c = 0; c < vocab; c++) max = Math.max(max, f32(logits[row + c]));
      let sum = 0;
      for (let c = 0; c < vocab; c++) sum += Math.exp(f32(logits[row + c]) - max);
      total += max + Math.log(sum) - f32(logits[row + label]); // log(sum_c exp(z_c)) - z_label
      counted++;
    }
  }
  return f32(total / counted);
}

// ---------------------------------------------------------------------------
// Classification heads
// ---------------------------------------------------------------------------

/**
 * Gemma2ForSequenceClassification: `score` (Linear(H, num_labels), no bias) on the final
 * hidden state of the last non-padding token of each row (padding = pad_token_id; without
 * a pad id, the last position; a row of pads only, position 0, as newer Transformers).
 * Returns logits [B, num_labels] and the pooled position of each row.
 */
export function referenceSequenceClassification(
  config: Gemma2Config,
  weights: RefWeights,
  input: RefForwardInput,
  options?: RefOptions,
): { logits: Float64Array; pooled: number[] } {
  const [B, T] = batchShape(input.inputIds);
  const H = config.hiddenSize;
  const N = config.numLabels;
  const h = referenceGemma2Model(config, weights, input, options).hiddenStates[config.numHiddenLayers]; // [B, T, H]
  const score = param(weights, 'score.weight', [N, H]);
  const pooled = input.inputIds.map((row) => {
    if (config.padTokenId === null) return T - 1;
    for (let t = T - 1; t >= 0; t--) if (row[t] !== config.padTokenId) return t;
    return 0;
  });
  const logits = new Float64Array(B * N); // [B, N]
  for (let b = 0; b < B; b++) {
    const last = h.subarray((b * T + pooled[b]) * H, (b * T + pooled[b] + 1) * H); // [H]
    logits.set(linear(last, score, N), b * N);
  }
  return { logits, pooled };
}

/** Gemma2ForTokenClassification: `score` (Linear(H, num_labels) with bias) on every position: logits [B, T, num_labels]. */
export function referenceTokenClassification(config: Gemma2Config, weights: RefWeights, input: RefForwardInput, options?: RefOptions): Float64Array {
  const H = config.hiddenSize;
  const N = config.numLabels;
  const h = referenceGemma2Model(config, weights, input, options).hiddenStates[config.numHiddenLayers]; // [B, T, H]
  return linear(h, param(weights, 'score.weight', [N, H]), N, param(weights, 'score.bias', [N])); // [B, T, N]
}
