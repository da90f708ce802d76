// safetensors: round trips for every dtype, the golden files (byte for byte),
// every validation rule with its message, and a fuzz property: any bytes
// either parse into a header whose entries tile the data section, or throw
// SafetensorsError; never another exception, never a hang.

import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../lib/io/float-formats.ts';
import {
  DTYPE_SIZES,
  MAX_HEADER_BYTES,
  SafetensorsError,
  SafetensorsFile,
  type SafetensorsDType,
  type TensorToWrite,
  parseSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
} from '../../lib/io/safetensors.ts';
import { expectedGemma2Shapes, goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';

const tmp = tempDir('safetensors');

const SPECIAL = [0, -0, 1, -1.5, 65504, 1e-8, -1e-40, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 1 / 3, 2 ** -24, 6e-5];

/** A file from a raw header text and data bytes (for malformed headers). */
function fileWithHeader(header: string, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function entry(dtype: string, shape: unknown, offsets: unknown): string {
  return JSON.stringify({ dtype, shape, data_offsets: offsets });
}

function expectError(run: () => unknown, message: RegExp): SafetensorsError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as Error).message).toMatch(message);
    return error as SafetensorsError;
  }
  throw new Error(`expected a SafetensorsError matching ${message}, nothing was thrown`);
}

/** Same values, NaN equal to NaN and -0 distinct from 0. */
function expectSameValues(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) throw new Error(`element ${i}: ${actual[i]} != ${expected[i]}`);
  }
}

