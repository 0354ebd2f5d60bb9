/**
 * Planning a convolution once (workers/kernels/plan.ts): the algorithm each kind of convolution
 * gets, the tiling of its passes, and buffers sized by the plan alone: staged operands only on
 * an engine that does not read them in place, no columns for a pointwise forward.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConv, type ConvParams } from '../../src/shared/geometry/conv.js';
import { tsEngine } from '../../workers/engines/index.js';
import { planConv } from '../../workers/kernels/plan.js';
import { wasmEngine } from '../reference/engines.js';

const geometry = (input: number[], weight: number[], params: ConvParams = {}) =>
  resolveConv({ input: { dtype: 'float32', shape: input }, weight: { dtype: 'float32', shape: weight } }, params);

test('the algorithm: depthwise direct, pointwise or tiled GEMM, chosen once per call', () => {
  assert.equal(planConv(geometry([2, 8, 9, 9], [8, 1, 3, 3], { groups: 8 }), tsEngine).algorithm, 'depthwise');
  assert.equal(
    planConv(geometry([2, 8, 9, 9], [40, 1, 3, 3], { groups: 8 }), tsEngine).algorithm,
    'gemm',
    'more outputs per group than the direct path takes',
  );
  assert.equal(planConv(geometry([2, 8, 9, 9], [4, 8, 1, 1]), tsEngine).algorithm, 'pointwise');
  assert.equal(
    planConv(geometry([2, 8, 9, 9], [4, 8, 1, 1], { stride: 2 }), tsEngine).algorithm,
    'gemm',
    'a strided 1x1 gathers columns',
  );
  assert.equal(planConv(geometry([2, 8, 9, 9], [4, 8, 3, 3]), tsEngine).algorithm, 'gemm');
});

test('tilings: whole images batch into a tile, except the forward / grad_weight tiles of a pointwise convolution', () => {
  const gemm = planConv(geometry([6, 4, 5, 5], [3, 4, 3, 3]), tsEngine);
  assert.deepEqual(gemm.tiling, { images: 6, positions: 9 });
  assert.deepEqual(gemm.gradInputTiling, gemm.tiling);
  const pointwise = planConv(geometry([6, 4, 5, 5], [3, 4, 1, 1]), tsEngine);
  assert.deepEqual(pointwise.tiling, { images: 1, positions: 25 });
  assert.deepEqual(pointwise.gradInputTiling, { images: 6, positions: 25 });
  assert.equal(pointwise.buffers.forward.cols, 0);
  assert.ok(pointwise.buffers.gradInput.dcols > 0);
});

test('buffers: staged operands only on an engine that does not read them in place (wasm)', () => {
  const g = geometry([6, 4, 5, 5], [3, 4, 3, 3]);
  const ts = planConv(g, tsEngine);
  const wasm = planConv(g, wasmEngine());
  assert.equal(ts.staged, false);
  assert.equal(wasm.staged, true);
  assert.deepEqual([ts.buffers.forward.images, ts.buffers.forward.weight], [0, 0]);
  assert.deepEqual([wasm.buffers.forward.images, wasm.buffers.forward.weight], [6 * 4 * 25, 3 * 4 * 9]);
  assert.equal(ts.buffers.gradWeight.acc, 3 * 4 * 9);
});
