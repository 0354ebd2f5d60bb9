/**
 * Requests of several images for every operation of the registry (src/ops/index.ts), as a client
 * sends them: what the batch-range tests cut into ranges (test/kernels/batch-range.test.ts) and
 * the split tests send split and whole (test/service/split.test.ts). Each operation has cases
 * covering its results (indices, every gradient) and both layouts; keyed by OpName so that an
 * operation added to the task types needs its cases here, and the tests check that every
 * registered operation has them.
 */
import type { OpName } from '../../src/shared/task.js';
import { rng, type Dt } from './data.js';

/** The images every case has: enough for ranges of 1, 1 and 3 images, or 2 and 3. */
export const IMAGES = 5;

export interface OpRequest {
  name: string;
  /** The request body (data as number arrays), in `dtype`. */
  body(dtype: Dt): Record<string, unknown>;
}

/** A request tensor of `shape` with seeded values in [-1, 1). */
function tensor(dtype: Dt, shape: number[], seed: number) {
  const rand = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, data: Array.from({ length: n }, () => rand() * 2 - 1) };
}

const N = IMAGES;

export const OP_REQUESTS: Record<OpName, OpRequest[]> = {
  conv_forward: [
    {
      name: 'NCHW, stride 2, reflect, bias',
      body: (dt) => ({
        input: tensor(dt, [N, 3, 7, 6], 1),
        weight: tensor(dt, [4, 3, 3, 3], 2),
        bias: tensor(dt, [4], 3),
        stride: 2,
        padding: 1,
        padding_mode: 'reflect',
      }),
    },
    {
      name: 'NHWC with an OIHW weight (permuted), groups 2, "same"',
      body: (dt) => ({
        input: tensor(dt, [N, 6, 5, 4], 4),
        weight: tensor(dt, [6, 2, 3, 3], 5),
        layout: 'NHWC',
        weight_layout: 'OIHW',
        groups: 2,
        padding: 'same',
      }),
    },
  ],
  conv_backward: [
    {
      name: 'NCHW, circular, every gradient',
      body: (dt) => ({
        input: tensor(dt, [N, 3, 7, 6], 6),
        weight: tensor(dt, [4, 3, 3, 3], 7),
        bias: tensor(dt, [4], 8),
        grad_output: tensor(dt, [N, 4, 7, 6], 9),
        padding: 1,
        padding_mode: 'circular',
      }),
    },
    {
      name: 'NHWC with an OIHW weight, groups 2: grad_weight and grad_bias only (sums)',
      body: (dt) => ({
        input: tensor(dt, [N, 6, 5, 4], 10),
        weight: tensor(dt, [6, 2, 3, 3], 11),
        grad_output: tensor(dt, [N, 6, 5, 6], 12),
        layout: 'NHWC',
        weight_layout: 'OIHW',
        groups: 2,
        padding: 'same',
        grads: ['weight', 'bias'],
      }),
    },
  ],
  conv_transpose: [
    {
      name: '2-D, stride 2, bias',
      body: (dt) => ({
        input: tensor(dt, [N, 4, 3, 3], 13),
        weight: tensor(dt, [4, 2, 3, 3], 14),
        bias: tensor(dt, [2], 15),
        stride: 2,
      }),
    },
    {
      name: '1-D, groups 2, dilation 2, output_padding 1',
      body: (dt) => ({
        input: tensor(dt, [N, 4, 5], 16),
        weight: tensor(dt, [4, 1, 3], 17),
        groups: 2,
        stride: 2,
        dilation: 2,
        output_padding: 1,
      }),
    },
  ],
  conv_transpose_backward: [
    {
      name: '2-D, stride 2, every gradient',
      body: (dt) => ({
        input: tensor(dt, [N, 4, 3, 3], 18),
        weight: tensor(dt, [4, 2, 3, 3], 19),
        bias: tensor(dt, [2], 20),
        grad_output: tensor(dt, [N, 2, 7, 7], 21),
        stride: 2,
      }),
    },
  ],
  pool_forward: [
    {
      name: 'max with indices, k3 s2 p1',
      body: (dt) => ({
        input: tensor(dt, [N, 3, 6, 6], 22),
        mode: 'max',
        kernel_size: 3,
        stride: 2,
        padding: 1,
        return_indices: true,
      }),
    },
    {
      name: 'max with column-major indices (storage_order 1), NHWC',
      body: (dt) => ({
        input: tensor(dt, [N, 6, 6, 3], 23),
        mode: 'max',
        kernel_size: 2,
        layout: 'NHWC',
        return_indices: true,
        storage_order: 1,
      }),
    },
    {
      name: '1-D avg, ceil_mode, padding not counted',
      body: (dt) => ({
        input: tensor(dt, [N, 2, 7], 24),
        mode: 'avg',
        kernel_size: 3,
        stride: 2,
        padding: 1,
        ceil_mode: true,
        count_include_pad: false,
      }),
    },
    {
      name: '3-D lp, p 3, lp_abs',
      body: (dt) => ({ input: tensor(dt, [N, 2, 4, 4, 4], 25), mode: 'lp', p: 3, lp_abs: true, kernel_size: 2 }),
    },
  ],
  pool_backward: [
    {
      name: 'max, k3 s2 p1',
      body: (dt) => ({
        input: tensor(dt, [N, 3, 6, 6], 26),
        grad_output: tensor(dt, [N, 3, 3, 3], 27),
        mode: 'max',
        kernel_size: 3,
        stride: 2,
        padding: 1,
      }),
    },
    {
      name: 'avg, NHWC',
      body: (dt) => ({
        input: tensor(dt, [N, 6, 6, 3], 28),
        grad_output: tensor(dt, [N, 3, 3, 3], 29),
        mode: 'avg',
        kernel_size: 2,
        layout: 'NHWC',
      }),
    },
    {
      name: '1-D lp, p 2',
      body: (dt) => ({
        input: tensor(dt, [N, 2, 7], 30),
        grad_output: tensor(dt, [N, 2, 3], 31),
        mode: 'lp',
        p: 2,
        kernel_size: 3,
        stride: 2,
      }),
    },
  ],
  adaptive_pool_forward: [
    {
      name: 'max with indices, 7x5 -> 3x2',
      body: (dt) => ({ input: tensor(dt, [N, 3, 7, 5], 32), mode: 'max', output_size: [3, 2], return_indices: true }),
    },
    {
      name: 'avg, NHWC, 7x5 -> 4x4',
      body: (dt) => ({ input: tensor(dt, [N, 7, 5, 3], 33), mode: 'avg', output_size: 4, layout: 'NHWC' }),
    },
    {
      name: '1-D lp, 9 -> 4',
      body: (dt) => ({ input: tensor(dt, [N, 2, 9], 34), mode: 'lp', p: 2, output_size: [4] }),
    },
  ],
  adaptive_pool_backward: [
    {
      name: 'max, 7x5 -> 3x2',
      body: (dt) => ({
        input: tensor(dt, [N, 3, 7, 5], 35),
        grad_output: tensor(dt, [N, 3, 3, 2], 36),
        mode: 'max',
        output_size: [3, 2],
      }),
    },
    {
      name: '1-D avg, 9 -> 4',
      body: (dt) => ({
        input: tensor(dt, [N, 2, 9], 37),
        grad_output: tensor(dt, [N, 2, 4], 38),
        mode: 'avg',
        output_size: [4],
      }),
    },
  ],
  unfold: [
    {
      name: '2-D, k2 s2 p1',
      body: (dt) => ({ input: tensor(dt, [N, 3, 6, 5], 39), kernel_size: 2, stride: 2, padding: 1 }),
    },
    {
      name: '1-D NWC, dilation 2',
      body: (dt) => ({ input: tensor(dt, [N, 8, 2], 40), kernel_size: 3, dilation: 2, layout: 'NWC' }),
    },
  ],
  fold: [
    {
      name: '2-D, k2 s2 p1',
      body: (dt) => ({
        input: tensor(dt, [N, 12, 12], 41),
        output_size: [6, 5],
        kernel_size: 2,
        stride: 2,
        padding: 1,
      }),
    },
    {
      name: '2-D NHWC, overlapping 3x3 windows',
      body: (dt) => ({ input: tensor(dt, [N, 18, 9], 42), output_size: [5, 5], kernel_size: 3, layout: 'NHWC' }),
    },
  ],
};
