/**
 * convd-client against a live convd (CONVD_URL, e.g. http://127.0.0.1:8080), on both wires:
 * every compute endpoint checked against direct loops here, float32 and float64, float16 and
 * bfloat16 against the float32 answer rounded once, and errors surfacing as ConvdError with the
 * problem+json body.
 *
 * The test imports the package by its name: from this folder (npm test) that is this folder's
 * build; scripts/ci/clients.sh copies the compiled test beside an install of the packed
 * package outside the repository and runs it there.
 *
 *   CONVD_URL=http://127.0.0.1:8080 npm test
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConvdError,
  createConvdClient,
  roundToHalf,
  tensor,
  type HalfDType,
  type Tensor,
  type Wire,
} from 'convd-client';

const url = process.env.CONVD_URL;
if (!url) throw new Error('set CONVD_URL to a running convd');
const convd = createConvdClient(url);

function close(got: Tensor, shape: number[], want: ArrayLike<number>, tolerance: number, name: string) {
  assert.deepEqual(got.shape, shape, `${name}.shape`);
  assert.equal(got.data.length, want.length, `${name}.data.length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got.data[i] - want[i]) <= tolerance * (1 + Math.abs(want[i])),
      `${name}[${i}] is ${got.data[i]}, expected ${want[i]}`,
    );
  }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// 1-D conv, channels_first, batch 1: y[o, t] = b[o] + sum_c,k x[c, t*s - p + k] w[o, c, k] (zero padding p)
function conv1d(
  x: Float64Array,
  cin: number,
  len: number,
  w: Float64Array,
  cout: number,
  k: number,
  stride: number,
  pad: number,
  bias?: Float64Array,
) {
  const out = Math.floor((len + 2 * pad - k) / stride) + 1;
  const y = new Float64Array(cout * out);
  for (let o = 0; o < cout; o++)
    for (let t = 0; t < out; t++) {
      let acc = bias ? bias[o] : 0;
      for (let c = 0; c < cin; c++)
        for (let j = 0; j < k; j++) {
          const at = t * stride - pad + j;
          if (at >= 0 && at < len) acc += x[c * len + at] * w[(o * cin + c) * k + j];
        }
      y[o * out + t] = acc;
    }
  return { y, out };
}

const cin = 3,
  len = 11,
  cout = 2,
  k = 3,
  stride = 2;
const x = Float64Array.from({ length: cin * len }, (_, i) => Math.sin(i) * 3);
const w = Float64Array.from({ length: cout * cin * k }, (_, i) => (i % 5) - 2.5);
const b = Float64Array.of(0.25, -1);
const want = conv1d(x, cin, len, w, cout, k, stride, 0, b);

for (const wire of ['msgpack', 'json'] as Wire[]) {
  test(`conv forward over ${wire}: float64 exact, float32 close`, async () => {
    const { output } = await convd.convForward(
      { input: tensor([1, cin, len], x), weight: tensor([cout, cin, k], w), bias: tensor([cout], b), stride },
      { wire },
    );
    assert.ok(output.data instanceof Float64Array);
    assert.equal(output.dtype, 'float64');
    close(output, [1, cout, want.out], want.y, 1e-12, 'output');

    const single = await convd.convForward(
      {
        input: tensor([1, cin, len], Float32Array.from(x)),
        weight: tensor([cout, cin, k], Float32Array.from(w)),
        bias: tensor([cout], Float32Array.from(b)),
        stride,
      },
      { wire },
    );
    assert.ok(single.output.data instanceof Float32Array);
    assert.equal(single.output.dtype, 'float32');
    close(single.output, [1, cout, want.out], want.y, 1e-5, 'float32 output');
  });

  test(`conv backward over ${wire}: the gradients of sum(y * g), and only those asked for`, async () => {
    const g = Float64Array.from({ length: cout * want.out }, (_, i) => 1 + (i % 3));
    const args = {
      input: tensor([1, cin, len], x),
      weight: tensor([cout, cin, k], w),
      grad_output: tensor([1, cout, want.out], g),
      stride,
    };
    const grads = await convd.convBackward({ ...args, grads: ['input', 'weight', 'bias'] }, { wire });
    const gi = new Float64Array(cin * len);
    const gw = new Float64Array(cout * cin * k);
    const gb = new Float64Array(cout);
    for (let o = 0; o < cout; o++)
      for (let t = 0; t < want.out; t++) {
        const go = g[o * want.out + t];
        gb[o] += go;
        for (let c = 0; c < cin; c++)
          for (let j = 0; j < k; j++) {
            gi[c * len + t * stride + j] += go * w[(o * cin + c) * k + j];
            gw[(o * cin + c) * k + j] += go * x[c * len + t * stride + j];
          }
      }
    close(grads.grad_input!, [1, cin, len], gi, 1e-12, 'grad_input');
    close(grads.grad_weight!, [cout, cin, k], gw, 1e-12, 'grad_weight');
    close(grads.grad_bias!, [cout], gb, 1e-12, 'grad_bias');

    const onlyWeight = await convd.convBackward({ ...args, grads: ['weight'] }, { wire });
    assert.deepEqual(Object.keys(onlyWeight), ['grad_weight']);
    close(onlyWeight.grad_weight!, [cout, cin, k], gw, 1e-12, 'grad_weight alone');
  });

  test(`conv transpose over ${wire}: the adjoint of conv, with bias and output_padding`, async () => {
    // conv_transpose(y, w) with weight [C_in = cout, C_out = cin, k] satisfies <conv_transpose(y, w), v> = <y, conv(v, w)>
    const L = 12,
      pad = 1;
    const v = Float64Array.from({ length: cin * L }, (_, i) => Math.sin(i * 0.7) + 0.1);
    const conv = conv1d(v, cin, L, w, cout, k, stride, pad);
    const y = Float64Array.from({ length: cout * conv.out }, (_, i) => Math.cos(i) - 0.3);
    // the output extent (out - 1) * stride - 2 * pad + k falls one short of L: output_padding 1 makes it up
    const outputPadding = L - ((conv.out - 1) * stride - 2 * pad + k);
    assert.equal(outputPadding, 1);
    const tb = Float64Array.of(0.5, -0.25, 2);
    const { output } = await convd.convTranspose(
      {
        input: tensor([1, cout, conv.out], y),
        weight: tensor([cout, cin, k], w),
        bias: tensor([cin], tb),
        stride,
        padding: pad,
        output_padding: outputPadding,
      },
      { wire },
    );
    assert.deepEqual(output.shape, [1, cin, L]);
    assert.ok(output.data instanceof Float64Array);
    const withoutBias = Float64Array.from(output.data, (value, i) => value - tb[Math.floor(i / L)]);
    assert.ok(Math.abs(dot(withoutBias, v) - dot(y, conv.y)) < 1e-9, 'adjoint identity');
    // and it is conv backward's grad_input for the same parameters
    const { grad_input } = await convd.convBackward(
      {
        input: tensor([1, cin, L], v),
        weight: tensor([cout, cin, k], w),
        grad_output: tensor([1, cout, conv.out], y),
        stride,
        padding: pad,
        grads: ['input'],
      },
      { wire },
    );
    close({ ...output, data: withoutBias }, grad_input!.shape, grad_input!.data, 1e-12, 'transpose output');
  });

  test(`conv transpose backward over ${wire}: conv forward and conv backward with roles swapped`, async () => {
    // the transposed convolution of y [1, cout, out] by w [C_in = cout, C_out = cin, k] has output [1, cin, len]
    const y = Float64Array.from({ length: cout * want.out }, (_, i) => Math.cos(i) - 0.3);
    const g = Float64Array.from({ length: cin * len }, (_, i) => Math.sin(i * 0.3));
    const args = {
      input: tensor([1, cout, want.out], y),
      weight: tensor([cout, cin, k], w),
      grad_output: tensor([1, cin, len], g),
      stride,
    };
    const grads = await convd.convTransposeBackward(args, { wire });
    // grad_input = conv(grad_output, w)
    close(grads.grad_input!, [1, cout, want.out], conv1d(g, cin, len, w, cout, k, stride, 0).y, 1e-12, 'grad_input');
    // grad_weight = conv's grad_weight at input grad_output, grad_output y
    const { grad_weight } = await convd.convBackward(
      {
        input: tensor([1, cin, len], g),
        weight: tensor([cout, cin, k], w),
        grad_output: args.input,
        stride,
        grads: ['weight'],
      },
      { wire },
    );
    close(grads.grad_weight!, [cout, cin, k], grad_weight!.data, 1e-12, 'grad_weight');
    const sums = Array.from({ length: cin }, (_, c) => g.subarray(c * len, (c + 1) * len).reduce((a, v) => a + v, 0));
    close(grads.grad_bias!, [cin], sums, 1e-12, 'grad_bias');
    const onlyBias = await convd.convTransposeBackward({ ...args, grads: ['bias'] }, { wire });
    assert.deepEqual(Object.keys(onlyBias), ['grad_bias']);
  });

  test(`unfold and fold over ${wire}: the windows of a 1-D signal, and fold as unfold's adjoint`, async () => {
    const signal = Float64Array.from({ length: 6 }, (_, i) => i + 1);
    const { output: cols } = await convd.unfold(
      { input: tensor([1, 1, 6], signal), kernel_size: 3, stride: 2, padding: 1 },
      { wire },
    );
    // blocks start at -1, 1, 3 (padding 1, stride 2): rows are the taps 0, 1, 2
    close(cols, [1, 3, 3], [0, 2, 4, 1, 3, 5, 2, 4, 6], 0, 'columns');
    const c = Float64Array.from({ length: 9 }, (_, i) => Math.cos(i));
    const { output: image } = await convd.fold(
      { input: tensor([1, 3, 3], c), output_size: [6], kernel_size: 3, stride: 2, padding: 1 },
      { wire },
    );
    assert.deepEqual(image.shape, [1, 1, 6]);
    assert.ok(Math.abs(dot(cols.data, c) - dot(signal, image.data)) < 1e-12, 'adjoint identity');
  });

  test(`pool forward over ${wire}: return_indices answers the indices too`, async () => {
    const img = Float64Array.from({ length: 16 }, (_, i) => i + 1);
    const r = await convd.poolForward(
      {
        input: tensor([1, 1, 4, 4], img),
        mode: 'max',
        kernel_size: 3,
        stride: 2,
        ceil_mode: true,
        return_indices: true,
      },
      { wire },
    );
    assert.deepEqual(Array.from(r.output.data), [11, 12, 15, 16]);
    assert.deepEqual(Array.from(r.indices!.data), [10, 11, 14, 15]);
    // storage_order 1 (ONNX's): column-major, h + 4 * w
    const columnMajor = await convd.poolForward(
      {
        input: tensor([1, 1, 4, 4], img),
        mode: 'max',
        kernel_size: 3,
        stride: 2,
        ceil_mode: true,
        return_indices: true,
        storage_order: 1,
      },
      { wire },
    );
    assert.deepEqual(Array.from(columnMajor.indices!.data), [10, 14, 11, 15]);
  });

  test(`pool forward over ${wire}: lp_abs sums |x|^p (ONNX LpPool)`, async () => {
    const x = tensor([1, 1, 6], Float64Array.from([-3, 4, -5, 6, -8, 10]));
    const onnx = await convd.poolForward({ input: x, mode: 'lp', p: 3, lp_abs: true, kernel_size: 3 }, { wire });
    Array.from(onnx.output.data).forEach((v, i) => assert.ok(Math.abs(v - [6, 12][i]) < 1e-12, `${v}`));
    const torch = await convd.poolForward({ input: x, mode: 'lp', p: 3, kernel_size: 3 }, { wire });
    assert.ok(Number.isNaN(torch.output.data[0]), 'PyTorch form: the sum of x^3 is -88');
  });

  test(`adaptive pooling over ${wire}: overlapping windows forward and backward, global max`, async () => {
    const x = tensor([1, 1, 5], Float64Array.from([1, 2, 3, 4, 5]));
    const avg = await convd.adaptivePoolForward({ input: x, mode: 'avg', output_size: 3 }, { wire });
    assert.deepEqual(Array.from(avg.output.data), [1.5, 3, 4.5]);
    const { grad_input } = await convd.adaptivePoolBackward(
      { input: x, mode: 'avg', output_size: 3, grad_output: tensor([1, 1, 3], Float64Array.from([2, 3, 4])) },
      { wire },
    );
    assert.deepEqual(Array.from(grad_input.data), [1, 2, 1, 3, 2]);
    const max = await convd.adaptivePoolForward(
      { input: x, mode: 'max', output_size: 1, return_indices: true },
      { wire },
    );
    assert.deepEqual([Array.from(max.output.data), Array.from(max.indices!.data)], [[5], [4]]);
  });

  test(`pool forward over ${wire}: max and avg, 2-D, against direct loops`, async () => {
    const H = 5,
      W = 6;
    const img = Float32Array.from({ length: 2 * H * W }, (_, i) => ((i * 7) % 11) - 4);
    const max = await convd.poolForward({ input: tensor([1, 2, H, W], img), mode: 'max', kernel_size: 2 }, { wire });
    const avg = await convd.poolForward(
      {
        input: tensor([1, 2, H, W], img),
        mode: 'avg',
        kernel_size: 3,
        stride: 1,
        padding: 1,
        count_include_pad: false,
      },
      { wire },
    );
    const wantMax: number[] = [];
    for (let c = 0; c < 2; c++)
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 3; j++) {
          let m = -Infinity;
          for (let u = 0; u < 2; u++)
            for (let v = 0; v < 2; v++) m = Math.max(m, img[(c * H + 2 * i + u) * W + 2 * j + v]);
          wantMax.push(m);
        }
    close(max.output, [1, 2, 2, 3], wantMax, 0, 'max');
    assert.ok(max.output.data instanceof Float32Array);
    const wantAvg: number[] = [];
    for (let c = 0; c < 2; c++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          let sum = 0,
            n = 0;
          for (let u = i - 1; u <= i + 1; u++)
            for (let v = j - 1; v <= j + 1; v++)
              if (u >= 0 && u < H && v >= 0 && v < W) {
                sum += img[(c * H + u) * W + v];
                n++;
              }
          wantAvg.push(sum / n);
        }
    close(avg.output, [1, 2, H, W], wantAvg, 1e-6, 'avg');
  });

  test(`pool backward over ${wire}: max routes to the window maximum, avg spreads, channels_last`, async () => {
    // 1-D, channels_last [N, L, C]: two channels, windows of 2 with stride 2
    const input = Float64Array.of(1, 8, 5, 2, 3, 9, 4, 0); // L = 4, C = 2: channel 0 is 1 5 3 4, channel 1 is 8 2 9 0
    const g = Float64Array.of(10, 20, 30, 40); // [1, 2, 2]: (t0: c0, c1), (t1: c0, c1)
    const max = await convd.poolBackward(
      {
        input: tensor([1, 4, 2], input),
        grad_output: tensor([1, 2, 2], g),
        mode: 'max',
        kernel_size: 2,
        layout: 'channels_last',
      },
      { wire },
    );
    close(max.grad_input, [1, 4, 2], [0, 20, 10, 0, 0, 40, 30, 0], 0, 'max grad_input');
    const avg = await convd.poolBackward(
      {
        input: tensor([1, 4, 2], input),
        grad_output: tensor([1, 2, 2], g),
        mode: 'avg',
        kernel_size: 2,
        layout: 'channels_last',
      },
      { wire },
    );
    close(avg.grad_input, [1, 4, 2], [5, 10, 5, 10, 15, 20, 15, 20], 0, 'avg grad_input');
    assert.ok(avg.grad_input.data instanceof Float64Array);
  });

  test(`errors over ${wire}: ConvdError with the problem document naming the field`, async () => {
    await assert.rejects(
      convd.convForward(
        { input: tensor([1, 4, 5], new Float32Array(20)), weight: tensor([1, 3, 2], new Float32Array(6)) },
        { wire },
      ),
      (err: unknown) => {
        assert.ok(err instanceof ConvdError);
        assert.ok(err instanceof Error);
        assert.equal(err.name, 'ConvdError');
        assert.equal(err.status, 400);
        assert.ok(typeof err.problem === 'object' && err.problem.status === 400);
        assert.equal(err.type, 'urn:convd:problem:invalid-geometry');
        assert.equal(typeof err.title, 'string');
        assert.match(String(err.detail), /weight\.shape\[1\]/);
        assert.ok(err.errors.some((e) => e.path === 'weight.shape[1]'));
        assert.match(err.message, /^convd answered 400: /);
        assert.match(String(err.headers.get('content-type')), /problem\+json/);
        return true;
      },
    );
    await assert.rejects(
      convd.poolForward(
        { input: tensor([1, 1, 4], new Float64Array(4)), mode: 'max', kernel_size: 2, padding: 2 },
        { wire },
      ),
      (err: unknown) =>
        err instanceof ConvdError && err.status === 400 && err.errors.some((e) => e.path.startsWith('padding')),
    );
    await assert.rejects(
      convd.convTranspose(
        { input: tensor([1, 2, 3], new Float32Array(5)), weight: tensor([2, 1, 2], new Float32Array(4)) },
        { wire },
      ),
      (err: unknown) =>
        err instanceof ConvdError && err.status === 400 && err.type === 'urn:convd:problem:invalid-tensor-data',
    );
  });
}

test('a client made with wire json sends JSON; a call can still pick msgpack', async () => {
  const seen: string[] = [];
  const spy: typeof fetch = (input, init) => {
    seen.push(new Headers((input as Request).headers ?? init?.headers).get('content-type') ?? '');
    return fetch(input, init);
  };
  const jsonClient = createConvdClient(url, { wire: 'json', fetch: spy });
  const args = {
    input: tensor([1, 1, 3], Float32Array.of(1, 2, 3)),
    weight: tensor([1, 1, 2], Float32Array.of(1, -1)),
  };
  const a = await jsonClient.convForward(args);
  const m = await jsonClient.convForward(args, { wire: 'msgpack' });
  assert.deepEqual(seen, ['application/json', 'application/msgpack']);
  assert.deepEqual([...a.output.data], [-1, -1]);
  assert.deepEqual([...m.output.data], [-1, -1]);
});

test('an aborted call rejects with the abort reason', async () => {
  const args = {
    input: tensor([1, 1, 3], Float32Array.of(1, 2, 3)),
    weight: tensor([1, 1, 2], Float32Array.of(1, -1)),
  };
  await assert.rejects(
    convd.convForward(args, { signal: AbortSignal.abort() }),
    (err: unknown) => err instanceof Error && err.name === 'AbortError',
  );
});

test('the raw openapi-fetch client reaches the other routes, typed', async () => {
  const { data, response } = await convd.api.GET('/healthz');
  assert.equal(response.status, 200);
  assert.deepEqual(data, { status: 'ok' });
});

/** The value of 16 bits of `dtype`, from the format's definition (sign, biased exponent, fraction). */
function halfValue(dtype: HalfDType, bits: number): number {
  const [fractionBits, bias] = dtype === 'float16' ? [10, 15] : [7, 127];
  const exponentMax = (1 << (15 - fractionBits)) - 1;
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> fractionBits) & exponentMax;
  const f = bits & ((1 << fractionBits) - 1);
  if (e === exponentMax) return f === 0 ? sign * Infinity : NaN;
  return sign * 2 ** ((e === 0 ? 1 : e) - bias) * ((e === 0 ? 0 : 1) + f / 2 ** fractionBits);
}

