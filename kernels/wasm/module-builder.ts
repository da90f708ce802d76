// Just enough of the WebAssembly binary format to build one small module by
// hand: a shared import of memory, functions with i32 parameters and i32 or
// v128 locals, and the instructions the matmul microkernel needs (integer
// arithmetic, loops, and the 128-bit SIMD loads, stores, mul and add).
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
export const V128 = 0x7b;

/** Instructions, as byte arrays to concatenate into a function body. */
export const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32GeU: [0x4f],
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
  /** Loads one f32 and copies it into all four lanes. */
  v128Load32Splat: (offset: number) => [0xfd, 0x09, 2, ...uleb(offset)],
  v128Zero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  f32x4Add: [0xfd, ...uleb(228)],
  f32x4Mul: [0xfd, ...uleb(230)],
};

export interface FunctionSpec {
  name: string;
  /** Number of i32 parameters. */
  params: number;
  /** Extra locals after the parameters, as [count, type] runs. */
  locals: [number, number][];
  body: number[];
}

/** A module importing env.memory (shared, up to maxPages) and exporting the given functions. */
export function buildModule(functions: FunctionSpec[], maxPages: number): Uint8Array {
  const types = functions.map((f) => [0x60, ...vector(new Array(f.params).fill([I32])), 0]);
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
