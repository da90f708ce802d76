// Just enough of the WebAssembly binary format to build small modules by
// hand: a shared import of memory, functions with i32/f32 parameters and
// i32, f32 or v128 locals, and the instructions our kernels need (integer
// arithmetic, loops, scalar float loads and arithmetic, and the 128-bit SIMD
// loads, stores, arithmetic, comparisons and bit selects), with widenBf16x4,
// the load that widens four bfloat16 weights to four float32 lanes.
// The format: https://webassembly.github.io/spec/core/binary/

/** Unsigned LEB128, the format's variable-length integers. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const name = (text: string) => [...uleb(text.length), ...[...text].map((c) => c.charCodeAt(0))];
const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** The SIMD instructions, prefix 0xfd, then the opcode as unsigned LEB128. */
const simd = (code: number) => [0xfd, ...uleb(code)];

/** Instructions, as byte arrays to concatenate into a function body. */
export const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32GeU: [0x4f],
  i32Sub: [0x6b],
  i32And: [0x71],
  i32Eqz: [0x45],
  i32LtU: [0x49],
  /** select(a, b, c): a if c is non-zero, else b. */
  select: [0x1b],
  /** if (top of stack non-zero) ... end, with no result. */
  ifThen: [0x04, 0x40],
  f32Const: (x: number) => [0x43, ...new Uint8Array(Float32Array.of(x).buffer)],
  /** f32.load / f32.store with 4-byte alignment and a constant byte offset. */
  f32Load: (offset: number) => [0x2a, 2, ...uleb(offset)],
  /** i32.load with 4-byte alignment and a constant byte offset. */
  i32Load: (offset: number) => [0x28, 2, ...uleb(offset)],
  f32Store: (offset: number) => [0x38, 2, ...uleb(offset)],
  f32Add: [0x92],
  f32Max: [0x97],
  /** block + loop with no result; close both with `end` twice. */
  blockLoop: [0x02, 0x40, 0x03, 0x40],
  /** Leaves the enclosing block when the top of the stack is non-zero (depth 1 from inside its loop). */
  breakIfOutOfLoop: [0x0d, 1],
  /** Jumps back to the start of the innermost loop. */
  continueLoop: [0x0c, 0],
  end: [0x0b],
  /** v128.load with 16-byte alignment and a constant byte offset. */
  v128Load: (offset: number) => [0xfd, 0x00, 4, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, 0x0b, 4, ...uleb(offset)],
  /** Loads four 16-bit values (8 bytes, 2-byte aligned) and zero-extends each into a 32-bit lane. */
  v128Load16x4U: (offset: number) => [0xfd, 0x04, 1, ...uleb(offset)],
  /** Loads one f32 and copies it into all four lanes. */
  v128Load32Splat: (offset: number) => [0xfd, 0x09, 2, ...uleb(offset)],
  v128Zero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  /** Four copies of the float32 x, or of the 32-bit pattern of the integer n. */
  f32x4Const: (x: number) => [0xfd, 0x0c, ...new Uint8Array(Float32Array.of(x, x, x, x).buffer)],
  i32x4Const: (n: number) => [0xfd, 0x0c, ...new Uint8Array(Int32Array.of(n, n, n, n).buffer)],
  f32x4Splat: simd(0x13),
  /** i8x16.shuffle picking four float lanes of the pair (a, b): lanes 0-3 are a's, 4-7 b's. */
  f32x4Shuffle: (lanes: [number, number, number, number]) => [...simd(0x0d), ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])],
  f32x4ExtractLane: (lane: number) => [...simd(0x1f), lane],
  f32x4Lt: simd(0x43),
  f32x4Gt: simd(0x44),
  f32x4Ge: simd(0x46),
  v128And: simd(0x4e),
  /** bitselect(v1, v2, mask): bits of v1 where mask is 1, of v2 where it is 0. */
  v128Bitselect: simd(0x52),
  f32x4Nearest: simd(0x6a),
  i32x4Shl: simd(0xab),
  i32x4Add: simd(0xae),
  f32x4Abs: simd(0xe0),
  f32x4Sqrt: simd(0xe3),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Min: simd(0xe8),
  f32x4Max: simd(0xe9),
  /** Pseudo-min/max, b < a ? b : a and a < b ? b : a: one x86 instruction each (min/max must propagate NaN). */
  f32x4Pmin: simd(0xea),
  f32x4Pmax: simd(0xeb),
  i32x4TruncSatF32x4S: simd(0xf8),
};

/**
 * Four bfloat16 values at (the address on the stack) + offset, widened to four
 * float32 lanes: load 8 bytes with each 16-bit value zero-extended to a lane
 * (v128.load16x4_u), then shift each lane left by 16, so the bf16 bits become
 * the float32's high half. Exact: a bfloat16 is a float32 whose low 16 bits
 * are zero.
 */
export function widenBf16x4(offset: number): number[] {
  return [...op.v128Load16x4U(offset), ...op.i32Const(16), ...op.i32x4Shl];
}

export interface FunctionSpec {
  name: string;
  /** Number of i32 parameters, or the type of each parameter. */
  params: number | number[];
  /** Extra locals after the parameters, as [count, type] runs. */
  locals: [number, number][];
  body: number[];
}

/** A module importing env.memory (shared, up to maxPages) and exporting the given functions. */
export function buildModule(functions: FunctionSpec[], maxPages: number): Uint8Array {
  const paramTypes = (f: FunctionSpec) => (typeof f.params === 'number' ? new Array<number>(f.params).fill(I32) : f.params);
  const types = functions.map((f) => [0x60, ...vector(paramTypes(f).map((t) => [t])), 0]);
  const memoryImport = [...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(1), ...uleb(maxPages)]; // shared limits
  const bodies = functions.map((f) => {
    const code = [...vector(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.body, ...op.end];
    return [...uleb(code.length), ...code];
  });
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(7, vector(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vector(bodies)),
  ]);
}