for (const dtype of ['float16', 'bfloat16'] as HalfDType[]) {
  test(`${dtype}: every value of the dtype rounds to itself, NaN to NaN`, () => {
    const values = Float32Array.from({ length: 0x10000 }, (_, bits) => halfValue(dtype, bits));
    const rounded = roundToHalf(dtype, values);
    values.forEach((v, i) =>
      assert.ok(Object.is(rounded[i], v) || (Number.isNaN(v) && Number.isNaN(rounded[i])), `0x${i.toString(16)}`),
    );
  });
}

test('rounding to nearest, ties to even, overflow and subnormals', () => {
  const f16 = (...v: number[]) => [...roundToHalf('float16', Float32Array.from(v))];
  const bf16 = (...v: number[]) => [...roundToHalf('bfloat16', Float32Array.from(v))];
  assert.deepEqual(f16(1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20), [1, 1 + 2 ** -9, 1 + 2 ** -10]);
  assert.deepEqual(f16(65504, 65519, 65520, -1e6), [65504, 65504, Infinity, -Infinity]);
  assert.deepEqual(f16(2 ** -25, 3 * 2 ** -25, 2 ** -25 + 2 ** -30, 2 ** -14 - 2 ** -26), [
    0,
    2 ** -23,
    2 ** -24,
    2 ** -14,
  ]);
  assert.deepEqual(bf16(1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4028234663852886e38, 2 ** -133), [
    1,
    1 + 2 ** -6,
    Infinity,
    2 ** -133,
  ]);
  // where the runtime has Float16Array (Node 24), it is an independent reference for float16
  const Float16 = (globalThis as { Float16Array?: { from(values: ArrayLike<number>): ArrayLike<number> } })
    .Float16Array;
  if (Float16) {
    const values = Float32Array.from({ length: 100_000 }, (_, i) => Math.sin(i) * 2 ** ((i % 48) - 30));
    const rounded = roundToHalf('float16', values);
    const want = Float16.from(values);
    values.forEach((v, i) => assert.ok(Object.is(rounded[i], want[i]), `${v}: ${rounded[i]}, not ${want[i]}`));
  }
});

