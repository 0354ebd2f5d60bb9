/**
 * The kernels' backward against central finite differences of the kernels' own forward, in
 * float64 on tiny shapes: with L(x, w, b) = sum(forward(x, w, b) * R) for a random R,
 * convBackward(dy = R) must give dL/dx, dL/dw, dL/db for every element.
 * L is linear in each operand, so the central difference is exact up to rounding.
 * Runs on each float64 engine, passed explicitly: ts, wasm-f64 and native-f64.
 */
import { test } from 'node:test';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import { numel } from '../../src/shared/tensor.js';
import type { ConvParams } from '../../src/shared/geometry/conv.js';
import { convForward, convBackward } from '../../workers/kernels/conv.js';
import { engineNamed, runnable, type EngineName } from '../reference/engines.js';
import { convTranspose, convTransposeBackward } from '../../workers/kernels/transpose.js';
import { resolveTranspose, type TransposeParams } from '../../src/shared/geometry/transpose.js';
import { tsEngine } from '../../workers/engines/index.js';
import { rng, randomTensor } from '../reference/data.js';
import { assertFiniteDifferences, dot } from '../reference/finite-differences.js';

interface Config {
  name: string;
  input: number[];
  weight: number[];
  params: ConvParams;
}

const CONFIGS: Config[] = [
  { name: '1-D stride 2 with leftover', input: [2, 2, 8], weight: [3, 2, 3], params: { stride: 2 } }, // (8 - 3) % 2 = 1
  {
    name: '1-D stride 3, dilation 2, pairs, replicate',
    input: [1, 2, 9],
    weight: [2, 2, 3],
    params: { stride: 3, dilation: 2, padding: [[2, 1]], padding_mode: 'replicate' },
  },
  {
    name: '1-D NWC reflect pad 3 (limit in-1)',
    input: [1, 4, 3],
    weight: [3, 3, 2],
    params: { layout: 'NWC', padding: 3, padding_mode: 'reflect' },
  },
  {
    name: '2-D dilation 2, groups 2',
    input: [1, 4, 6, 5],
    weight: [4, 2, 2, 3],
    params: { dilation: 2, groups: 2, padding: [1, 2] },
  },
  {
    name: '2-D channels_last reflect stride 2 leftover',
    input: [2, 6, 5, 2],
    weight: [3, 3, 2, 3],
    params: { layout: 'channels_last', padding: 1, padding_mode: 'reflect', stride: 2 },
  },
  {
    name: '2-D circular pad = input',
    input: [1, 2, 3, 4],
    weight: [2, 2, 3, 2],
    params: {
      padding: [
        [3, 2],
        [1, 4],
      ],
      padding_mode: 'circular',
    },
  },
  {
    name: '2-D NHWC same, stride 3, even kernel, depthwise',
    input: [1, 7, 8, 3],
    weight: [4, 2, 1, 3],
    params: { layout: 'NHWC', padding: 'same', stride: 3, groups: 3 },
  },
  {
    name: '3-D channels_first replicate stride [2,1,3]',
    input: [1, 2, 4, 3, 5],
    weight: [2, 2, 2, 2, 2],
    params: { padding: 1, padding_mode: 'replicate', stride: [2, 1, 3] },
  },
  {
    name: '3-D NDHWC circular dilation, groups 2',
    input: [1, 4, 3, 5, 4],
    weight: [2, 2, 2, 2, 2],
    params: {
      layout: 'NDHWC',
      padding: [
        [1, 0],
        [2, 2],
        [1, 1],
      ],
      padding_mode: 'circular',
      dilation: [2, 1, 2],
      groups: 2,
    },
  },
  {
    name: '3-D reflect same even kernel stride 2',
    input: [1, 1, 5, 4, 6],
    weight: [2, 1, 2, 3, 4],
    params: { padding: 'same', padding_mode: 'reflect', stride: 2 },
  },
];