describe('round trips', () => {
  const f32 = Float32Array.from(SPECIAL);
  const f64 = Float64Array.from([...SPECIAL, 1e300, -5e-324, Math.PI]);
  const i64 = BigInt64Array.from([0n, -1n, 2147483647n, -2147483648n, 9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n]);
  const i32 = Int32Array.from([0, -1, 2147483647, -2147483648, 42]);
  const tensors: TensorToWrite[] = [
    { name: 'f64', dtype: 'F64', shape: [2, 9], data: f64 },
    { name: 'f32', dtype: 'F32', shape: [3, 5], data: f32 },
    { name: 'f16', dtype: 'F16', shape: [15], data: f32 },
    { name: 'bf16', dtype: 'BF16', shape: [5, 3], data: f32 },
    { name: 'i64', dtype: 'I64', shape: [7], data: i64 },
    { name: 'i32', dtype: 'I32', shape: [5, 1], data: i32 },
    { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.of(7.25) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'also empty', dtype: 'I64', shape: [3, 0], data: new BigInt64Array(0) },
    { name: 'u8', dtype: 'U8', shape: [3], data: Uint8Array.of(0, 128, 255) },
    { name: 'bool', dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) },
    { name: 'i8', dtype: 'I8', shape: [2], data: Uint8Array.of(0xff, 0x7f) },
    { name: 'i16', dtype: 'I16', shape: [2], data: Uint8Array.of(0xfe, 0xff, 0x01, 0x80) },
    { name: 'u16', dtype: 'U16', shape: [1], data: Uint8Array.of(0xff, 0xff) },
    { name: 'u32', dtype: 'U32', shape: [1], data: Uint8Array.of(1, 0, 0, 0) },
  ];
  // "__proto__" must stay an ordinary key through writing and reading.
  const metadata: Record<string, string> = Object.fromEntries([['format', 'pt'], ['note', 'ünïcode ✓'], ['__proto__', 'a plain key']]);

  function checkAll(file: SafetensorsFile): void {
    expect(file.names()).toEqual(tensors.map((t) => t.name));
    expect(file.metadata).toEqual(metadata);
    expect(Object.hasOwn(file.metadata, '__proto__')).toBe(true);
    for (const t of tensors) {
      const info = file.info(t.name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(info.byteLength).toBe(t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype]);
    }
    expectSameValues(file.readFloat64('f64'), f64);
    expectSameValues(file.readFloat32('f64'), Float32Array.from(f64)); // rounded to nearest
    expectSameValues(file.readFloat32('f32'), f32);
    expectSameValues(file.readFloat64('f32'), f32);
    expectSameValues(file.readFloat32('f16'), f16ToF32(f32ToF16(f32)));
    expectSameValues(file.readFloat64('f16'), f16ToF32(f32ToF16(f32)));
    expectSameValues(file.readFloat32('bf16'), bf16ToF32(f32ToBf16(f32)));
    expect(new BigInt64Array(file.readBytes('i64').buffer)).toEqual(i64);
    expectSameValues(file.readInt32('i32'), i32);
    expectSameValues(file.readFloat32('scalar'), [7.25]);
    expect(file.readFloat32('empty').length).toBe(0);
    expect(file.readInt32('also empty').length).toBe(0);
    expectSameValues(file.readInt32('u8'), [0, 128, 255]);
    expectSameValues(file.readInt32('bool'), [1, 0]);
    expectSameValues(file.readInt32('i8'), [-1, 127]);
    expectSameValues(file.readInt32('i16'), [-2, -32767]);
    expectSameValues(file.readInt32('u16'), [65535]);
    expectSameValues(file.readInt32('u32'), [1]);
    expectError(() => file.readInt32('i64'), /tensor "i64": element 4 is 9007199254740993, outside the int32 range/);
    expectError(() => file.readFloat32('i32'), /tensor "i32": is I32; readFloat32 reads F32, F16, BF16 and F64/);
    expectError(() => file.readInt32('f32'), /tensor "f32": is F32; readInt32 reads integer and BOOL tensors/);
  }

  test('every dtype, special values, scalars and empty tensors, in memory', () => {
    const bytes = serializeSafetensors(tensors, metadata);
    checkAll(SafetensorsFile.fromBytes(bytes));
  });

  test('the same through a file on disk, with positional reads', () => {
    const file = path.join(tmp, 'all.safetensors');
    const size = writeSafetensors(file, tensors, metadata);
    expect(fs.statSync(file).size).toBe(size);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const opened = SafetensorsFile.open(file);
    checkAll(opened);
    opened.close();
    opened.close();
    expectError(() => opened.readFloat32('f32'), /all\.safetensors: tensor "f32": the file is closed/);
  });

  test('the alternative inputs each dtype accepts convert as documented', () => {
    const bits = f32ToBf16(Float32Array.from([1.5, -2]));
    const file = SafetensorsFile.fromBytes(
      serializeSafetensors([
        { name: 'f64 from f32', dtype: 'F64', shape: [2], data: Float32Array.from([0.1, -3]) },
        { name: 'f32 from f64', dtype: 'F32', shape: [2], data: Float64Array.from([0.1, 1e300]) },
        { name: 'bf16 bits', dtype: 'BF16', shape: [2], data: bits },
        { name: 'i64 from i32', dtype: 'I64', shape: [2], data: Int32Array.from([-7, 2147483647]) },
        { name: 'i32 from i64', dtype: 'I32', shape: [2], data: BigInt64Array.from([-7n, 5n]) },
      ]),
    );
    expectSameValues(file.readFloat64('f64 from f32'), Float32Array.from([0.1, -3]));
    expectSameValues(file.readFloat32('f32 from f64'), [Math.fround(0.1), Infinity]);
    expectSameValues(file.readFloat32('bf16 bits'), [1.5, -2]);
    expectSameValues(file.readInt32('i64 from i32'), [-7, 2147483647]);
    expectSameValues(file.readInt32('i32 from i64'), [-7, 5]);
  });

  test('tensors larger than one conversion chunk (reading 16 MB, writing 4M elements at a time)', () => {
    const n = 2 ** 23 + 3; // BF16: just over one 16 MB read chunk, two and a bit write chunks
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = ((i * 7919) % 65521) * 1.0001 - 30000;
    const file = path.join(tmp, 'large.safetensors');
    writeSafetensors(file, [
      { name: 'big', dtype: 'BF16', shape: [n], data: values },
      { name: 'tail', dtype: 'F32', shape: [1], data: Float32Array.of(5) },
    ]);
    const opened = SafetensorsFile.open(file);
    const expected = new Uint32Array(bf16ToF32(f32ToBf16(values)).buffer);
    const actual = new Uint32Array(opened.readFloat32('big').buffer);
    let firstWrong = -1;
    for (let i = 0; i < n && firstWrong < 0; i++) if (actual[i] !== expected[i]) firstWrong = i;
    expect(firstWrong).toBe(-1);
    expect(opened.readFloat32('tail')).toEqual(Float32Array.of(5));
    opened.close();
  });

  test('the header is compact JSON, metadata first, padded with spaces to a multiple of 8', () => {
    const bytes = serializeSafetensors([{ name: '10', dtype: 'F32', shape: [1], data: Float32Array.of(1) }, { name: '2', dtype: 'F32', shape: [], data: Float32Array.of(2) }], { format: 'pt' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe('{"__metadata__":{"format":"pt"},"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"2":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}');
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    expect(bytes.length).toBe(8 + n + 8);
  });

  test('bad input to the writer is an error naming the tensor, and writes no file', () => {
    const ok = { name: 'a', dtype: 'F32' as const, shape: [2], data: new Float32Array(2) };
    const target = path.join(tmp, 'never.safetensors');
    const attempt = (tensors: unknown[], metadata?: unknown) => () => writeSafetensors(target, tensors as TensorToWrite[], metadata as Record<string, string>);
    expectError(attempt([ok, ok]), /never\.safetensors: tensor "a": appears twice/);
    expectError(attempt([{ ...ok, data: new Float32Array(3) }]), /tensor "a": shape \[2\] has 2 elements, the data holds 3/);
    expectError(attempt([{ ...ok, name: 5 }]), /tensor 0 has no string name \(found number\)/);
    expectError(attempt([{ ...ok, name: '__metadata__' }]), /reserved for metadata/);
    expectError(attempt([{ ...ok, dtype: 'F8' }]), /tensor "a": unknown dtype "F8"/);
    expectError(attempt([{ ...ok, shape: [2, -1] }]), /shape must be an array of non-negative integers, found \[2,-1\]/);
    expectError(attempt([{ ...ok, data: new Int32Array(2) }]), /tensor "a": F32 data must be Float32Array or Float64Array or Uint8Array \(raw bytes\), found Int32Array/);
    expectError(attempt([{ ...ok, dtype: 'I16', data: new Int32Array(2) }]), /I16 data must be Uint8Array \(raw bytes\)/);
    expectError(attempt([{ ...ok, data: new Uint8Array(7) }]), /F32 \[2\] needs 8 raw bytes, the Uint8Array holds 7/);
    expectError(attempt([{ ...ok, dtype: 'I32', data: BigInt64Array.of(1n, 2n ** 40n) }]), /tensor "a": element 1 is 1099511627776, which does not fit I32/);
    expectError(attempt([ok], { format: 3 }), /metadata must be a map of string to string, but key "format" holds number/);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('never'))).toEqual([]);
  });
});

