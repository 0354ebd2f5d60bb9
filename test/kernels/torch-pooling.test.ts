/**
 * Pooling against PyTorch 1.13's own numbers: test/fixtures/torch/pool.json, made by
 * test/fixtures/torch/pool.py (float64; ceil_mode, dilation, return_indices, padding above
 * PyTorch's usual, count_include_pad, divisor_override, lp, adaptive avg / max with sizes
 * below and above the input, null, global). The tests read the committed JSON and never
 * need torch. Each case runs through the geometry and the kernels its route uses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { resolveAdaptivePooling, type AdaptivePoolingParams } from '../../src/shared/geometry/adaptive-pooling.js';
import { resolvePooling, type PoolingParams } from '../../src/shared/geometry/pooling.js';
import { adaptivePoolBackward, adaptivePoolForward } from '../../workers/kernels/adaptive-pooling.js';
import { poolBackward, poolForward } from '../../workers/kernels/pooling.js';

interface TorchCase {
  route: '/pool/forward' | '/pool/adaptive/forward';
  fields: Record<string, unknown>;
  input: { shape: number[]; data: number[] };
  output: { shape: number[]; data: number[] };
  indices?: number[];
  grad_output: number[];
  grad_input: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/torch/pool.json', import.meta.url), 'utf8'),
) as { torch: string; cases: TorchCase[] };

function close(got: ArrayLike<number>, want: number[], what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++)
    assert.ok(
      Math.abs(got[i] - want[i]) <= 1e-12 * Math.max(1, Math.abs(want[i])),
      `${what}[${i}]: ${got[i]} vs torch ${want[i]}`,
    );
}

for (const c of fixture.cases) {
  test(`torch ${fixture.torch}: ${c.route} ${JSON.stringify(c.fields)} on [${c.input.shape.join(', ')}]`, () => {
    const input = { dtype: 'float64' as const, shape: c.input.shape };
    const operands = { input, grad_output: { dtype: 'float64' as const, shape: c.output.shape } };
    const x = Float64Array.from(c.input.data);
    const dy = Float64Array.from(c.grad_output);
    const y = new Float64Array(c.output.data.length);
    const indices = c.indices ? new Float64Array(c.indices.length) : undefined;
    const dx = new Float64Array(x.length);
    if (c.route === '/pool/forward') {
      const g = resolvePooling(operands, c.fields as unknown as PoolingParams);
      assert.deepEqual(g.window.outputShape, c.output.shape, 'output shape');
      poolForward(g.window, g, x, y, undefined, indices);
      poolBackward(g.window, g, x, dy, dx);
    } else {
      const g = resolveAdaptivePooling(operands, c.fields as unknown as AdaptivePoolingParams);
      assert.deepEqual(g.outputShape, c.output.shape, 'output shape');
      adaptivePoolForward(g, x, y, undefined, indices);
      adaptivePoolBackward(g, x, dy, dx);
    }
    close(y, c.output.data, 'output');
    if (c.indices) assert.deepEqual(Array.from(indices!), c.indices, 'indices');
    close(dx, c.grad_input, 'grad_input');
  });
}
