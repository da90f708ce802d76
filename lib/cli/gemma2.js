#!/usr/bin/env node
// The `gemma2` command: registers tsx so Node can run the TypeScript sources
// directly, then hands the arguments to main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