describe('golden files', () => {
  const config = JSON.parse(fs.readFileSync(goldenPath('models/tiny/config.json'), 'utf8')) as Record<string, unknown>;
  const shapes = expectedGemma2Shapes(config);

  test('models/tiny/model.safetensors: every weight has the shape config.json implies, and rewriting it gives the same bytes', () => {
    const file = SafetensorsFile.open(goldenPath('models/tiny/model.safetensors'));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(new Set(file.names())).toEqual(new Set(shapes.keys()));
    const rewritten: TensorToWrite[] = [];
    for (const name of file.names()) {
      const info = file.info(name);
      expect(info.dtype, name).toBe('F32');
      expect(info.shape, name).toEqual(shapes.get(name));
      const data = file.readFloat32(name);
      expect(data.every(Number.isFinite), name).toBe(true);
      rewritten.push({ name, dtype: 'F32', shape: info.shape, data });
    }
    file.close();
    const original = fs.readFileSync(goldenPath('models/tiny/model.safetensors'));
    expect(Buffer.from(serializeSafetensors(rewritten, { format: 'pt' })).equals(original)).toBe(true);
  });

  test('models/tiny-bf16 shards: BF16, the implied shapes, and rewriting each shard gives the same bytes', () => {
    const bf16Config = JSON.parse(fs.readFileSync(goldenPath('models/tiny-bf16/config.json'), 'utf8')) as Record<string, unknown>;
    const bf16Shapes = expectedGemma2Shapes(bf16Config);
    const seen = new Set<string>();
    for (const shard of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      const file = SafetensorsFile.open(goldenPath(`models/tiny-bf16/${shard}`));
      const rewritten: TensorToWrite[] = file.names().map((name) => {
        const info = file.info(name);
        expect(info.dtype, name).toBe('BF16');
        expect(info.shape, name).toEqual(bf16Shapes.get(name));
        seen.add(name);
        // bf16 -> f32 -> bf16 is the identity, so this reproduces the stored bits.
        return { name, dtype: 'BF16', shape: info.shape, data: file.readFloat32(name) };
      });
      expect(Buffer.from(serializeSafetensors(rewritten, file.metadata)).equals(fs.readFileSync(goldenPath(`models/tiny-bf16/${shard}`)))).toBe(true);
      file.close();
    }
    expect(seen).toEqual(new Set(bf16Shapes.keys()));
  });

  test('cases/tiny-causal-lm: F64 and I64 tensors, __metadata__.case, and hidden_states.0 = embedding rows x sqrt(H)', () => {
    const file = SafetensorsFile.open(goldenPath('cases/tiny-causal-lm.safetensors'));
    const meta = JSON.parse(file.metadata.case) as Record<string, unknown>;
    expect(meta).toMatchObject({ name: 'tiny-causal-lm', model: 'tiny', kind: 'causal_lm', compute_dtype: 'float64', tolerance: { atol: 1e-4, rtol: 1e-4 } });
    const [V, H, L] = [config.vocab_size, config.hidden_size, config.num_hidden_layers] as number[];
    const ids = file.info('input_ids');
    expect(ids.dtype).toBe('I64');
    const [B, T] = ids.shape;
    expect(file.info('labels')).toMatchObject({ dtype: 'I64', shape: [B, T] });
    expect(file.info('logits')).toMatchObject({ dtype: 'F64', shape: [B, T, V] });
    expect(file.info('loss')).toMatchObject({ dtype: 'F64', shape: [] });
    for (let i = 0; i <= L; i++) expect(file.info(`hidden_states.${i}`)).toMatchObject({ dtype: 'F64', shape: [B, T, H] });
    const tokens = file.readInt32('input_ids');
    expect(Array.from(tokens)).toEqual(Array.from(new BigInt64Array(file.readBytes('input_ids').buffer), Number));
    expect(tokens.every((t) => t >= 0 && t < V)).toBe(true);
    const loss = file.readFloat64('loss');
    expect(loss.length).toBe(1);
    expect(loss[0]).toBeGreaterThan(0);
    // Reading three dtypes from two files must agree: the first hidden state is the scaled embedding (x8 is exact).
    const model = SafetensorsFile.open(goldenPath('models/tiny/model.safetensors'));
    const embed = model.readFloat32('model.embed_tokens.weight');
    const h0 = file.readFloat64('hidden_states.0');
    let worst = 0;
    tokens.forEach((token, position) => {
      for (let j = 0; j < H; j++) worst = Math.max(worst, Math.abs(h0[position * H + j] - embed[token * H + j] * Math.sqrt(H)));
    });
    expect(worst).toBe(0);
    model.close();
    file.close();
  });
});

