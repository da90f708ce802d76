// `npm run demo`: a short tour of the tensor library and its autograd, on the
// built-in defaults (no downloads). It shows broadcasting, a view, a matrix
// product and a softmax, then trains a two-layer network with GELU on a toy
// classification task by plain gradient descent, using backward() for every
// gradient, and ends with which kernels ran on which backend.

import { Tensor } from './tensor/tensor.ts';
import { randn, tensor, zeros, randint } from './tensor/creation.ts';
import { Generator } from './tensor/random.ts';
import { noGrad } from './autograd/tape.ts';
import * as ops from './ops/index.ts';
import { describeBackend } from '../kernels/backend.ts';
import { kernelStats } from '../kernels/launch.ts';

console.log(`gemma2-ts tensor demo, kernels on ${describeBackend()}\n`);

// 1. Tensors, broadcasting, views.
const a = tensor([[1, 2, 3], [4, 5, 6]]);
const b = tensor([10, 20, 30]);
console.log('a + b (b broadcast over rows) =', ops.add(a, b).toString());
console.log('a transposed (a view, no copy) =', a.transpose(0, 1).toString());
console.log('softmax(a @ a^T / 20) =', ops.softmax(ops.div(ops.matmul(a, a.transpose(0, 1)), 20), -1).toString(), '\n');

// 2. Autograd on a small expression: d/dx sum(x^2 * 3) = 6x.
const x = tensor([1, -2, 0.5]).requireGrad();
ops.sum(ops.mul(ops.pow(x, 2), 3)).backward();
console.log('x =', x.toString(), '\nd/dx sum(3 x^2) =', x.grad!.toString(), '\n');

// 3. Train a two-layer GELU network to tell which of two interleaved spirals a point is on.
const generator = new Generator(7);
function spiralPoints(n: number): { points: Tensor; labels: Tensor } {
  const coordinates = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const radius = 0.2 + 0.8 * generator.nextFloat();
    const angle = radius * 4 + label * Math.PI + 0.15 * generator.nextNormal();
    coordinates[2 * i] = radius * Math.cos(angle);
    coordinates[2 * i + 1] = radius * Math.sin(angle);
    labels[i] = label;
  }
  return { points: Tensor.fromData(coordinates, [n, 2]), labels: Tensor.fromData(labels, [n]) };
}

const hidden = 32;
const w1 = randn([hidden, 2], { seed: 1, std: 1.0 }).requireGrad();
const b1 = zeros([hidden]).requireGrad();
const w2 = randn([2, hidden], { seed: 2, std: 0.3 }).requireGrad();
const b2 = zeros([2]).requireGrad();
const parameters = [w1, b1, w2, b2];
const model = (points: Tensor) => ops.linear(ops.geluTanh(ops.linear(points, w1, b1)), w2, b2);

const accuracy = (points: Tensor, labels: Tensor): number => {
  const predicted = ops.argmax(noGrad(() => model(points)), -1).contiguousData();
  const truth = labels.contiguousData();
  let correct = 0;
  for (let i = 0; i < truth.length; i++) if (predicted[i] === truth[i]) correct++;
  return correct / truth.length;
};

const train = spiralPoints(256);
const test = spiralPoints(256);
console.log(`two-layer GELU network, ${hidden} hidden units; held-out accuracy before training: ${(100 * accuracy(test.points, test.labels)).toFixed(1)}%`);
const learningRate = 0.5;
const start = performance.now();
for (let step = 1; step <= 300; step++) {
  const batch = randint([64], 0, 256, { generator });
  const ids = batch.contiguousData();
  const points = Tensor.fromData(Float32Array.from({ length: 128 }, (_, k) => train.points.contiguousData()[ids[k >> 1] * 2 + (k & 1)]), [64, 2]);
  const labels = Tensor.fromData(Int32Array.from(ids, (i) => train.labels.contiguousData()[i]), [64]);
  const loss = ops.crossEntropy(model(points), labels);
  for (const p of parameters) p.zeroGrad();
  loss.backward();
  noGrad(() => {
    for (const p of parameters) p.copyFrom(ops.sub(p, ops.mul(p.grad!, learningRate)));
  });
  if (step % 50 === 0) console.log(`  step ${String(step).padStart(3)}  loss ${loss.item().toFixed(4)}`);
}
const seconds = (performance.now() - start) / 1000;
console.log(`held-out accuracy after 300 steps: ${(100 * accuracy(test.points, test.labels)).toFixed(1)}% (${seconds.toFixed(1)} s)\n`);

// 4. Which kernels ran, and where.
console.log('kernel launches (backend that ran them):');
for (const [name, stat] of [...kernelStats()].sort((p, q) => q[1].launches - p[1].launches)) {
  console.log(`  ${name.padEnd(34)} ${String(stat.launches).padStart(6)}  ${[...stat.ranOn].join(', ')}`);
}
