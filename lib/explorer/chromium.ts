// Starting the explorer page and Debian's Chromium, on Node: for the browser
// tests (test/browser/) and the page benchmark (lib/bench/explorer-forward.ts).
// The page itself never imports this file.
//
// Chromium runs headless with a fresh user-data dir. WebGL2 comes from
// SwiftShader, Chromium's CPU implementation of the GPU: --use-angle=swiftshader
// picks it and --enable-unsafe-swiftshader lets WebGL use it (Chromium is
// removing the automatic fallback to SwiftShader that works without the flags
// in Chromium 156). --disable-gpu keeps the real GPU process out of it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';
import { build, createServer, preview } from 'vite';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Throws, saying how to install it, when Debian's chromium is not at /usr/bin/chromium. */
export function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does)`);
  }
}

export interface ExplorerSession {
  url: string;
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * The explorer served on a free port, and Chromium with a fresh profile; close() stops both and removes the profile.
 * 'dev': Vite's dev server (`npm run explore`). 'static': the static build (`npm run explore:build`), made into
 * `buildDir`, served by Vite's preview server (`npm run explore:preview`).
 */
export async function startExplorer(mode: { serve: 'dev' } | { serve: 'static'; buildDir: string } = { serve: 'dev' }): Promise<ExplorerSession> {
  requireChromium();
  const configFile = path.join(repositoryRoot, 'lib/explorer/vite.config.ts');
  const listen = { port: 0, host: '127.0.0.1', strictPort: false };
  let server: { resolvedUrls: { local: string[] } | null; close(): Promise<void> };
  if (mode.serve === 'dev') {
    const dev = await createServer({ configFile, server: listen, logLevel: 'warn', clearScreen: false });
    await dev.listen();
    server = dev;
  } else {
    await build({ configFile, logLevel: 'error', build: { outDir: mode.buildDir } });
    server = await preview({ configFile, preview: listen, logLevel: 'warn', build: { outDir: mode.buildDir } });
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gemma2-chromium-'));
  try {
    const url = server.resolvedUrls?.local[0];
    if (url === undefined) throw new Error('the Vite server reports no local URL');
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1280, height: 900 } });
    return {
      url,
      context,
      async close() {
        await context.close();
        await server.close();
        fs.rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server.close();
    fs.rmSync(profile, { recursive: true, force: true });
    throw error;
  }
}

/** What lib/explorer/main.ts puts on window.gemma2Explorer (the part the tests use). */
export interface ExplorerApi {
  backends(): { name: string; reason: string | null }[];
  backend(): { name: string; summary: string };
  selectBackend(name: string): void;
  models(): string[];
  loadBuiltIn(name: string): Promise<string>;
  runParity(names?: string[]): Promise<{ name: string; pass: boolean; maxError: number; bound: number; error?: string }[]>;
  forwardLogits(ids: number[][], attentionMask?: number[][]): { shape: number[]; data: number[] };
  benchForward(configJson: unknown, batch: number, seq: number, reps: number): { warmupMs: number; forwardMs: number[] };
  kernelsRun(): { name: string; launches: number; ranOn: string[] }[];
  resetKernelStats(): void;
}

/** The page's globals, for casts inside page.evaluate callbacks (they run in the page: only types may come from here). */
export interface ExplorerWindow {
  gemma2Explorer: ExplorerApi;
  gemma2ExplorerReady: Promise<void>;
  crossOriginIsolated: boolean;
  /** The loaded model's name is on <body data-model>. */
  document: { body: { dataset: Record<string, string | undefined> } };
}
