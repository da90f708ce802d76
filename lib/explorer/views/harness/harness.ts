// A page to see the views without the explorer's shell (lib/explorer/main.ts):
// it fetches the tiny golden model and mounts the views on GPU.js's cpu mode.
//   npx vite lib/explorer/views/harness --port <port>

import configUrl from '../../../../golden/models/tiny/config.json?url';
import weightsUrl from '../../../../golden/models/tiny/model.safetensors?url';
import { setBackend } from '../../../../kernels/backend.ts';
import { MemoryModelFolder } from '../../../io/memory-folder.ts';
import { Gemma2ForCausalLM } from '../../../model/causal-lm.ts';
import { mountExplorer } from '../explorer.ts';

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`harness: ${url} answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function main(): Promise<void> {
  const status = document.getElementById('status')!;
  try {
    setBackend('cpu');
    const folder = new MemoryModelFolder({ 'config.json': await fetchBytes(configUrl), 'model.safetensors': await fetchBytes(weightsUrl) }, 'golden/models/tiny');
    const model = Gemma2ForCausalLM.fromPretrained(folder, { weightDtype: 'float32' });
    status.textContent = 'golden/models/tiny on GPU.js cpu';
    mountExplorer(document.getElementById('explorer')!, { model, tokenizer: null, backendName: 'GPU.js cpu' });
  } catch (error) {
    status.textContent = `harness: ${error instanceof Error ? error.message : String(error)}`;
  }
}

void main();
