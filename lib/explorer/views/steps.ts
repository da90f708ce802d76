// The forward pass as a list of steps: one per hook point, in the order the
// model fires them (hook-points.ts), each with the GEMMA2.md formula it
// computes. The formulas restate GEMMA2.md ("Forward pass", "Masks and
// positions", "Heads and loss") in one line per step; hook-points.ts names the
// numbered step of each point, which the panel shows beside the formula.

import { hookPointNames, hookPointOrder, hookPointSpec, type HookPointSpec } from '../../model/hook-points.ts';

export interface ForwardStep {
  /** The full hook point name (`layers.1.attn.pattern`). */
  point: string;
  /** The layer it belongs to, or null before and after the layers. */
  layer: number | null;
  spec: HookPointSpec;
  /** The formula of this step, in GEMMA2.md's notation. */
  formula: string;
  /** The GEMMA2.md section the formula comes from. */
  section: string;
}

const FORWARD = 'Forward pass';

/** The formula and GEMMA2.md section of each point (per-layer points by their name inside the layer). */
const FORMULAS: Readonly<Record<string, { formula: string; section: string }>> = {
  embed: { formula: 'h = embed[x] * sqrt(H)   (sqrt(H) rounded to the compute dtype first)', section: FORWARD },
  resid_pre: { formula: 'h   (the residual stream entering layer i)', section: FORWARD },
  input_norm: { formula: 'a = RMSNorm_in(h) = h / sqrt(mean(h^2) + eps) * (1 + w)', section: FORWARD },
  'attn.q': { formula: "q = RoPE(a Wq^T),  x' = x cos + rotate_half(x) sin,  inv_freq[j] = theta^(-2j/hd)", section: FORWARD },
  'attn.k': { formula: "k = RoPE(a Wk^T)   (kv_heads heads; each serves heads/kv_heads query heads)", section: FORWARD },
  'attn.v': { formula: 'v = a Wv^T', section: FORWARD },
  'attn.scores': { formula: 's = (q k^T) * query_pre_attn_scalar^-0.5', section: FORWARD },
  'attn.capped_scores': { formula: 's = c tanh(s / c),  c = attn_logit_softcapping', section: FORWARD },
  'attn.pattern': { formula: 'p = softmax(s + M) over keys;  M = finfo.min where k > p (causal) or, on sliding layers, k <= p - sliding_window', section: 'Forward pass; Masks and positions' },
  'attn.z': { formula: 'o = p v   (per head)', section: FORWARD },
  'attn.out': { formula: 'o Wo^T', section: FORWARD },
  post_attn_norm: { formula: 'RMSNorm_post_attn(o Wo^T)', section: FORWARD },
  resid_mid: { formula: 'h = h + RMSNorm_post_attn(o Wo^T)', section: FORWARD },
  pre_ff_norm: { formula: 'm = RMSNorm_pre_ff(h)', section: FORWARD },
  'mlp.gate': { formula: 'gate(m) = m Wgate^T', section: FORWARD },
  'mlp.up': { formula: 'up(m) = m Wup^T', section: FORWARD },
  'mlp.act': { formula: 'gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),  x = gate(m)', section: FORWARD },
  'mlp.gated': { formula: 'gelu_tanh(gate(m)) * up(m)', section: FORWARD },
  'mlp.out': { formula: 'MLP(m) = down(gelu_tanh(gate(m)) * up(m))', section: FORWARD },
  post_ff_norm: { formula: 'RMSNorm_post_ff(MLP(m))', section: FORWARD },
  resid_post: { formula: 'h = h + RMSNorm_post_ff(MLP(RMSNorm_pre_ff(h)))', section: FORWARD },
  final_norm: { formula: 'h = RMSNorm_final(h)', section: FORWARD },
  logits_raw: { formula: 'logits = h E^T   (E the embedding when tied, else lm_head.weight)', section: FORWARD },
  logits: { formula: 'logits = c tanh(logits / c),  c = final_logit_softcapping', section: 'Forward pass; Heads and loss' },
};

/** The formula entry of a full point name; throws naming a point this table lacks. */
export function formulaOf(point: string): { formula: string; section: string } {
  const local = /^layers\.\d+\.(.+)$/.exec(point)?.[1] ?? point;
  const entry = FORMULAS[local];
  if (entry === undefined) throw new Error(`explorer: no GEMMA2.md formula for hook point "${point}"`);
  return entry;
}

/** Every step of a causal LM with `layers` decoder layers, in forward order. */
export function forwardSteps(layers: number): ForwardStep[] {
  return hookPointNames(layers, true).map((point) => {
    const spec = hookPointSpec(point)!; // hookPointNames and hookPointSpec read the same table
    const layer = /^layers\.(\d+)\./.exec(point);
    return { point, layer: layer === null ? null : Number(layer[1]), spec, ...formulaOf(point) };
  });
}

/** Sorts point names into forward order (hookPointOrder), for a cache whose map order is not trusted. */
export function inForwardOrder(points: Iterable<string>): string[] {
  return [...points].sort((a, b) => hookPointOrder(a) - hookPointOrder(b));
}