describe('malformed files are SafetensorsError naming the file and tensor', () => {
  const valid = serializeSafetensors([
    { name: 'a', dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: 'b', dtype: 'I64', shape: [2], data: BigInt64Array.of(1n, 2n) },
  ]);
  const validHeaderLength = Number(new DataView(valid.buffer).getBigUint64(0, true));

  test('a file cut anywhere', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), (cut) => {
        const error = expectError(() => parseSafetensorsHeader(valid.subarray(0, cut), 'cut.safetensors'), /^cut\.safetensors: /);
        if (cut < 8) expect(error.message).toMatch(/the file is \d+ bytes, shorter than the 8-byte header length/);
        else if (cut < 8 + validHeaderLength) expect(error.message).toMatch(/header length \d+ runs past the end of the file/);
        else expect(error.message).toMatch(/tensor "[ab]": data_offsets \[\d+, \d+\] lie outside the data section \(\d+ bytes\)/);
      }),
      { numRuns: 100 },
    );
  });

  test('a file on disk shorter than 8 bytes, one that does not exist, and a folder', () => {
    const file = path.join(tmp, 'short.safetensors');
    fs.writeFileSync(file, Uint8Array.of(1, 2, 3));
    expectError(() => SafetensorsFile.open(file), /short\.safetensors: the file is 3 bytes, shorter than the 8-byte header length/);
    expectError(() => SafetensorsFile.open(path.join(tmp, 'nope.safetensors')), /nope\.safetensors: cannot open the file \(ENOENT\)/);
    expectError(() => SafetensorsFile.open(tmp), /: not a regular file$/);
  });

  test('a file truncated after it was opened', () => {
    const file = path.join(tmp, 'shrinking.safetensors');
    fs.writeFileSync(file, valid);
    const opened = SafetensorsFile.open(file);
    fs.truncateSync(file, valid.length - 4);
    expectError(() => opened.readInt32('b'), /shrinking\.safetensors: tensor "b": the file ended at byte \d+ .*truncated after it was opened/);
    opened.close();
  });

  test('absurd header lengths, checked before anything is allocated', () => {
    for (const n of [BigInt(MAX_HEADER_BYTES) + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
      const bytes = valid.slice();
      new DataView(bytes.buffer).setBigUint64(0, n, true);
      expectError(() => parseSafetensorsHeader(bytes, 'x.safetensors'), new RegExp(`x\\.safetensors: header length ${n} is absurd: the format allows at most 100000000 bytes`));
    }
    const bytes = valid.slice();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(valid.length - 7), true);
    expectError(() => parseSafetensorsHeader(bytes), /<memory>: header length \d+ runs past the end of the file \(\d+ bytes, so at most \d+\)/);
  });

  const cases: [string, string, number, RegExp][] = [
    ['bad JSON', '{"a": {', 0, /the header is not valid JSON .*it starts "\{\\"a\\": \{"/],
    ['not an object', '[1, 2]', 0, /the header must be a JSON object, found \[1,2\]/],
    ['null', 'null', 0, /the header must be a JSON object, found null/],
    ['empty header', '', 0, /the header is not valid JSON/],
    ['unknown dtype', `{"w": ${entry('F8_E4M3', [2], [0, 2])}}`, 2, /tensor "w": unknown dtype "F8_E4M3" \(known: F64, F32, F16, BF16, I64, I32/],
    ['inherited property as dtype', `{"w": ${entry('toString', [2], [0, 2])}}`, 2, /tensor "w": unknown dtype "toString"/],
    ['negative dim', `{"w": ${entry('F32', [-1], [0, 4])}}`, 4, /tensor "w": shape must be an array of non-negative integers, found \[-1\]/],
    ['fractional dim', `{"w": ${entry('F32', [1.5], [0, 4])}}`, 4, /shape must be an array of non-negative integers, found \[1.5\]/],
    ['shape not an array', `{"w": ${entry('F32', '4', [0, 4])}}`, 4, /shape must be an array of non-negative integers, found "4"/],
    ['huge dim', `{"w": ${entry('F32', [2 ** 60], [0, 4])}}`, 4, /shape must be an array of non-negative integers/],
    ['three offsets', `{"w": ${entry('F32', [1], [0, 4, 8])}}`, 4, /data_offsets must be two non-negative integers \[begin, end\], found \[0,4,8\]/],
    ['offsets backwards', `{"w": ${entry('F32', [1], [4, 0])}}`, 4, /tensor "w": data_offsets \[4, 0\] end before they begin/],
    ['dtype x shape != bytes', `{"w": ${entry('F32', [2, 3], [0, 20])}}`, 20, /tensor "w": F32 \[2,3\] needs 24 bytes, but data_offsets \[0, 20\] hold 20/],
    ['offsets out of range', `{"w": ${entry('F32', [2], [0, 8])}}`, 4, /tensor "w": data_offsets \[0, 8\] lie outside the data section \(4 bytes\)/],
    ['overlap', `{"a": ${entry('F32', [2], [0, 8])}, "b": ${entry('F32', [2], [4, 12])}}`, 12, /tensor "b": data_offsets \[4, 12\] overlap those of "a" \[0, 8\]/],
    ['same range twice', `{"a": ${entry('F32', [1], [0, 4])}, "b": ${entry('F32', [1], [0, 4])}}`, 4, /overlap those of "a"/],
    ['empty tensor inside another', `{"a": ${entry('F32', [2], [0, 8])}, "e": ${entry('F32', [0], [4, 4])}}`, 8, /tensor "e": data_offsets \[4, 4\] overlap those of "a"/],
    ['hole in the middle', `{"a": ${entry('F32', [1], [0, 4])}, "b": ${entry('F32', [1], [8, 12])}}`, 12, /the data section has a hole: bytes \[4, 8\) after "a" belong to no tensor \(next is "b"\)/],
    ['hole at the start', `{"a": ${entry('F32', [1], [4, 8])}}`, 8, /hole: bytes \[0, 4\) at the start of the data section/],
    ['trailing bytes', `{"a": ${entry('F32', [1], [0, 4])}}`, 10, /the data section is 10 bytes but the tensors cover only 4: 6 trailing bytes belong to no tensor/],
    ['entry not an object', '{"a": [1, 2]}', 0, /tensor "a": the header entry must be an object \{dtype, shape, data_offsets\}, found \[1,2\]/],
    ['metadata not a map', '{"__metadata__": ["pt"]}', 0, /__metadata__ must be a map of string to string, found \["pt"\]/],
    ['metadata value not a string', '{"__metadata__": {"format": 1}}', 0, /__metadata__ must be a map of string to string, but key "format" holds 1/],
  ];
  test.each(cases)('%s', (_, header, dataBytes, message) => {
    const error = expectError(() => parseSafetensorsHeader(fileWithHeader(header, dataBytes), 'bad.safetensors'), message);
    expect(error.message.startsWith('bad.safetensors: ')).toBe(true);
  });

  test('invalid UTF-8 in the header', () => {
    const bytes = fileWithHeader('{"a":1}  ');
    bytes[10] = 0xff;
    expectError(() => parseSafetensorsHeader(bytes), /the header is not valid UTF-8/);
  });

  test('the same rules apply to files on disk, before any tensor is read', () => {
    const file = path.join(tmp, 'overlap.safetensors');
    fs.writeFileSync(file, fileWithHeader(`{"a": ${entry('F32', [2], [0, 8])}, "b": ${entry('F32', [2], [4, 12])}}`, 12));
    const error = expectError(() => SafetensorsFile.open(file), /overlap\.safetensors: tensor "b": data_offsets \[4, 12\] overlap/);
    expect(error.source).toBe(file);
    expect(error.tensor).toBe('b');
  });

  test('an unknown tensor name lists the closest names', () => {
    const file = SafetensorsFile.fromBytes(
      serializeSafetensors(['x.0.w', 'x.1.w', 'x.1.b', 'y', 'z', 'q', 'r'].map((name) => ({ name, dtype: 'F32' as const, shape: [], data: Float32Array.of(0) }))),
      'named.safetensors',
    );
    expectError(() => file.info('x.1.v'), /^named\.safetensors: tensor "x\.1\.v": no such tensor; the file has 7 tensors, e\.g\. "x\.1\.w", "x\.1\.b", "x\.0\.w", "y", "z", \.\.\.$/);
    expectError(() => file.readFloat32('nope'), /no such tensor/);
  });
});

