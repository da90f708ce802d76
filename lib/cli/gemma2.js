#!/usr/bin/env node
// The `gemma2` command. Installed from the package, it runs the compiled
// JavaScript (dist/lib/cli/main.js); in a checkout, where the TypeScript
// sources sit beside this file, it registers tsx and runs them, so no build
// is needed while working on the code.
import { existsSync } from 'node:fs';

const source = new URL('./main.ts', import.meta.url);
let main;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import(new URL('../../dist/lib/cli/main.js', import.meta.url).href));
}
process.exitCode = await main(process.argv.slice(2));
