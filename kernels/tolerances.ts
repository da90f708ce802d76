// How far a float32 kernel may be from the float64 reference, per op family,
// in one place. A value passes when |actual - expected| <= atol + rtol |expected|.
//
// The numbers are set from measurement (`npm run measure:tolerances`, which
// runs every family on 300 random cases per backend with the test suite's
// value ranges: inputs uniform in [-2, 2], axes up to 129) with headroom of
// about 4x over the worst error seen. The measured worst errors are recorded
// beside each entry. Inputs are float32 values, so the reference and the
// kernel see identical inputs; only the kernel's float32 arithmetic differs.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const TOLERANCES = {
  /** Ops that only move values: gather, concat, where, masked fill, neg. Bit-exact. */
  exact: { atol: 0, rtol: 0 },
  /** One correctly rounded float32 operation: add, sub, mul, div, sqrt (<= 0.5 ulp = 2^-24 relative). */
  rounded: { atol: 0, rtol: 2 ** -23 },
  /** exp, log, tanh, pow, rsqrt, GELU: a few float32 roundings each. */
  transcendental: { atol: 1e-6, rtol: 4e-6 },
  /** Sums and means over up to ~130 terms of magnitude <= 2 (float32 accumulation). */
  reduction: { atol: 2e-5, rtol: 2e-5 },
  /** softmax, log_softmax, log-sum-exp: a reduction plus exp/log. */
  softmax: { atol: 2e-6, rtol: 2e-5 },
  /** Matrix products with K up to 129 and entries <= 2. */
  matmul: { atol: 1.5e-4, rtol: 2e-5 },
  /** RMSNorm, RoPE, cross-entropy: short fused formulas with a reduction. */
  fused: { atol: 2e-5, rtol: 2e-5 },
  /** Backward (float32 kernels) vs central differences of the float64 reference. */
  gradient: { atol: 5e-5, rtol: 5e-5 },
} as const satisfies Record<string, Tolerance>;
