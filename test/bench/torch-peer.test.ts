/**
 * The bench's PyTorch peer (bench/peers/torch.ts driving bench/peers/torch_peer.py): on small
 * convolutions (a stride with a remainder, dilation with groups, depthwise) in both dtypes and
 * both layouts, the forward, grad_input and grad_weight it answers, read back in convd's layout,
 * agree with the naive float64 reference (test/reference/naive-conv.ts) within the rounding
 * bound the kernel tests use; and a run answers the seconds the peer measured. Without torch
 * for /usr/bin/python3 (Debian: apt-get install python3-torch python3-msgpack) those tests are
 * skipped, saying so; the one-line refusal the bench prints then is tested either way.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TorchPeer, torchImpls, type TorchHello } from '../../bench/peers/torch.js';
import { geometry, type Op, type Shape, type Variant } from '../../bench/shapes.js';
import type { Impl } from '../../bench/impl.js';
import { numel } from '../../src/shared/tensor.js';
import { refGeometry, referenceBackward, referenceForward, type RefResult } from '../reference/naive-conv.js';
import { randomTensor, rng } from '../reference/data.js';
import { checkClose } from '../reference/tolerance.js';

const CASES: Shape[] = [
  {
    name: 'stride 2, remainder',
    what: '',
    input: [2, 5, 12, 10],
    weight: [6, 5, 3, 3],
    params: { stride: 2, padding: 1 },
  },
  {
    name: 'dilation 2, groups 2',
    what: '',
    input: [1, 4, 9, 8],
    weight: [6, 2, 3, 2],
    params: { dilation: 2, padding: [1, 2], groups: 2 },
  },
  {
    name: 'depthwise',
    what: '',
    input: [2, 6, 9, 9],
    weight: [6, 1, 3, 3],
    params: { groups: 6, padding: 1 },
  },
];
const VARIANTS: Variant[] = [
  { dtype: 'float32', layout: 'channels_first' },
  { dtype: 'float32', layout: 'channels_last' },
  { dtype: 'float64', layout: 'channels_first' },
  { dtype: 'float64', layout: 'channels_last' },
];
const OPS: Op[] = ['forward', 'grad_input', 'grad_weight'];

const started = await TorchPeer.start(1).then(
  (s) => s,
  (e: Error) => e,
);
const noTorch = started instanceof Error ? `skipped: ${started.message}` : false;
if (!(started instanceof Error)) started.peer.close();

test('without a torch interpreter, starting the peer fails in one line that says what to install', async () => {
  await assert.rejects(TorchPeer.start(1, '/nonexistent/python3'), (e: Error) => {
    assert.match(
      e.message,
      /^\/nonexistent\/python3 cannot run torch \(.*ENOENT.*\); on Debian: apt-get install python3-torch/,
    );
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

describe('PyTorch bench peer against the naive reference', { skip: noTorch }, async () => {
  const [torch] = noTorch ? [] : await torchImpls();
  after(() => torch?.close?.());

  test('hello names torch and one thread', () => {
    const hello = (started as { hello: TorchHello }).hello;
    assert.match(hello.torch, /^\d+\.\d+/);
    assert.equal(hello.threads, 1);
  });

  for (const v of VARIANTS) {
    for (const shape of CASES) {
      test(`${v.dtype} ${v.layout}, ${shape.name}: forward, grad_input, grad_weight`, async () => {
        await checkCase(torch, shape, v);
      });
    }
  }

  test('a run answers the seconds the peer measured', async () => {
    const g = geometry(CASES[0]);
    const rand = rng(7);
    const p = {
      shape: CASES[0],
      reduced: '',
      g,
      x: randomTensor(numel(g.inputShape), 'float32', rand),
      w: randomTensor(numel(g.weightShape), 'float32', rand),
      dy: randomTensor(numel(g.outputShape), 'float32', rand),
    };
    const prepared = await torch.prepare(p, 'forward');
    const seconds = await prepared.run();
    await prepared.dispose();
    assert.equal(typeof seconds, 'number');
    assert.ok((seconds as number) > 0 && (seconds as number) < 60, String(seconds));
  });
});

async function checkCase(torch: Impl, shape: Shape, v: Variant): Promise<void> {
  const g = geometry(shape, v);
  assert.equal(torch.unsupported(g, 'forward'), null);
  const rand = rng(shape.input.reduce((a, b) => a * 31 + b, 17));
  const x = randomTensor(numel(g.inputShape), v.dtype, rand);
  const w = randomTensor(numel(g.weightShape), v.dtype, rand);
  const dy = randomTensor(numel(g.outputShape), v.dtype, rand);
  const rg = refGeometry(g.inputShape, g.weightShape, { ...shape.params, layout: v.layout });
  const grads = referenceBackward(rg, x, w, dy);
  const want: Record<Op, RefResult> = {
    forward: referenceForward(rg, x, w, null),
    grad_input: grads.input,
    grad_weight: grads.weight,
  };
  for (const op of OPS) {
    const prepared = await torch.prepare({ shape, reduced: '', g, x, w, dy }, op);
    const got = await prepared.result();
    await prepared.dispose();
    assert.equal(got.constructor, v.dtype === 'float64' ? Float64Array : Float32Array, op);
    const { ref, absBound, nTerms } = want[op];
    const report = checkClose(got, ref, absBound, nTerms, v.dtype, { float64Reference: true });
    assert.ok(report.ok, `${op}: ${report.message}`);
  }
}
