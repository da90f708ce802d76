// gemma2 parity: runs golden cases (golden/FORMAT.md) against this
// implementation and prints, per case, each expected tensor's max absolute
// error next to its bound. Exits 1 if any tensor of any case fails or a case
// cannot run (its kind not built yet, a model missing); the reason is printed.
// Cases on the same model run one after another (in the order the first of
// each model was named), and only one model is in memory at a time.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from './usage-error.ts';
import { parseCommandLine } from './args.ts';
import { setBackend, describeBackend } from '../../kernels/backend.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import { GoldenCase } from '../golden/case.ts';
import { type CaseResult, runGoldenCase } from '../golden/run.ts';
import { ModelStore, caseOrder } from '../golden/model-store.ts';
import { traceReport, traceSummary, traceTable, tracedPoint } from '../golden/trace.ts';

export const PARITY_USAGE = `
gemma2 parity <case.safetensors>... (--models <dir> | --model <dir>) [--trace] [--backend B] [--save-actual <dir>]
  <case.safetensors>   golden case files (e.g. golden/cases/*.safetensors, or one make_case.py wrote)
  --models <dir>       folder holding one model folder per case "model" (e.g. golden/models)
  --model <dir>        one model folder: every case runs on it, whatever model it names
  --trace              for cases with trace tensors (make_case.py --trace): walk the hook points in
                       forward order, name the first one outside its bound and print the table from there
  --backend <name>     kernel backend: webasm, cpu, ... (default: the automatic choice)
  --save-actual <dir>  write <case name>.actual.safetensors with our outputs under the expected names
  Cases on the same model run together, one model in memory at a time.`;

/**
 * A case's result: its tensors' table (the trace's points as one summary
 * line, or with `trace` the table from the first diverging point on).
 */
function formatResult(result: CaseResult, description: string, trace: boolean): string {
  const lines = [`${result.name} (${description})`];
  if (result.error !== undefined) {
    lines.push(`  FAIL: ${result.error}`);
    return lines.join('\n');
  }
  const outputs = result.comparisons.filter((c) => tracedPoint(c.tensor) === undefined);
  const width = Math.max(6, ...outputs.map((c) => c.tensor.length));
  lines.push(`  ${'tensor'.padEnd(width)}  ${'max |error|'.padStart(11)}  ${'bound'.padStart(9)}  result`);
  for (const c of outputs) {
    const error = Number.isFinite(c.maxError) ? c.maxError.toExponential(2) : 'inf';
    lines.push(`  ${c.tensor.padEnd(width)}  ${error.padStart(11)}  ${c.bound.toExponential(2).padStart(9)}  ${c.pass ? 'pass' : 'FAIL'}${c.note ? ` (${c.note})` : ''}`);
  }
  const report = traceReport(result.comparisons);
  if (report.points.length > 0 || trace) {
    lines.push(`  ${traceSummary(report)}`);
    if (trace && report.points.length > 0) lines.push(...traceTable(report));
  }
  return lines.join('\n');
}

/** A case file named on the command line: what it runs on, or why it cannot be read. */
type Named = { file: string; model: string; kind: string; error?: string };

function openCase(file: string): GoldenCase | string {
  try {
    return GoldenCase.open(file);
  } catch (error) {
    return (error as Error).message;
  }
}

export async function runParity(argv: string[]): Promise<number> {
  const commandLine = parseCommandLine(
    'parity',
    argv,
    { models: { type: 'string' }, model: { type: 'string' }, trace: { type: 'boolean' }, backend: { type: 'string' }, 'save-actual': { type: 'string' } },
    { allowPositionals: true },
  );
  if (commandLine.help) {
    console.log(PARITY_USAGE.trimStart());
    return 0;
  }
  const positionals = commandLine.positionals;
  const values = commandLine.values as { models?: string; model?: string; trace?: boolean; backend?: string; 'save-actual'?: string };
  if (positionals.length === 0) throw new UsageError('parity: name at least one case file');
  if ((values.models === undefined) === (values.model === undefined)) throw new UsageError('parity: give --models <dir> (a folder of model folders) or --model <dir> (one model folder)');
  const folder = (values.models ?? values.model)!;
  if (!fs.existsSync(folder)) throw new Error(`parity: ${values.models === undefined ? '--model' : '--models'} folder ${folder} does not exist`);
  if (values.backend !== undefined) setBackend(values.backend);
  const saveDir = values['save-actual'];
  if (saveDir !== undefined) fs.mkdirSync(saveDir, { recursive: true });

  // Every description first (headers only), to run the cases of each model together.
  const named: Named[] = positionals.map((file) => {
    const goldenCase = openCase(file);
    // an unreadable file gets a "model" of its own, so it keeps its place in the order
    if (typeof goldenCase === 'string') return { file, model: `\0${file}`, kind: '', error: goldenCase };
    goldenCase.close();
    return { file, model: goldenCase.description.model, kind: goldenCase.kind };
  });

  console.log(`kernels on ${describeBackend()}\n`);
  // --model: every case's "model" is that one folder
  const store = new ModelStore(values.models ?? (() => folder));
  let failures = 0;
  for (const entry of caseOrder(named)) {
    if (entry.error === undefined) await store.makeRoomFor(entry);
    const goldenCase = entry.error ?? openCase(entry.file);
    if (typeof goldenCase === 'string') {
      console.log(`${entry.file}\n  FAIL: ${goldenCase}\n`);
      failures++;
      continue;
    }
    try {
      const { kind, model, tolerance } = goldenCase.description;
      const result = runGoldenCase(goldenCase, store);
      const on = values.model === undefined ? `model ${model}` : `model folder ${values.model}`;
      console.log(formatResult(result, `${kind}, ${on}, atol ${tolerance.atol}, rtol ${tolerance.rtol}`, values.trace === true) + '\n');
      if (!result.pass) failures++;
      if (saveDir !== undefined && result.actual.length > 0) {
        writeSafetensors(path.join(saveDir, `${result.name}.actual.safetensors`), result.actual, { case: JSON.stringify(goldenCase.description) });
      }
    } finally {
      goldenCase.close();
    }
  }
  console.log(failures === 0 ? `all ${positionals.length} cases pass` : `${failures} of ${positionals.length} cases FAIL`);
  return failures === 0 ? 0 : 1;
}
