// The tiny golden model (4 layers, sliding window 8, vocab 256) the explorer's
// tests run, loaded once per test file.

import { Gemma2ForCausalLM } from '../../lib/model/causal-lm.ts';
import { goldenPath } from '../golden-files.ts';

export function loadTinyModel(): Gemma2ForCausalLM {
  return Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'), { weightDtype: 'float32' });
}

/** A prompt longer than the sliding window (8), so sliding layers mask and the ring wraps. */
export const PROMPT = [2, 17, 40, 5, 99, 3, 201, 64, 12, 7, 33];
