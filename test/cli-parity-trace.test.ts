// gemma2 parity --trace and --model: a checkpoint broken on purpose (one
// weight scaled by 1.001) is caught at the hook point that weight computes,
// with every point before it named as agreeing; the intact checkpoint passes
// every point. The trace case is golden/project/cases/tiny-trace.safetensors,
// made by golden/make_case.py --trace from Transformers.

import { describe, expect, test } from 'vitest';
import path from 'node:path';
import { goldenPath } from './golden-files.ts';
import { Gemma2ForCausalLM } from '../lib/model/causal-lm.ts';
import { hookPointNames } from '../lib/model/hook-points.ts';
import { gemma2 } from './run-cli.ts';
import { tempDir } from './temp-dir.ts';

const traceCase = goldenPath('project/cases/tiny-trace.safetensors');


const scratch = tempDir('trace');

describe('gemma2 parity --trace', () => {
  const points = hookPointNames(4, true);

  test('the intact model: every hook point within its bound', () => {
    const run = gemma2('parity', traceCase, '--model', goldenPath('models/tiny'), '--trace', '--backend', 'cpu');
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`trace: all ${points.length} hook points within bounds`);
    expect(run.stdout).toMatch(/hook point\s+max \|error\|\s+bound\s+error\/bound\s+result\n\s+embed\s/); // the whole table, from the first point
    expect(run.status).toBe(0);
  });

  test('a damaged weight is named by the first point it reaches', () => {
    // layer 2's down projection scaled by 1.001: the MLP output of layer 2 is the first activation it changes
    const model = Gemma2ForCausalLM.fromPretrained(goldenPath('models/tiny'));
    const weight = model.model.layers[2].mlp.downProj.weight.contiguousData();
    for (let i = 0; i < weight.length; i++) weight[i] *= 1.001;
    const damaged = path.join(scratch, 'tiny');
    model.savePretrained(damaged);

    const run = gemma2('parity', traceCase, '--models', scratch, '--trace', '--backend', 'cpu');
    const before = points.indexOf('layers.2.mlp.out');
    expect(run.stdout).toMatch(new RegExp(`first divergence: layers\\.2\\.mlp\\.out, \\S+ > bound \\S+; all ${before} hook points before it within bounds`));
    // the table starts at the diverging point
    expect(run.stdout).toMatch(/hook point\s+max \|error\|\s+bound\s+error\/bound\s+result\n\s+layers\.2\.mlp\.out\s+\S+\s+\S+\s+\S+\s+FAIL/);
    expect(run.stdout).toContain('1 of 1 cases FAIL');
    expect(run.status).toBe(1);

    // without --trace: the same verdict in one line, no table
    const brief = gemma2('parity', traceCase, '--models', scratch, '--backend', 'cpu');
    expect(brief.stdout).toContain('first divergence: layers.2.mlp.out');
    expect(brief.stdout).not.toContain('error/bound');
    expect(brief.status).toBe(1);
  });

  test('--trace on a case without a trace says how to make one', () => {
    const run = gemma2('parity', goldenPath('cases/tiny-causal-lm.safetensors'), '--model', goldenPath('models/tiny'), '--trace', '--backend', 'cpu');
    expect(run.stdout).toContain('the case traces no hook point (make it with make_case.py --trace)');
    expect(run.status).toBe(0);
  });
});
