// Byte sources and model folders: reads in memory and on disk, Blobs and
// Files, checkpoints (one file and shards) opened from bytes exactly as from
// disk, saving into memory, and the errors: a read past the end, a truncated
// file, a missing shard, a missing file, a path where no file system exists,
// each naming the file.

import { describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { IoError, MemoryByteSource, byteSourceFromBlob, readAllBytes } from '../../lib/io/byte-source.ts';
import { FileByteSource } from '../../lib/io/node-files.ts';
import { MemoryModelFolder } from '../../lib/io/memory-folder.ts';
import { DirectoryFolder } from '../../lib/io/directory-folder.ts';
import { openModelFolder } from '../../lib/io/open-folder.ts';
import { CheckpointError, openCheckpoint, saveCheckpoint } from '../../lib/io/checkpoint.ts';
import { SafetensorsError, SafetensorsFile, serializeSafetensors, writeSafetensorsTo } from '../../lib/io/safetensors.ts';
import { goldenPath } from '../golden-files.ts';
import { tempDir } from '../temp-dir.ts';

const tmp = tempDir('model-folder');

/** The files of a golden model folder as bytes, named `label`. */
function goldenFolderBytes(model: string, label = model): MemoryModelFolder {
  const dir = goldenPath(`models/${model}`);
  return new MemoryModelFolder(
    fs.readdirSync(dir).map((file) => [file, new Uint8Array(fs.readFileSync(path.join(dir, file)))]),
    label,
  );
}

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, nothing was thrown');
}

const bytes = Uint8Array.from({ length: 32 }, (_, i) => i);

describe('byte sources', () => {
  test('memory: reads any range, from a Uint8Array (not copied) or an ArrayBuffer', () => {
    for (const source of [new MemoryByteSource(bytes, 'b'), new MemoryByteSource(bytes.slice().buffer, 'b')]) {
      expect(source.size).toBe(32);
      const target = new Uint8Array(5);
      source.read(target, 27);
      expect(Array.from(target)).toEqual([27, 28, 29, 30, 31]);
      source.read(new Uint8Array(0), 32);
      expect(Array.from(readAllBytes(source))).toEqual(Array.from(bytes));
    }
  });

  test('a read past the end, at a negative position, or after close is an IoError naming the source', () => {
    const source = new MemoryByteSource(bytes, 'weights.bin');
    let error = thrown(() => source.read(new Uint8Array(4), 30));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toBe('weights.bin: cannot read bytes [30, 34): the source holds 32 bytes');
    expect(thrown(() => source.read(new Uint8Array(1), -1)).message).toMatch(/weights\.bin: cannot read bytes \[-1, 0\)/);
    source.close();
    source.close();
    error = thrown(() => source.read(new Uint8Array(1), 0));
    expect(error.message).toBe('weights.bin: the source is closed');
    expect(thrown(() => new MemoryByteSource([1, 2] as unknown as Uint8Array, 'x')).message).toBe('x: expected a Uint8Array or an ArrayBuffer, got Array');
  });

  test('a file on disk: positional reads, and a read past its end names the file', () => {
    const file = path.join(tmp, 'bytes.bin');
    fs.writeFileSync(file, bytes);
    const source = FileByteSource.open(file);
    const target = new Uint8Array(3);
    source.read(target, 10);
    expect(Array.from(target)).toEqual([10, 11, 12]);
    expect(thrown(() => source.read(new Uint8Array(8), 30)).message).toBe(`${file}: cannot read bytes [30, 38): the source holds 32 bytes`);
    source.close();
    expect(thrown(() => source.read(target, 0)).message).toBe(`${file}: the file is closed`);
    expect(thrown(() => FileByteSource.open(path.join(tmp, 'absent.bin'))).message).toMatch(/absent\.bin: cannot open the file \(ENOENT\)/);
    expect(thrown(() => FileByteSource.open(tmp)).message).toBe(`${tmp}: not a regular file`);
  });

  test('a Blob or a File is read into memory first (named by the File)', async () => {
    const fromBlob = await byteSourceFromBlob(new Blob([bytes]));
    expect([fromBlob.name, fromBlob.size]).toEqual(['<blob>', 32]);
    const fromFile = await byteSourceFromBlob(new File([bytes], 'model.safetensors'));
    expect(fromFile.name).toBe('model.safetensors');
    expect(Array.from(readAllBytes(fromFile))).toEqual(Array.from(bytes));
    const file = SafetensorsFile.fromSource(await byteSourceFromBlob(new File([serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }])], 'w.safetensors')));
    expect([file.path, Array.from(file.readFloat32('w'))]).toEqual(['w.safetensors', [1, 2]]);
  });
});

