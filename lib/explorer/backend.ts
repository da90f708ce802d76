// The page's backends: the three ways kernels/backend.ts can run in a browser,
// as the page offers them.
//
//   webgl2     GPU.js's GPU kernels on WebGL2 (the GPU, or SwiftShader)
//   cpu-path   the CPU path: WebAssembly SIMD kernels over shared memory, on the
//              webasm backend; needs a cross-origin-isolated page (COOP/COEP)
//   gpujs-cpu  GPU.js's cpu mode: the kernels as plain JavaScript loops
//
// The automatic choice follows the issue: WebGL2 where the browser has it, the
// CPU path where the page is isolated, GPU.js cpu otherwise.

import { BackendError, availableBackends, cpuPathUnavailableReason, setBackend, setComputePath } from '../../kernels/backend.ts';

export const PAGE_BACKENDS = ['webgl2', 'cpu-path', 'gpujs-cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export const PAGE_BACKEND_LABELS: Record<PageBackend, string> = {
  webgl2: 'GPU.js on WebGL2',
  'cpu-path': 'CPU path (WebAssembly SIMD)',
  'gpujs-cpu': 'GPU.js cpu (JavaScript)',
};

export function isPageBackend(name: string): name is PageBackend {
  return (PAGE_BACKENDS as readonly string[]).includes(name);
}

/** Why `name` cannot run in this page, or null when it can. */
export function unavailableReason(name: PageBackend): string | null {
  switch (name) {
    case 'webgl2':
      return availableBackends().includes('webgl2') ? null : 'this browser gives the page no WebGL2 context';
    case 'cpu-path':
      if (!availableBackends().includes('webasm')) return 'this browser has no WebAssembly';
      return cpuPathUnavailableReason();
    case 'gpujs-cpu':
      return null;
  }
}

/** The backend the page starts on: WebGL2, else the CPU path, else GPU.js cpu. */
export function automaticBackend(): PageBackend {
  return PAGE_BACKENDS.find((name) => unavailableReason(name) === null) ?? 'gpujs-cpu';
}

/** Makes every following kernel launch run on `name`; an unavailable one is an error naming why. */
export function useBackend(name: PageBackend): void {
  const problem = unavailableReason(name);
  if (problem !== null) throw new BackendError(`${PAGE_BACKEND_LABELS[name]} cannot run here: ${problem}`);
  switch (name) {
    case 'webgl2':
      setBackend('webgl2');
      break;
    case 'cpu-path':
      setBackend('webasm');
      setComputePath('cpu');
      break;
    case 'gpujs-cpu':
      setBackend('cpu');
      break;
  }
}
