// Where the golden files are (golden/, copied from ../shared/golden), and the
// weight names and shapes a Gemma2 config.json implies (GEMMA2.md, "Weights").
// A missing golden file fails the tests that need it; nothing is skipped.

import { fileURLToPath } from 'node:url';
import { parseGemma2Config } from '../lib/model/config.ts';
import { causalLMWeightShapes } from '../lib/model/weight-shapes.ts';

export function goldenPath(relative: string): string {
  return fileURLToPath(new URL(`../golden/${relative}`, import.meta.url));
}

/** Every weight of a Gemma2ForCausalLM (tied head: no lm_head.weight) with its shape, from a parsed config.json. */
export function expectedGemma2Shapes(config: Record<string, unknown>): Map<string, number[]> {
  return new Map(causalLMWeightShapes(parseGemma2Config(config)));
}
