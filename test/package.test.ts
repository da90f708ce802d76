// The published package, used as another project uses it: `npm pack` (which
// builds dist/ through prepack), install the tarball into a fresh project
// outside this repository, import the public names from 'gemma2-ts' in plain
// Node, run a forward, run the installed `gemma2` command, and type-check a
// TypeScript consumer against the shipped declarations.
//
// The install is offline and exact: the consumer gets a lockfile made of our
// package-lock.json's production entries, so `npm ci --offline` installs the
// versions this repository is tested with from the cache our own `npm ci`
// filled, and nothing is fetched.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './temp-dir.ts';

const root = path.resolve(import.meta.dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The environment for npm and node children, without what `npm test` sets about this repository. */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|INIT_CWD$)/.test(name)));
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, env: childEnv(), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

/** package-lock.json for a project whose one dependency is the tarball: our production entries at the same paths. */
function consumerLockfile(tarball: string): object {
  const ours = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const packages: Record<string, object> = {
    '': { name: 'consumer', dependencies: { 'gemma2-ts': `file:${tarball}` } },
    'node_modules/gemma2-ts': { version: manifest.version, resolved: `file:${tarball}`, license: manifest.license, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines },
  };
  for (const [at, entry] of Object.entries<Record<string, unknown>>(ours.packages)) {
    if (at === '' || entry.dev === true) continue;
    // devOptional: needed by dev tools and by optional dependencies (headless-gl's); for a consumer, optional.
    const { devOptional, ...rest } = entry;
    packages[at] = devOptional === true ? { ...rest, optional: true } : rest;
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

const FORWARD_MJS = `
import { Gemma2ForCausalLM, generate, HfTokenizer, Trainer, parseGemma2Config, tensor, noGrad } from 'gemma2-ts';
const config = parseGemma2Config({ vocab_size: 32, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, sliding_window: 4 });
const model = new Gemma2ForCausalLM(config, { seed: 0 });
const inputIds = tensor([[2, 5, 7, 9, 11]], { dtype: 'int32' });
const { logits } = noGrad(() => model.forward({ inputIds }));
const { sequences } = generate(model, inputIds, { maxNewTokens: 2 });
console.log(JSON.stringify({
  shape: logits.shape,
  finite: Array.from(logits.contiguousData()).every(Number.isFinite),
  sequenceLengths: sequences.map((s) => s.length),
  classes: [HfTokenizer, Trainer].map((c) => typeof c),
}));
`;

const CONSUMER_TS = `
import { Gemma2ForCausalLM, HfTokenizer, Trainer, generate, noGrad, parseGemma2Config, tensor, type GenerateOptions, type Tensor, type TrainerOptions } from 'gemma2-ts';
const model = new Gemma2ForCausalLM(parseGemma2Config({ vocab_size: 32 }), { seed: 0 });
const logits: Tensor = noGrad(() => model.forward({ inputIds: tensor([[2, 5]], { dtype: 'int32' }) })).logits;
const options: GenerateOptions = { maxNewTokens: 2, doSample: true, topK: 5 };
const sequences: number[][] = generate(model, tensor([[2]], { dtype: 'int32' }), options).sequences;
const trainerOptions: Partial<TrainerOptions> = { steps: 1, optimizer: 'sgd' };
// @ts-expect-error the declarations are real types, not any: a string is no Tensor
model.forward({ inputIds: 'not a tensor' });
export const used = [logits.shape, sequences, trainerOptions, HfTokenizer, Trainer];
`;

// A Node project's settings, declarations checked too (skipLibCheck off). @huggingface/jinja's own
// declarations use extensionless relative imports, which nodenext reports inside that package.
const CONSUMER_TSCONFIG = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: [] }, files: ['consumer.ts'] };
const THIRD_PARTY_DECLARATION_ERRORS = /^node_modules\/@huggingface\/jinja\/dist\/index\.d\.ts\(\d+,\d+\): error TS2834:/;

describe('the npm package', () => {
  let dir = '';
  let packed: PackResult;
  const consumer = () => path.join(dir, 'consumer');

  beforeAll(() => {
    dir = tempDir('package');
    [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], root)) as PackResult[];
    fs.mkdirSync(consumer());
    const tarball = `../${packed.filename}`;
    fs.writeFileSync(path.join(consumer(), 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'gemma2-ts': `file:${tarball}` } }));
    fs.writeFileSync(path.join(consumer(), 'package-lock.json'), JSON.stringify(consumerLockfile(tarball)));
    // --omit=optional: headless-gl (gpu.js's optional native GL) is not needed to run, and would build from source.
    run('npm', ['ci', '--offline', '--ignore-scripts', '--omit=optional', '--no-audit', '--no-fund'], consumer());
  }, 300_000);

  it('ships the built library, the command, the README and the parity kit, and no sources, tests or goldens', () => {
    const files = packed.files.map((f) => f.path);
    const kit = ['golden/make_case.py', 'golden/FORMAT.md']; // users make cases of their own checkpoints (README, "Check your own checkpoint")
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'lib/cli/gemma2.js', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/cli/main.js', ...kit]));
    const unexpected = files.filter((f) => !kit.includes(f) && !/^(package\.json|README\.md|LICENSE|lib\/cli\/gemma2\.js|dist\/.+\.(js|d\.ts))$/.test(f));
    expect(unexpected).toEqual([]);
    // The tests, the golden data and the benchmarks stay in the repository (lib/golden's parity code ships).
    expect(files.filter((f) => !kit.includes(f) && /^(test|golden)\/|\/bench\/|\.safetensors$/.test(f))).toEqual([]);
    expect(packed.size).toBeLessThan(1_000_000);
  });

  it("imports the public names from 'gemma2-ts' in plain Node and runs a forward", () => {
    fs.writeFileSync(path.join(consumer(), 'forward.mjs'), FORWARD_MJS);
    const result = JSON.parse(run(process.execPath, ['forward.mjs'], consumer()));
    expect(result).toEqual({ shape: [1, 5, 32], finite: true, sequenceLengths: [7], classes: ['function', 'function'] });
  });

  it('runs the installed gemma2 command from the compiled JavaScript (tsx is not installed)', () => {
    expect(fs.existsSync(path.join(consumer(), 'node_modules/tsx'))).toBe(false);
    expect(run(path.join(consumer(), 'node_modules/.bin/gemma2'), ['--help'], consumer())).toMatch(/^usage: gemma2 <command>/);
  });

  it('type-checks a TypeScript consumer against the shipped declarations', () => {
    fs.writeFileSync(path.join(consumer(), 'consumer.ts'), CONSUMER_TS);
    fs.writeFileSync(path.join(consumer(), 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG));
    const result = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: consumer(), env: childEnv(), encoding: 'utf8' });
    const diagnostics = result.stdout.split('\n').filter((line) => /error TS\d+:/.test(line));
    expect(diagnostics.filter((line) => !THIRD_PARTY_DECLARATION_ERRORS.test(line))).toEqual([]);
    // tsc really ran: it exits 0 without diagnostics, 1 with some (here only the third party's).
    expect(result.status, result.stderr).toBe(diagnostics.length === 0 ? 0 : 1);
  });
});
