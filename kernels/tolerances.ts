// How far a float32 kernel may be from the float64 reference, per op family,
// in one place. A value passes when |actual - expected| <= atol + rtol |expected|.
//
// Inputs are float32 values, so the reference and the kernel see identical
// inputs; only the kernel's float32 arithmetic differs. The numbers are set
// from measurement: `npm run measure:tolerances` runs every family on 300
// random cases per backend with the test suite's ranges (inputs uniform in
// [-2, 2] unless an op needs a positive domain, axes up to 129). Beside each
// entry: the worst |error| seen and the worst error / allowed ratio, on webasm
// (float32 accumulation; since the CPU path (kernels/backend.ts, kernels/registry.ts), its SIMD
// polynomial exp/tanh and host loops) and cpu (GPU.js computes in float64 and
// rounds the result), measured 2026-12-04 on the 2-core development machine,
// after sums moved to the cascade order of kernels/sum-order.ts.
// Entries keep a ratio of 0.25 or less (4x headroom) except where the bound
// is exact theory.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const TOLERANCES = {
  /** Ops that only move values: gather, concat, where, masked fill, neg. Bit-exact. */
  exact: { atol: 0, rtol: 0 },
  /**
   * One correctly rounded float32 operation: add, sub, mul, div, sqrt. IEEE
   * rounding gives at most 0.5 ulp = 2^-24 relative; we allow 2^-23.
   * Measured: worst 1.19e-7, ratio 0.50 on both backends (the theoretical bound).
   */
  rounded: { atol: 0, rtol: 2 ** -23 },
  /**
   * exp, log, tanh, pow, rsqrt, GELU, softcap: a few float32 roundings each.
   * Measured: worst 3.2e-6, ratio 0.068 (webasm: the SIMD polynomials of
   * kernels/wasm/vector-math.ts, about 1-2 ulp), 0.014 (cpu).
   */
  transcendental: { atol: 1e-6, rtol: 4e-6 },
  /**
   * Sums and means over up to ~130 terms of magnitude <= 2 (float32 accumulation).
   * Measured: worst 5.7e-6, ratio 0.079 (webasm; in order before the cascade:
   * 1.28e-5, 0.063); 1.6e-6, 0.003 (cpu).
   */
  reduction: { atol: 2e-5, rtol: 2e-5 },
  /**
   * softmax, log_softmax, log-sum-exp: a reduction plus exp/log, inputs in [-8, 8].
   * Measured: worst 1.58e-6, ratio 0.036 (webasm); 1.55e-6, 0.005 (cpu).
   */
  softmax: { atol: 2e-6, rtol: 2e-5 },
  /**
   * Matrix products with M, K, N from {1, 3, 17, 129}, entries in [-2, 2].
   * Measured: worst 1.26e-5, worst ratio 0.14 (webasm; summed in order before
   * the cascade: 3.6e-5, 0.22); 3.6e-6, 0.003 (cpu).
   */
  matmul: { atol: 4e-5, rtol: 2e-5 },
  /**
   * RMSNorm, RoPE, cross-entropy: short fused formulas with a reduction.
   * Measured: worst 1.2e-6, ratio 0.013 (webasm), 0.012 (cpu).
   */
  fused: { atol: 2e-5, rtol: 2e-5 },
  /**
   * Backward (float32 kernels) vs central differences (h = 1e-6) of the
   * float64 reference. Measured: worst 5.3e-6, ratio 0.093 (cpu), 0.027 (webasm).
   */
  gradient: { atol: 5e-5, rtol: 5e-5 },
} as const satisfies Record<string, Tolerance>;
