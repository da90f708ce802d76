// The browser-safe core: the static import closure of lib/core.ts, and of
// every file in lib/model, lib/generation, lib/tokenizer and lib/io, holds no
// Node built-in (Node's modules are taken at run time through
// lib/platform/host.ts instead); and the model imports nothing of
// lib/generation, not even types (it states the cache it needs in
// lib/model/cache.ts).

import { describe, expect, test } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Files outside this check's folders that still import a Node built-in, each
 * with the change that removes it. An entry that no longer offends fails the
 * test, so the list cannot outlive the fix.
 */
const KNOWN_OFFENDERS: Record<string, string> = {};

/** Every module specifier a file imports or re-exports statically (type-only imports included), comments removed. */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const specifiers: string[] = [];
  const patterns = [/\b(?:import|export)\s[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) specifiers.push(match[1]);
  return specifiers;
}

const NODE_BUILTINS = new Set(builtinModules);
const isNodeBuiltin = (specifier: string) => specifier.startsWith('node:') || NODE_BUILTINS.has(specifier.split('/')[0]);

interface Closure {
  /** Repository-relative paths of the source files reached. */
  files: Set<string>;
  /** file -> the Node built-ins it imports. */
  nodeImports: Map<string, string[]>;
}

/** The files reached from `entries` through relative imports (packages are not followed), and their Node built-in imports. */
function importClosure(entries: string[]): Closure {
  const closure: Closure = { files: new Set(), nodeImports: new Map() };
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (closure.files.has(file)) continue;
    closure.files.add(file);
    for (const specifier of importSpecifiers(readFileSync(path.join(ROOT, file), 'utf8'))) {
      if (isNodeBuiltin(specifier)) closure.nodeImports.set(file, [...(closure.nodeImports.get(file) ?? []), specifier]);
      else if (specifier.startsWith('.')) pending.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)));
    }
  }
  return closure;
}

const filesIn = (folder: string) =>
  readdirSync(path.join(ROOT, folder))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${folder}/${f}`);

/** The offenders in a closure, as "file: built-ins", with the known ones set apart. */
function offenders(closure: Closure): { unexpected: string[]; known: string[] } {
  const all = [...closure.nodeImports].map(([file, specifiers]) => ({ file, line: `${file}: ${specifiers.join(', ')}` }));
  return { unexpected: all.filter((o) => !(o.file in KNOWN_OFFENDERS)).map((o) => o.line), known: all.filter((o) => o.file in KNOWN_OFFENDERS).map((o) => o.file) };
}

describe('the import walker', () => {
  test('finds static, re-exported, type-only, side-effect and dynamic imports, and skips comments', () => {
    const source = [
      "import fs from 'node:fs';",
      "import type { A } from './a.ts';",
      "import {\n  b,\n  c,\n} from './b.ts';",
      "export * from './c.ts';",
      "export { d } from './d.ts';",
      "import './e.ts';",
      "const f = await import('./f.ts');",
      "// import g from './g.ts';",
      "/* import h from './h.ts'; */",
      "const url = 'https://example.com'; import i from './i.ts';",
    ].join('\n');
    expect(importSpecifiers(source).sort()).toEqual(['./a.ts', './b.ts', './c.ts', './d.ts', './e.ts', './f.ts', './i.ts', 'node:fs'].sort());
    expect(isNodeBuiltin('fs')).toBe(true);
    expect(isNodeBuiltin('fs/promises')).toBe(true);
    expect(isNodeBuiltin('@huggingface/jinja')).toBe(false);
  });
});

describe('a core that runs in a browser', () => {
  const core = importClosure(['lib/core.ts']);

  test('lib/core.ts reaches no Node built-in', () => {
    expect(core.files.has('lib/model/causal-lm.ts')).toBe(true); // the walker follows the closure
    expect(core.files.has('lib/io/checkpoint.ts')).toBe(true);
    expect(offenders(core).unexpected).toEqual([]);
  });

  test.each(['lib/model', 'lib/generation', 'lib/tokenizer', 'lib/io'])('every file in %s reaches no Node built-in', (folder) => {
    expect(offenders(importClosure(filesIn(folder))).unexpected).toEqual([]);
  });

  test('every known offender still offends (else remove it from KNOWN_OFFENDERS)', () => {
    expect(offenders(core).known.sort()).toEqual(Object.keys(KNOWN_OFFENDERS).sort());
  });

  test('the Node-only tools still may: lib/golden reaches node:v8 (its memory reclaiming)', () => {
    expect(importClosure(['lib/golden/model-store.ts']).nodeImports.get('lib/golden/reclaim.ts')).toEqual(['node:v8', 'node:vm']);
  });
});

test('the model imports nothing of lib/generation, not even types', () => {
  const reached = [...importClosure(filesIn('lib/model')).files].filter((f) => f.startsWith('lib/generation/'));
  expect(reached).toEqual([]);
});
