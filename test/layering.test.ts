// The layering rules (.dependency-cruiser.cjs), checked with dependency-cruiser:
// first that every rule catches what it should on a small made-up tree (so a
// rule that can never fire is noticed), then on the library itself.

import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CORE_RULE, CYCLE_RULE, checkLayering } from './layering-report.ts';
import { tempDir } from './temp-dir.ts';

const root = path.resolve(import.meta.dirname, '..');
const config = path.join(root, '.dependency-cruiser.cjs');
const FOLDERS = ['lib', 'kernels', 'reference'];

/** Files of a made-up library, each breaking (or, where said, keeping) one rule. */
const FIXTURE: Record<string, string> = {
  'lib/platform/host.ts': "export const fs = (globalThis as any).process?.getBuiltinModule?.('node:fs');", // allowed: not an import
  'lib/tensor/tensor.ts': "import { fs } from '../platform/host.ts';\nimport { add } from '../ops/index.ts';\nexport const t = [fs, add];",
  'lib/ops/index.ts': "export * from './add.ts';\nexport * from './mul.ts';",
  'lib/ops/add.ts': "import type { Mul } from './mul.ts';\nimport { t } from '../tensor/tensor.ts';\nexport type Add = Mul;\nexport const add = t;", // add <-> mul: a circle inside lib/ops, allowed
  'lib/ops/mul.ts': "import type { Add } from './add.ts';\nexport type Mul = Add | number;\nexport const mul = 2;",
  'kernels/matmul.ts': "import { model } from '../lib/model/model.ts';\nexport const matmul = model;",
  'kernels/wasm/threads.ts': "import { cpus } from 'node:os';\nexport const threads = cpus();",
  'lib/model/model.ts': "import { threads } from '../../kernels/wasm/threads.ts';\nimport { cache } from '../generation/cache.ts';\nimport { add } from '../ops/add.ts';\nexport const model = [threads, cache, add];",
  'lib/generation/cache.ts': 'export const cache = 0;',
  'lib/io/files.ts': "import fs from 'fs';\nexport const read = fs.readFileSync;",
  'lib/tokenizer/tokenizer.ts': "import { read } from '../io/files.ts';\nexport const tokenizer = read;",
  'lib/train/trainer.ts': "import type { State } from './checkpoint.ts';\nexport type Options = { state?: State };",
  'lib/train/checkpoint.ts': "import type { Options } from './trainer.ts';\nexport type State = { options: Options };",
  'lib/cli/main.ts': "import fs from 'node:fs';\nimport { model } from '../model/model.ts';\nimport { add } from '../ops/index.ts';\nexport const main = [fs, model, add];", // allowed: a Node tool
  'lib/widgets/widget.ts': "import { t } from '../tensor/tensor.ts';\nexport const widget = t;",
  'reference/matmul.ts': "import { t } from '../lib/tensor/tensor.ts';\nexport const reference = t;",
};

describe('layering rules on a made-up tree', () => {
  let dir = '';
  beforeAll(() => {
    dir = tempDir('layering');
    for (const [file, text] of Object.entries(FIXTURE)) {
      fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), `${text}\n`);
    }
  });

  it('reports each planted violation, by rule, and nothing else', async () => {
    const { violations, report } = await checkLayering(dir, config, FOLDERS);
    const found = violations.filter((v) => v.rule.name !== CYCLE_RULE).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(new Set(found)).toEqual(
      new Set([
        'reference-is-independent: reference/matmul.ts -> lib/tensor/tensor.ts',
        'layer:reference: reference/matmul.ts -> lib/tensor/tensor.ts',
        'kernels-below-model: kernels/matmul.ts -> lib/model/model.ts',
        'layer:kernels: kernels/matmul.ts -> lib/model/model.ts',
        'tensor-is-the-base: lib/tensor/tensor.ts -> lib/ops/index.ts',
        'layer:lib/tensor: lib/tensor/tensor.ts -> lib/ops/index.ts',
        'model-not-kernels: lib/model/model.ts -> kernels/wasm/threads.ts',
        'layer:lib/model: lib/model/model.ts -> kernels/wasm/threads.ts',
        'model-not-generation: lib/model/model.ts -> lib/generation/cache.ts',
        'layer:lib/model: lib/model/model.ts -> lib/generation/cache.ts',
        'ops-through-index: lib/model/model.ts -> lib/ops/add.ts',
        'folder-in-a-layer: lib/widgets/widget.ts -> lib/tensor/tensor.ts',
        `${CORE_RULE}: kernels/matmul.ts -> os`,
        `${CORE_RULE}: kernels/wasm/threads.ts -> os`,
        `${CORE_RULE}: lib/model/model.ts -> os`,
        `${CORE_RULE}: lib/tokenizer/tokenizer.ts -> fs`,
      ]),
    );
    // Circles: the type-only one in lib/train, and tensor -> ops/index -> add -> tensor (not add <-> mul, inside lib/ops).
    const circles = report.split('\n').filter((line) => /^ {2}\S+ -> \S+ -> /.test(line));
    expect(circles).toEqual(['  lib/ops/add.ts -> lib/tensor/tensor.ts -> lib/ops/index.ts -> lib/ops/add.ts', '  lib/train/checkpoint.ts -> lib/train/trainer.ts -> lib/train/checkpoint.ts']);
    // The report names each import once with all its rules, and the files that import built-ins.
    expect(report).toContain('  lib/model/model.ts -> kernels/wasm/threads.ts\n      model-not-kernels: the model is written in ops');
    expect(report).toContain('      layer:lib/model: lib/model may import only lib/platform, lib/tensor, lib/autograd, lib/ops, lib/io: ');
    expect(report).toContain('  lib/io/files.ts imports fs; reached from 1 core file(s), e.g. lib/tokenizer/tokenizer.ts -> lib/io/files.ts');
    expect(report).toContain('  kernels/wasm/threads.ts imports os; reached from 3 core file(s), e.g. kernels/matmul.ts -> lib/model/model.ts -> kernels/wasm/threads.ts\n');
  });
});

describe('layering of the library', () => {
  it('keeps every rule of .dependency-cruiser.cjs', async () => {
    const { modules, violations, report } = await checkLayering(root, config, FOLDERS);
    // The parser really read the TypeScript sources (a parser that skipped them would find no violation).
    const sources = FOLDERS.flatMap((folder) => fs.readdirSync(path.join(root, folder), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => `${folder}/${f}`));
    const cruised = new Set(modules.map((m) => m.source));
    expect(sources.filter((file) => !cruised.has(file))).toEqual([]);
    expect(modules.find((m) => m.source === 'lib/index.ts')?.dependencies.length).toBeGreaterThan(10);
    expect(violations.length, report).toBe(0);
  });
});