for (const wire of ['msgpack', 'json'] as Wire[]) {
  for (const dtype of ['float16', 'bfloat16'] as HalfDType[]) {
    test(`${wire}: a ${dtype} convolution answers the float32 answer to the rounded operands, rounded once`, async () => {
      const input = Float32Array.from({ length: 2 * 9 }, (_, i) => Math.sin(i) * 3);
      const weight = Float32Array.from({ length: 3 * 2 * 2 }, (_, i) => Math.cos(i));
      const args = (d: 'float32' | HalfDType, x: Float32Array, w: Float32Array) => ({
        input: tensor([1, 2, 9], x, d),
        weight: tensor([3, 2, 2], w, d),
        stride: 2,
      });
      const { output: half } = await convd.convForward(args(dtype, input, weight), { wire });
      const { output: float32 } = await convd.convForward(
        args('float32', roundToHalf(dtype, input), roundToHalf(dtype, weight)),
        { wire },
      );
      assert.equal(half.dtype, dtype);
      assert.deepEqual(half.shape, [1, 3, 4]);
      assert.ok(half.data instanceof Float32Array);
      assert.deepEqual([...half.data], [...roundToHalf(dtype, float32.data)]);
      assert.notDeepEqual([...half.data], [...float32.data], 'the results needed rounding');
    });
  }
}

test('tensor() refuses a Float64Array for float16 and bfloat16', () => {
  assert.throws(() => tensor([1, 1, 1], Float64Array.of(1), 'float16'), /float16 tensor needs a Float32Array/);
  assert.throws(() => tensor([1, 1, 1], Float32Array.of(1), 'float64'), /float64 tensor needs a float64 array/);
});

for (const wire of ['msgpack', 'json'] as Wire[]) {
  test(`${wire}: an empty batch answers empty results and zero gradients`, async () => {
    const input = tensor([0, 2, 5], new Float32Array(0));
    const weight = tensor(
      [3, 2, 2],
      Float32Array.from({ length: 12 }, (_, i) => i),
    );
    const { output } = await convd.convForward({ input, weight }, { wire });
    assert.deepEqual(output.shape, [0, 3, 4]);
    assert.equal(output.data.length, 0);
    const grads = await convd.convBackward({ input, weight, grad_output: output }, { wire });
    assert.deepEqual(grads.grad_input?.shape, [0, 2, 5]);
    assert.deepEqual([...grads.grad_weight!.data], Array<number>(12).fill(0));
  });
}
