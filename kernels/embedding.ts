// Embedding lookup and its backward.
//   gather:  out[t][h] = table[ids[t]][h]            table box [H, V], out box [H, T]
//   scatter: rows[u][h] = sum over the positions t with ids[t] = unique[u] of g[t][h],
//            in position order, the cascade order of sum-order.ts
// The table is read with (row, column) coordinates, so a vocabulary of any
// size (gemma-2-2b: 256000 x 2304 = 590M elements) is indexed exactly. The
// backward is written gather-style: the host groups positions by id (CSR:
// rowStart, positions) and each thread sums its row's positions, so the work
// is proportional to the tokens, not to the vocabulary.
//
// On the CPU path the gather is a row copy per token (a kernel would first copy
// the whole table into its memory); the backward stays the GPU.js kernel on
// both paths (it is small: one thread per looked-up row value).
//
// The table may be a bfloat16 weight (a Uint16Array of bf16 bits, kept as its
// checkpoint stores it: lib/tensor/dtype.ts). The CPU path widens each row as
// it copies it; the GPU.js kernel gathers from a float32 table of just the
// rows the ids look up (widened at launch, the ids renumbered), not the whole
// vocabulary. Widening is exact, so the rows are the float32 table's bits.

import { outputArray } from '../lib/tensor/arena.ts';
import { boxed, launch } from './launch.ts';
import { defineKernel } from './registry.ts';
import { cascadeKernel } from './sum-order.ts';
import { type TypedData, widenBfloat16 } from '../lib/tensor/dtype.ts';

function embeddingGather(this: any, table: number[][], ids: number[]): number {
  return table[ids[this.thread.y]][this.thread.x];
}

// thread (h, u): the positions of distinct id u are positions[rowStart[u] ..< rowStart[u + 1]]
const embeddingScatterRows = cascadeKernel({
  params: 'g, positions, rowStart',
  setup: 'const start = rowStart[this.thread.y]; const count = rowStart[this.thread.y + 1] - start;',
  length: 'this.constants.maxCount',
  when: 'i < count',
  term: 'g[positions[start + i]][this.thread.x]',
});

const gpujsGather = (table: TypedData, vocab: number, hidden: number, ids: TypedData): Float32Array =>
  launch({
    name: 'embedding.gather',
    source: embeddingGather,
    output: [hidden, ids.length, 1],
    args: [boxed(table, [hidden, vocab, 1]), boxed(ids, [ids.length, 1, 1])],
  });

/** The GPU.js gather of a bfloat16 table: the looked-up rows widened into a small float32 table, the ids renumbered into it. */
function gpujsGatherBfloat16(table: Uint16Array, hidden: number, ids: TypedData): Float32Array {
  const rowOf = new Map<number, number>();
  const local = new Int32Array(ids.length);
  for (let t = 0; t < ids.length; t++) {
    let row = rowOf.get(ids[t]);
    if (row === undefined) rowOf.set(ids[t], (row = rowOf.size));
    local[t] = row;
  }
  const rows = new Float32Array(rowOf.size * hidden);
  for (const [id, row] of rowOf) widenBfloat16(table.subarray(id * hidden, (id + 1) * hidden), rows.subarray(row * hidden, (row + 1) * hidden));
  return gpujsGather(rows, rowOf.size, hidden, local);
}

const gather = defineKernel({
  name: 'embedding.gather',
  gpujs: (table: TypedData, vocab: number, hidden: number, ids: TypedData) =>
    table instanceof Uint16Array ? gpujsGatherBfloat16(table, hidden, ids) : gpujsGather(table, vocab, hidden, ids),
  cpu: {
    kind: 'host-copy',
    run: (table: TypedData, _vocab: number, hidden: number, ids: TypedData) => {
      const out = outputArray(ids.length * hidden); // every row is copied in
      if (table instanceof Uint16Array) {
        // bfloat16 bits: each row widened as it is copied (the 16 bits become the high half)
        const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length); // out may be a view (the arena)
        for (let t = 0; t < ids.length; t++) {
          const from = ids[t] * hidden;
          const to = t * hidden;
          for (let h = 0; h < hidden; h++) outBits[to + h] = table[from + h] << 16;
        }
        return out;
      }
      for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t] * hidden, (ids[t] + 1) * hidden), t * hidden);
      return out;
    },
  },
  agreement: 'same-bits', // values are moved, not computed (a bfloat16 table is widened exactly)
  readsBfloat16: 0, // the table
});

/** Rows `ids` of `table` ([V, H] row-major, float32 or bfloat16 bits): [ids.length, H] float32. */
export function runEmbeddingGather(table: TypedData, vocab: number, hidden: number, ids: TypedData): Float32Array {
  return gather(table, vocab, hidden, ids);
}

const scatterRows = (g: TypedData, hidden: number, positions: Float32Array, rowStart: Float32Array, maxCount: number): Float32Array =>
  launch({
    name: 'embedding.scatterRows',
    source: embeddingScatterRows,
    output: [hidden, rowStart.length - 1, 1],
    args: [boxed(g, [hidden, g.length / hidden, 1]), boxed(positions, [positions.length, 1, 1]), boxed(rowStart, [rowStart.length, 1, 1])],
    constants: { maxCount },
  });

const scatter = defineKernel({
  name: 'embedding.scatterRows',
  gpujs: scatterRows,
  cpu: { kind: 'gpujs', run: scatterRows },
  agreement: 'same-bits',
});

/**
 * Sums gradient rows g ([T, H]) into one row per distinct id: returns the
 * distinct ids (ascending) and their summed rows [distinct, H].
 */
export function runEmbeddingScatter(
  g: TypedData,
  hidden: number,
  ids: ArrayLike<number>,
  skipId: number | null,
): { rows: Float32Array; distinctIds: number[] } {
  const byId = new Map<number, number[]>();
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] === skipId) continue;
    let list = byId.get(ids[t]);
    if (list === undefined) byId.set(ids[t], (list = []));
    list.push(t);
  }
  const distinctIds = [...byId.keys()].sort((a, b) => a - b);
  if (distinctIds.length === 0) return { rows: new Float32Array(0), distinctIds };
  const rowStart = new Float32Array(distinctIds.length + 1);
  const positions = new Float32Array(ids.length);
  let maxCount = 0;
  let filled = 0;
  distinctIds.forEach((id, u) => {
    const list = byId.get(id)!;
    rowStart[u] = filled;
    positions.set(list, filled);
    filled += list.length;
    maxCount = Math.max(maxCount, list.length);
  });
  rowStart[distinctIds.length] = filled;
  return { rows: scatter(g, hidden, positions.subarray(0, filled), rowStart, maxCount), distinctIds };
}
