// Loading streams weights into the model's own float32 storage: a sharded BF16
// checkpoint loads with a peak resident size of the float32 weights plus a
// small margin (measured in a fresh process; `npm run bench:load-memory` does
// the same at gemma-2-2b's size).

import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureLoadInChild, writeSyntheticCheckpoint } from '../../lib/bench/load-memory.ts';

test('peak RSS while loading a sharded BF16 checkpoint is the float32 weights plus a small margin', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemma2-synthetic-'));
  const config = {
    model_type: 'gemma2', architectures: ['Gemma2ForCausalLM'], vocab_size: 32000, hidden_size: 512, intermediate_size: 2048,
    num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 64, query_pre_attn_scalar: 64,
  };
  const { parameters, files } = writeSyntheticCheckpoint(dir, config, 40e6);
  expect(files).toBeGreaterThan(1);
  const m = measureLoadInChild(dir);
  expect(m.parameters).toBe(parameters);
  const above = m.peakRssBytes - m.rssBeforeBytes;
  // Allowed: 5% plus 48 MiB for the 16 MiB conversion scratch and the heap's own growth.
  // Holding a shard's bytes as well would cost +50% (BF16 is half of float32), a float copy of the largest tensor +20% here.
  const allowed = m.float32Bytes * 1.05 + 48 * 2 ** 20;
  expect(above, `peak ${above} bytes above the start for ${m.float32Bytes} bytes of float32 weights`).toBeLessThan(allowed);
  fs.rmSync(dir, { recursive: true });
}, 120_000);
