// The model files' texts, bundled by Vite (`?raw`), for the source panel
// (source-lines.ts searches them). Browser only: Node tests read the files with fs.

import gemma2ModelSource from '../../model/gemma2-model.ts?raw';
import decoderLayerSource from '../../model/decoder-layer.ts?raw';
import attentionSource from '../../model/attention.ts?raw';
import mlpSource from '../../model/mlp.ts?raw';
import causalLmSource from '../../model/causal-lm.ts?raw';
import type { PointSource } from './source-lines.ts';

export const MODEL_SOURCES: Readonly<Record<PointSource['file'], string>> = {
  'gemma2-model.ts': gemma2ModelSource,
  'decoder-layer.ts': decoderLayerSource,
  'attention.ts': attentionSource,
  'mlp.ts': mlpSource,
  'causal-lm.ts': causalLmSource,
};
