// The explorer page, built with Vite (`npm run explore`, `explore:build`, `explore:preview`).
//
// - Cross-origin isolation: the dev and preview servers send COOP/COEP, so the
//   page has SharedArrayBuffer and the CPU path (kernels/wasm/: WebAssembly SIMD
//   over shared memory) can run there.
// - gpu.js: its package.json "browser" field names dist/gpu-browser.js (a UMD
//   bundle); Vite resolves it through that field and pre-bundles it as CommonJS,
//   so `import gpujs from 'gpu.js'` in kernels/backend.ts gets module.exports.
// - The golden models and cases (golden/) and the addition checkpoint
//   (lib/explorer/assets/) are served under /golden/ and /assets/models/ in
//   dev, and copied into the static build: the build needs no server code.
// - lib/golden's model store and manifest reader import node:path, node:fs,
//   node:v8 and node:vm for their Node-only helpers (a models directory, memory
//   reclaim), which the page never calls: Vite replaces those modules with
//   empty browser stubs and says so while building.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const goldenDir = path.join(root, 'golden');

/** COOP + COEP: the page is cross-origin isolated (crossOriginIsolated, SharedArrayBuffer). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** What of golden/ the page reads: the manifests, the case files, the model folders. */
const GOLDEN_ENTRIES = ['MANIFEST.json', 'project/MANIFEST.json', 'cases', 'project/cases', 'models'];

function isGoldenFile(relative: string): boolean {
  return GOLDEN_ENTRIES.some((entry) => relative === entry || relative.startsWith(`${entry}/`));
}

/** Serves golden/ under /golden/ in dev, and copies it into the build. */
function goldenFiles(): Plugin {
  let outDir = '';
  return {
    name: 'gemma2-golden-files',
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use('/golden/', (request, response, next) => {
        const relative = decodeURIComponent((request.url ?? '').split('?')[0]).replace(/^\/+/, '');
        const file = path.join(goldenDir, relative);
        if (!isGoldenFile(relative) || !file.startsWith(goldenDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return next();
        response.setHeader('Content-Type', file.endsWith('.json') ? 'application/json' : 'application/octet-stream');
        for (const [name, value] of Object.entries(ISOLATION_HEADERS)) response.setHeader(name, value);
        fs.createReadStream(file).pipe(response);
      });
    },
    closeBundle() {
      for (const entry of GOLDEN_ENTRIES) {
        fs.cpSync(path.join(goldenDir, entry), path.join(outDir, 'golden', entry), { recursive: true });
      }
    },
  };
}

export default defineConfig({
  root: here,
  // assets/ holds the addition checkpoint: served at /models/ and copied as is
  publicDir: path.join(here, 'assets'),
  base: './',
  plugins: [goldenFiles()],
  // the pre-bundled gpu.js goes under out/ (gitignored), not into node_modules (which may be shared between checkouts)
  cacheDir: path.join(root, 'out', 'vite-cache'),
  server: { headers: ISOLATION_HEADERS, fs: { allow: [root] } },
  preview: { headers: ISOLATION_HEADERS },
  optimizeDeps: { include: ['gpu.js'] },
  // gpu.js's browser bundle alone is ~600 kB of the page's ~930 kB
  build: { outDir: path.join(root, 'dist-explorer'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1500 },
});