describe('fuzz: any bytes parse into an in-bounds header or throw SafetensorsError', () => {
  const dtypeArb = fc.constantFrom<SafetensorsDType>('F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL');
  const tensorArb = fc.record({
    name: fc.string({ maxLength: 6 }),
    dtype: dtypeArb,
    shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
  });
  const validFileArb = fc
    .uniqueArray(tensorArb, { selector: (t) => t.name, maxLength: 5 })
    .filter((ts) => ts.every((t) => t.name !== '__metadata__'))
    .map((ts) =>
      serializeSafetensors(
        ts.map((t) => {
          const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype];
          return { ...t, data: Uint8Array.from({ length: bytes }, (_, i) => (i * 37 + t.name.length) & 0xff) };
        }),
        { format: 'pt' },
      ),
    );

  /** The property: a parse must describe only bytes that exist, tiled exactly; a failure must be a SafetensorsError. */
  function check(bytes: Uint8Array): void {
    let header;
    try {
      header = parseSafetensorsHeader(bytes, 'fuzz');
    } catch (error) {
      if (!(error instanceof SafetensorsError)) throw error;
      expect(error.message.startsWith('fuzz: ')).toBe(true);
      return;
    }
    expect(header.dataStart + header.dataLength).toBe(bytes.length);
    let covered = 0;
    for (const t of header.tensors) {
      expect(t.begin).toBeGreaterThanOrEqual(0);
      expect(t.end).toBeLessThanOrEqual(header.dataLength);
      expect(t.end - t.begin).toBe(t.byteLength);
      expect(t.byteLength).toBe(t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[t.dtype]);
      covered += t.byteLength;
    }
    expect(covered).toBe(header.dataLength);
    const file = SafetensorsFile.fromBytes(bytes, 'fuzz');
    for (const name of file.names()) expect(file.readBytes(name).length).toBe(file.info(name).byteLength);
  }

  test('random byte strings (with a plausible length field half the time)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, fixLength) => {
        if (fixLength && bytes.length >= 8) new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(0, BigInt(bytes.length - 8 - (bytes[8] ?? 0) % 16), true);
        check(bytes);
      }),
      { numRuns: 400 },
    );
  });

  test('valid files parse and read back', () => {
    fc.assert(fc.property(validFileArb, (bytes) => {
      expect(() => parseSafetensorsHeader(bytes)).not.toThrow();
      check(bytes);
    }), { numRuns: 100 });
  });

  test('structurally valid headers with random offsets (overlaps, holes, out of range, the odd valid tiling)', () => {
    const entryArb = fc.record({ dtype: dtypeArb, shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }), begin: fc.integer({ min: 0, max: 40 }) });
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 4 }), fc.integer({ min: 0, max: 60 }), (entries, dataBytes) => {
        const header = entries.map((e, i) => {
          const size = e.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZES[e.dtype];
          return `"t${i}": ${entry(e.dtype, e.shape, [e.begin, e.begin + size])}`;
        });
        check(fileWithHeader(`{${header.join(',')}}`, dataBytes));
      }),
      { numRuns: 400 },
    );
  });

  test('valid files with random bytes overwritten', () => {
    fc.assert(
      fc.property(validFileArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (valid, edits) => {
        const bytes = valid.slice();
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        check(bytes);
      }),
      { numRuns: 400 },
    );
  });

  test('valid files with digits of the header JSON changed (offsets, shapes, lengths)', () => {
    fc.assert(
      fc.property(validFileArb, fc.array(fc.tuple(fc.nat(), fc.constantFrom(...'0123456789-.e ,]['.split(''))), { minLength: 1, maxLength: 3 }), (valid, edits) => {
        const bytes = valid.slice();
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        const digits: number[] = [];
        for (let i = 8; i < 8 + n; i++) if (bytes[i] >= 0x30 && bytes[i] <= 0x39) digits.push(i);
        if (digits.length === 0) return;
        for (const [at, char] of edits) bytes[digits[at % digits.length]] = char.charCodeAt(0);
        check(bytes);
      }),
      { numRuns: 400 },
    );
  });

  test('valid files truncated, or extended, or with the header-length field rewritten', () => {
    fc.assert(
      fc.property(
        validFileArb,
        fc.oneof(
          fc.record({ cut: fc.nat() }),
          fc.record({ extra: fc.integer({ min: 1, max: 16 }) }),
          fc.record({ length: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 400n })) }),
          fc.record({ delta: fc.integer({ min: -16, max: 16 }) }),
        ),
        (valid, change) => {
          let bytes = valid.slice();
          const view = () => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          if ('cut' in change) bytes = bytes.subarray(0, change.cut % bytes.length);
          else if ('extra' in change) bytes = Uint8Array.from([...bytes, ...new Uint8Array(change.extra).fill(0x20)]);
          else if ('length' in change) view().setBigUint64(0, change.length, true);
          else {
            const n = view().getBigUint64(0, true) + BigInt(change.delta);
            if (n >= 0n) view().setBigUint64(0, n, true);
          }
          check(bytes);
        },
      ),
      { numRuns: 400 },
    );
  });
});