describe('memory model folders', () => {
  test('files by name, as bytes or text; a missing file lists what is there', () => {
    const folder = new MemoryModelFolder({ 'config.json': '{"a": 1}', 'w.bin': bytes, 'x.bin': bytes.slice().buffer }, 'my-model');
    expect(folder.list().sort()).toEqual(['config.json', 'w.bin', 'x.bin']);
    expect([folder.has('w.bin'), folder.has('nope')]).toEqual([true, false]);
    expect(JSON.parse(folder.readText('config.json'))).toEqual({ a: 1 });
    expect(folder.open('x.bin').size).toBe(32);
    expect(folder.open('w.bin').name).toBe('my-model/w.bin');
    const error = thrown(() => folder.open('tokenizer.json'));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toBe('my-model/tokenizer.json: no such file in the folder (it has config.json, w.bin, x.bin)');
    expect(thrown(() => new MemoryModelFolder({ 'a.bin': Uint8Array.of(0xff) }).readText('a.bin')).message).toBe('<memory>/a.bin: is not valid UTF-8 text');
    expect(thrown(() => new MemoryModelFolder({ 'sub/config.json': '{}' })).message).toMatch(/"sub\/config\.json" is not a file name \(a model folder is flat: no paths\)/);
    expect(thrown(() => new MemoryModelFolder({ 'a.bin': 7 as unknown as string })).message).toBe('<memory>/a.bin: content must be a Uint8Array, an ArrayBuffer or a string, got number');
  });

  test('from the Files of a picked folder: each under its name, the folder named after theirs', async () => {
    const withPath = (file: File, relative: string) => Object.assign(file, { webkitRelativePath: relative });
    const folder = await MemoryModelFolder.fromFiles([
      withPath(new File(['{"model_type": "gemma2"}'], 'config.json'), 'gemma-tiny/config.json'),
      withPath(new File([bytes], 'model.safetensors'), 'gemma-tiny/model.safetensors'),
    ]);
    expect(folder.name).toBe('gemma-tiny');
    expect(folder.list()).toEqual(['config.json', 'model.safetensors']);
    expect(folder.readText('config.json')).toBe('{"model_type": "gemma2"}');
    expect((await MemoryModelFolder.fromFiles([new File(['x'], 'a.txt')])).name).toBe('<files>');
    await expect(MemoryModelFolder.fromFiles([new File(['x'], 'config.json'), new File(['y'], 'config.json')], 'drop')).rejects.toThrow(
      /drop: two files are named "config\.json" \(a model folder is flat/,
    );
    await expect(MemoryModelFolder.fromFiles(['config.json'] as unknown as File[], 'drop')).rejects.toThrow('drop: files[0] must be a File, got string');
  });

  test('a sink: written files read back; removed ones are gone', () => {
    const folder = new MemoryModelFolder({}, 'out');
    writeSafetensorsTo(folder, 'w.safetensors', [{ name: 'w', dtype: 'BF16', shape: [3], data: Float32Array.of(1, 2, 3) }]);
    expect(Array.from(SafetensorsFile.openIn(folder, 'w.safetensors').readFloat32('w'))).toEqual([1, 2, 3]);
    folder.remove('w.safetensors');
    expect(folder.list()).toEqual([]);
  });
});

describe('checkpoints from bytes', () => {
  test('the sharded BF16 golden model opens from bytes exactly as from disk', () => {
    const fromDisk = openCheckpoint(goldenPath('models/tiny-bf16'));
    const fromBytes = openCheckpoint(goldenFolderBytes('tiny-bf16'));
    expect(fromBytes.dir).toBe('tiny-bf16');
    expect(fromBytes.files).toEqual(fromDisk.files);
    expect(fromBytes.files.length).toBe(2);
    expect(fromBytes.config).toEqual(fromDisk.config);
    expect(fromBytes.names()).toEqual(fromDisk.names());
    for (const name of fromDisk.names()) {
      expect(fromBytes.info(name)).toEqual(fromDisk.info(name));
      expect(fromBytes.readFloat32(name)).toEqual(fromDisk.readFloat32(name));
    }
    fromDisk.close();
    fromBytes.close();
  });

  test('a missing shard, a truncated shard, a truncated single file, no config: errors name the file', () => {
    const withoutShard = goldenFolderBytes('tiny-bf16', 'mem-bf16');
    withoutShard.remove('model-00002-of-00002.safetensors');
    let error = thrown(() => openCheckpoint(withoutShard));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/^mem-bf16: shard model-00002-of-00002\.safetensors is missing \(model\.safetensors\.index\.json puts \d+ weights there/);

    const truncatedShard = goldenFolderBytes('tiny-bf16', 'mem-bf16');
    const shard = truncatedShard.bytes('model-00002-of-00002.safetensors');
    truncatedShard.set('model-00002-of-00002.safetensors', shard.subarray(0, shard.length - 10));
    error = thrown(() => openCheckpoint(truncatedShard));
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(error.message).toMatch(/^mem-bf16\/model-00002-of-00002\.safetensors: tensor ".*": data_offsets \[\d+, \d+\] lie outside the data section/);

    const truncated = goldenFolderBytes('tiny', 'mem-tiny');
    truncated.set('model.safetensors', truncated.bytes('model.safetensors').subarray(0, 6));
    error = thrown(() => openCheckpoint(truncated));
    expect(error.message).toBe('mem-tiny/model.safetensors: the file is 6 bytes, shorter than the 8-byte header length that starts every safetensors file');

    const noConfig = goldenFolderBytes('tiny', 'mem-tiny');
    noConfig.remove('config.json');
    expect(thrown(() => openCheckpoint(noConfig)).message).toBe('mem-tiny: no config.json in the folder');
    const badConfig = goldenFolderBytes('tiny', 'mem-tiny');
    badConfig.set('config.json', '{');
    expect(thrown(() => openCheckpoint(badConfig)).message).toMatch(/^mem-tiny\/config\.json: the model config is not valid JSON/);
  });

  test('saved into memory, sharded, and opened back', () => {
    const source = openCheckpoint(goldenPath('models/tiny'));
    const weights = source.names().map((name) => ({ name, shape: source.info(name).shape, data: source.readFloat32(name) }));
    const folder = new MemoryModelFolder({ 'model.safetensors': bytes }, 'saved');
    const saved = saveCheckpoint(folder, source.config as Record<string, unknown>, weights, { maxShardBytes: 100_000 });
    expect(saved.files.length).toBeGreaterThan(1);
    // the stale single file of an "earlier save" is gone; shards, index and config are there
    expect(folder.list().sort()).toEqual([...saved.files, 'config.json', 'model.safetensors.index.json'].sort());
    const reopened = openCheckpoint(folder);
    for (const { name, data } of weights) expect(reopened.readFloat32(name)).toEqual(data);
    source.close();
  });
});

describe('paths', () => {
  test('a directory is a folder; a missing path or a file is not', () => {
    const folder = openModelFolder(goldenPath('models/tiny'));
    expect(folder).toBeInstanceOf(DirectoryFolder);
    expect(folder.describe('config.json')).toBe(path.join(goldenPath('models/tiny'), 'config.json'));
    expect(thrown(() => openModelFolder(path.join(tmp, 'none'))).message).toBe(`${path.join(tmp, 'none')}: not a folder (nothing exists at that path)`);
    expect(thrown(() => openModelFolder(goldenPath('models/tiny/config.json'))).message).toMatch(/config\.json: not a folder \(it is a file\)$/);
    expect(thrown(() => openModelFolder(42 as unknown as string)).message).toBe('<model folder>: expected a path or a ModelFolder (a DirectoryFolder or MemoryModelFolder), got number');
  });

  test('where there is no file system (a browser), a path is an error that says what to pass instead', () => {
    vi.spyOn(process, 'getBuiltinModule').mockReturnValue(undefined);
    try {
      const error = thrown(() => openCheckpoint('models/tiny'));
      expect(error).toBeInstanceOf(CheckpointError);
      expect(error.message).toMatch(/^models\/tiny: cannot read or write a path here: paths are read only on Node; elsewhere pass the bytes: a MemoryModelFolder/);
      expect(thrown(() => SafetensorsFile.open('w.safetensors'))).toBeInstanceOf(SafetensorsError);
      // memory folders need no file system
      expect(openCheckpoint(goldenFolderBytes('tiny')).names().length).toBe(46);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
