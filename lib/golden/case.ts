// A golden case file (golden/FORMAT.md): safetensors holding a case's inputs
// and expected outputs, with the case description as JSON in
// __metadata__.case. Opening validates the description and names the file.

import { SafetensorsFile } from '../io/safetensors.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { Tolerance } from './compare.ts';

/** Every kind FORMAT.md defines. */
export const CASE_KINDS = ['causal_lm', 'base_model', 'seq_cls', 'token_cls', 'grad', 'seq_cls_grad', 'token_cls_grad', 'train', 'generate'] as const;
export type CaseKind = (typeof CASE_KINDS)[number];

const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);

export interface CaseDescription {
  name: string;
  /** Folder name under the models directory. */
  model: string;
  kind: CaseKind;
  compute_dtype: string;
  tolerance: Tolerance;
  params: Record<string, unknown>;
  description?: string;
}

export class GoldenCaseError extends Error {
  override name = 'GoldenCaseError';
}

export class GoldenCase {
  private constructor(
    readonly path: string,
    readonly description: CaseDescription,
    readonly file: SafetensorsFile,
  ) {}

  /** A case file on disk. */
  static open(path: string): GoldenCase {
    return GoldenCase.fromFile(SafetensorsFile.open(path));
  }

  /** A case file already in memory; `name` stands for its path in errors. */
  static fromBytes(bytes: Uint8Array | ArrayBuffer, name: string): GoldenCase {
    return GoldenCase.fromFile(SafetensorsFile.fromBytes(bytes, name));
  }

  /** A case from an opened safetensors file, which it takes over (close() closes it). */
  static fromFile(file: SafetensorsFile): GoldenCase {
    try {
      return new GoldenCase(file.path, parseDescription(file.path, file.metadata.case), file);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  get name(): string {
    return this.description.name;
  }

  get kind(): CaseKind {
    return this.description.kind;
  }

  has(name: string): boolean {
    return this.file.has(name);
  }

  /** An integer input (input_ids, attention_mask, labels) as an int32 tensor. */
  intInput(name: string): Tensor {
    return Tensor.fromData(this.file.readInt32(name), [...this.file.info(name).shape]);
  }

  /** An input as stored: integer tensors (class ids) as int32, float tensors (F64, F32 targets) as float32. */
  input(name: string): Tensor {
    const { dtype, shape } = this.file.info(name);
    if (FLOAT_DTYPES.has(dtype)) return Tensor.fromData(this.file.readFloat32(name), [...shape]);
    return this.intInput(name);
  }

  /** An optional integer input. */
  optionalIntInput(name: string): Tensor | undefined {
    return this.has(name) ? this.intInput(name) : undefined;
  }

  /** An expected tensor in float64 (its stored precision). */
  expected(name: string): { shape: number[]; data: Float64Array } {
    const { dtype, shape } = this.file.info(name);
    const data = dtype === 'I64' || dtype === 'I32' ? Float64Array.from(this.file.readInt32(name)) : this.file.readFloat64(name);
    return { shape: [...shape], data };
  }

  /** Names of the expected tensors starting with `prefix`. */
  namesStartingWith(prefix: string): string[] {
    return this.file.names().filter((n) => n.startsWith(prefix));
  }

  close(): void {
    this.file.close();
  }
}

function parseDescription(path: string, text: string | undefined): CaseDescription {
  if (text === undefined) throw new GoldenCaseError(`${path}: no "case" entry in the safetensors __metadata__; not a golden case file`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new GoldenCaseError(`${path}: __metadata__.case is not valid JSON (${(error as Error).message})`);
  }
  const d = json as Partial<CaseDescription>;
  const problems: string[] = [];
  if (typeof d.name !== 'string' || d.name === '') problems.push('name must be a non-empty string');
  if (typeof d.model !== 'string' || d.model === '') problems.push('model must be a non-empty string');
  if (!CASE_KINDS.includes(d.kind as CaseKind)) problems.push(`kind ${JSON.stringify(d.kind)} is not one of ${CASE_KINDS.join(', ')}`);
  const t = d.tolerance;
  if (typeof t !== 'object' || t === null || !(t.atol >= 0) || !(t.rtol >= 0)) problems.push('tolerance must be {atol, rtol} with non-negative numbers');
  if (problems.length > 0) throw new GoldenCaseError(`${path}: bad case description: ${problems.join('; ')}`);
  return { params: {}, compute_dtype: 'float64', ...d } as CaseDescription;
}