for (const [cfg, name] of CONFIGS.flatMap((c) =>
  runnable(['ts', 'wasm-f64', 'native-f64'] as EngineName[]).map((n) => [c, n] as const),
)) {
  test(`finite differences: ${cfg.name} [${name}]`, () => {
    const engine = engineNamed(name);
    const cout =
      cfg.params.layout && /last|NWC|NHWC|NDHWC/.test(cfg.params.layout)
        ? cfg.weight[cfg.weight.length - 1]
        : cfg.weight[0];
    const f64 = (shape: number[]) => ({ dtype: 'float64' as const, shape });
    const g0 = resolveConv({ input: f64(cfg.input), weight: f64(cfg.weight), bias: f64([cout]) }, cfg.params);
    const g = resolveConv(
      { input: f64(cfg.input), weight: f64(cfg.weight), bias: f64([cout]), grad_output: f64(g0.outputShape) },
      cfg.params,
    );
    const rand = rng(1234 + cfg.name.length);
    const x = randomTensor(numel(cfg.input), 'float64', rand) as Float64Array;
    const w = randomTensor(numel(cfg.weight), 'float64', rand) as Float64Array;
    const b = randomTensor(cout, 'float64', rand) as Float64Array;
    const R = randomTensor(numel(g.outputShape), 'float64', rand) as Float64Array;
    const y = new Float64Array(numel(g.outputShape));
    const loss = () => {
      y.fill(NaN);
      convForward(g, x, w, b, y, engine);
      return dot(y, R);
    };
    const grads = {
      input: new Float64Array(x.length).fill(NaN),
      weight: new Float64Array(w.length).fill(NaN),
      bias: new Float64Array(b.length).fill(NaN),
    };
    convBackward(g, x, w, R, grads, engine);
    assertFiniteDifferences({ input: x, weight: w, bias: b }, grads, loss);
  });
}

interface TransposeConfig {
  name: string;
  input: number[];
  weight: number[];
  params: TransposeParams;
}

const TRANSPOSE_CONFIGS: TransposeConfig[] = [
  {
    name: '1-D stride 2, padding 1, output_padding 1',
    input: [2, 2, 4],
    weight: [2, 3, 3],
    params: { stride: 2, padding: 1, output_padding: 1 },
  },
  {
    name: '2-D NHWC dilation 2, groups 2, output_padding past the stride',
    input: [1, 3, 2, 4],
    weight: [2, 2, 1, 4],
    params: { layout: 'NHWC', dilation: 2, groups: 2, output_padding: [1, 0] },
  },
  {
    name: '3-D depthwise stride [2, 1, 2]',
    input: [1, 2, 2, 3, 2],
    weight: [2, 1, 2, 2, 3],
    params: { stride: [2, 1, 2], padding: [0, 1, 1], groups: 2 },
  },
  {
    name: '2-D [[before, after]] padding, output_padding',
    input: [1, 2, 3, 3],
    weight: [2, 2, 3, 2],
    params: {
      stride: 2,
      padding: [
        [2, 0],
        [0, 1],
      ],
      output_padding: 1,
    },
  },
  {
    name: '2-D ONNX "same_lower" with output_size above in * stride in one dim',
    input: [1, 2, 3, 2],
    weight: [2, 1, 3, 2],
    params: { stride: [2, 3], padding: 'same_lower', output_size: [6, 8] },
  },
  {
    name: '1-D PyTorch output_size setting output_padding 1',
    input: [2, 1, 4],
    weight: [1, 2, 3],
    params: { stride: 2, padding: 1, output_size: [8] },
  },
];

for (const cfg of TRANSPOSE_CONFIGS) {
  test(`finite differences, conv_transpose: ${cfg.name}`, () => {
    const f64 = (shape: number[]) => ({ dtype: 'float64' as const, shape });
    const g = resolveTranspose({ input: f64(cfg.input), weight: f64(cfg.weight) }, cfg.params);
    const rand = rng(4321 + cfg.name.length);
    const x = randomTensor(numel(cfg.input), 'float64', rand) as Float64Array;
    const w = randomTensor(numel(cfg.weight), 'float64', rand) as Float64Array;
    const b = randomTensor(g.inChannels, 'float64', rand) as Float64Array;
    const R = randomTensor(numel(g.inputShape), 'float64', rand) as Float64Array;
    const y = new Float64Array(numel(g.inputShape));
    const loss = () => {
      y.fill(NaN);
      convTranspose(g, x, w, b, y, tsEngine);
      return dot(y, R);
    };
    const grads = {
      input: new Float64Array(x.length).fill(NaN),
      weight: new Float64Array(w.length).fill(NaN),
      bias: new Float64Array(b.length).fill(NaN),
    };
    convTransposeBackward(g, x, w, R, grads, tsEngine);
    assertFiniteDifferences({ input: x, weight: w, bias: b }, grads, loss);
  });
}
