import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { hookPointNames, hookPointOrder } from '../../lib/model/hook-points.ts';
import { forwardSteps, formulaOf, inForwardOrder } from '../../lib/explorer/views/steps.ts';
import { findSourceLines, pointSource, sourceOfPoint, type PointSource } from '../../lib/explorer/views/source-lines.ts';

const FILES: PointSource['file'][] = ['gemma2-model.ts', 'decoder-layer.ts', 'attention.ts', 'mlp.ts', 'causal-lm.ts'];
const SOURCES = Object.fromEntries(FILES.map((file) => [file, readFileSync(fileURLToPath(new URL(`../../lib/model/${file}`, import.meta.url)), 'utf8')])) as Record<PointSource['file'], string>;

describe('forward steps', () => {
  test('the steps are the hook points in forward order (hookPointOrder), every one with a formula', () => {
    const steps = forwardSteps(3);
    const points = steps.map((s) => s.point);
    expect(points).toEqual(hookPointNames(3, true));
    const orders = points.map(hookPointOrder);
    expect(orders.every((order, i) => order >= 0 && (i === 0 || order > orders[i - 1]))).toBe(true);
    expect(inForwardOrder([...points].reverse())).toEqual(points);
    expect(steps.find((s) => s.point === 'layers.2.attn.pattern')).toMatchObject({ layer: 2, section: 'Forward pass; Masks and positions' });
    expect(steps[0]).toMatchObject({ point: 'embed', layer: null });
  });

  test('a point without a formula is an error naming it', () => {
    expect(() => formulaOf('layers.0.attn.query')).toThrow(/no GEMMA2.md formula for hook point "layers.0.attn.query"/);
  });
});

describe('source lines', () => {
  test('every hook point is found in the model sources, on the line that fires it', () => {
    for (const point of hookPointNames(2, true)) {
      const excerpt = sourceOfPoint(point, SOURCES);
      const { file, localName } = pointSource(point);
      const line = SOURCES[file].split('\n')[excerpt.line - 1];
      expect(line, point).toMatch(new RegExp(`(hooks\\.at|atEachHead\\(hooks,) ?\\(?'${localName.replace('.', '\\.')}'`));
      expect(excerpt.lines[excerpt.line - excerpt.firstLine]).toBe(line);
    }
  });

  test('the files the points live in', () => {
    expect(pointSource('layers.3.attn.capped_scores')).toEqual({ file: 'attention.ts', localName: 'capped_scores' });
    expect(pointSource('layers.0.mlp.act')).toEqual({ file: 'mlp.ts', localName: 'act' });
    expect(pointSource('layers.1.resid_mid')).toEqual({ file: 'decoder-layer.ts', localName: 'resid_mid' });
    expect(pointSource('final_norm')).toEqual({ file: 'gemma2-model.ts', localName: 'final_norm' });
    expect(pointSource('logits_raw')).toEqual({ file: 'causal-lm.ts', localName: 'logits_raw' });
  });

  test('a source without the hook call is an error naming the file and the call', () => {
    expect(() => findSourceLines('const q = rope(x);\n', 'attention.ts', 'q')).toThrow(/lib\/model\/attention.ts has no hooks.at\('q'/);
  });
});
