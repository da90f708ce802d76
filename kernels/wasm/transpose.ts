// A 4 x 4 transpose of float lanes in registers, for kernels that read four
// rows at once and need their columns (gemv, packing W^T, row reductions four
// rows to a vector).

import { op } from './module-builder.ts';

const get = op.localGet;
const set = op.localSet;

/**
 * Transposes the 4 x 4 block in v128 locals rows..rows+3 (one row each) in
 * place, using temp..temp+3: afterwards local rows+j holds column j.
 */
export function transpose4x4(rows: number, temp: number): number[] {
  const shuffle = (x: number, y: number, lanes: [number, number, number, number], into: number) => [...get(x), ...get(y), ...op.f32x4Shuffle(lanes), ...set(into)];
  return [
    ...shuffle(rows, rows + 1, [0, 4, 1, 5], temp), // r0[0] r1[0] r0[1] r1[1]
    ...shuffle(rows + 2, rows + 3, [0, 4, 1, 5], temp + 1), // r2[0] r3[0] r2[1] r3[1]
    ...shuffle(rows, rows + 1, [2, 6, 3, 7], temp + 2), // r0[2] r1[2] r0[3] r1[3]
    ...shuffle(rows + 2, rows + 3, [2, 6, 3, 7], temp + 3), // r2[2] r3[2] r2[3] r3[3]
    ...shuffle(temp, temp + 1, [0, 1, 4, 5], rows),
    ...shuffle(temp, temp + 1, [2, 3, 6, 7], rows + 1),
    ...shuffle(temp + 2, temp + 3, [0, 1, 4, 5], rows + 2),
    ...shuffle(temp + 2, temp + 3, [2, 3, 6, 7], rows + 3),
  ];
}

