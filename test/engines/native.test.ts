/**
 * The native engine's addon (native/, workers/engines/native.ts) at its boundary: every
 * argument is checked before a kernel runs (element types, extents, offsets and strides
 * against the arrays' lengths, the im2col plan record's fields) and a bad one throws a
 * TypeError or RangeError naming it, never reading or writing out of bounds (the sanitizer run,
 * scripts/ci/native-sanitize.sh, runs these under AddressSanitizer); and the engine computes on
 * the callers' arrays in place, SharedArrayBuffer slices included, staging nothing. And which
 * calls the float32 engine plans on oneDNN.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import { numel } from '../../src/shared/tensor.js';
import { convBackward, convForward } from '../../workers/kernels/conv.js';
import { planConv } from '../../workers/kernels/plan.js';
import { lowerConv } from '../../workers/kernels/lowering.js';
import { convolutionRecord, CONV_FIELDS, CONV_LAYOUT, nativeAddon } from '../../workers/engines/native.js';
import { PLAN_FIELDS, PLAN_LAYOUT, planRecord } from '../../workers/engines/wasm.js';
import { engineNamed, NATIVE_SKIP, nativeEngine } from '../reference/engines.js';
import { rng, randomTensor } from '../reference/data.js';

function addon() {
  nativeEngine();
  const lib = nativeAddon();
  assert.ok(lib, 'the addon loaded');
  return lib;
}

const f32 = (n: number) => new Float32Array(n);

describe('native addon: argument checks', { skip: NATIVE_SKIP }, () => {
  test('gemm: extents, offsets and strides are checked against each array', () => {
    const lib = addon();
    const [a, b, c] = [f32(6), f32(6), f32(4)];
    // A 2x3 row-major, B 3x2 row-major, C 2x2: valid
    lib.gemm(2, 2, 3, a, 0, 3, 1, b, 0, 2, 1, c, 0, 2, false);
    const bad: [string, () => void, RegExp][] = [
      ['A one element short', () => lib.gemm(2, 2, 3, f32(5), 0, 3, 1, b, 0, 2, 1, c, 0, 2, false), /^A: .*5 elements/],
      ['A offset past its end', () => lib.gemm(2, 2, 3, a, 1, 3, 1, b, 0, 2, 1, c, 0, 2, false), /^A: .*offset 1/],
      ['B stride too wide', () => lib.gemm(2, 2, 3, a, 0, 3, 1, b, 0, 3, 1, c, 0, 2, false), /^B: /],
      ['C too short', () => lib.gemm(2, 2, 3, a, 0, 3, 1, b, 0, 2, 1, f32(3), 0, 2, false), /^C: /],
      ['ldc below n', () => lib.gemm(2, 2, 3, a, 0, 3, 1, b, 0, 2, 1, c, 0, 1, false), /ldc 1 is below the 2 columns/],
      ['a negative extent', () => lib.gemm(-1, 2, 3, a, 0, 3, 1, b, 0, 2, 1, c, 0, 2, false), /m must be non-negative/],
      [
        'a fractional stride',
        () => lib.gemm(2, 2, 3, a, 0, 2.5, 1, b, 0, 2, 1, c, 0, 2, false),
        /A row stride must be an integer/,
      ],
      [
        'an extent beyond 2^53',
        () => lib.gemm(2 ** 60, 2, 3, a, 0, 3, 1, b, 0, 2, 1, c, 0, 2, false),
        /m must be an integer/,
      ],
      ['an extent beyond int', () => lib.gemm(2 ** 31, 1, 1, a, 0, 1, 1, b, 0, 1, 1, c, 0, 1, false), /BLAS int range/],
    ];
    for (const [what, call, message] of bad)
      assert.throws(call, (e: unknown) => e instanceof RangeError && message.test(e.message), what);
    const types: [string, () => void, RegExp][] = [
      [
        'mixed element types',
        () => lib.gemm(2, 2, 3, a, 0, 3, 1, new Float64Array(6), 0, 2, 1, c, 0, 2, false),
        /B must be a Float32Array/,
      ],
      [
        'an integer array',
        () => lib.gemm(2, 2, 3, new Int32Array(6) as unknown as Float32Array, 0, 3, 1, b, 0, 2, 1, c, 0, 2, false),
        /A must be a Float32Array or Float64Array/,
      ],
      [
        'a number for a flag',
        () => lib.gemm(2, 2, 3, a, 0, 3, 1, b, 0, 2, 1, c, 0, 2, 0 as unknown as boolean),
        /accumulate must be a boolean/,
      ],
      [
        'a string for an extent',
        () => lib.gemm('2' as unknown as number, 2, 3, a, 0, 3, 1, b, 0, 2, 1, c, 0, 2, false),
        /m must be a number/,
      ],
      [
        'too few arguments',
        () => (lib.gemm as unknown as (...args: unknown[]) => void)(2, 2, 3),
        /expected 15 arguments, got 3/,
      ],
    ];
    for (const [what, call, message] of types)
      assert.throws(call, (e: unknown) => e instanceof TypeError && message.test(e.message), what);
  });

  test('im2colPlan: the record must be 26 float64 integers, padding within what the mode can map', () => {
    const lib = addon();
    const g = resolveConv(
      { input: { dtype: 'float32', shape: [1, 2, 5, 5] }, weight: { dtype: 'float32', shape: [3, 2, 3, 3] } },
      { padding: 2, padding_mode: 'reflect' },
    );
    const record = planRecord(lowerConv(g), new Float64Array(PLAN_FIELDS));
    lib.im2colPlan(record);
    assert.throws(() => lib.im2colPlan(new Float64Array(PLAN_FIELDS - 1)), /Float64Array of 26 fields/);
    assert.throws(() => lib.im2colPlan(Float32Array.from(record) as unknown as Float64Array), TypeError);
    const withField = (i: number, v: number) => Float64Array.from(record, (x, j) => (j === i ? v : x));
    assert.throws(() => lib.im2colPlan(withField(PLAN_LAYOUT.STRIDE, 0)), /stride D is 0/);
    assert.throws(() => lib.im2colPlan(withField(PLAN_LAYOUT.CIN_G, 1.5)), /cinG is 1.5/);
    assert.throws(() => lib.im2colPlan(withField(PLAN_LAYOUT.PADDING_MODE, 4)), /paddingMode is 4/);
    assert.throws(() => lib.im2colPlan(withField(PLAN_LAYOUT.IN_EXT + 2, NaN)), /inExt W/);
    // reflect padding 5 on an axis of 5 would read coordinate -5: outside the input
    assert.throws(
      () => lib.im2colPlan(withField(PLAN_LAYOUT.PAD_BEFORE + 2, 5)),
      (e: unknown) => e instanceof RangeError && /padding of axis W reaches coordinate -5/.test(e.message),
    );
    assert.throws(() => lib.im2col({} as never, f32(50), 0, 0, 0, 25, f32(18 * 25), 0, 25), /plan made by this addon/);
  });

  test('im2col / col2im: image, group and positions are checked against the plan and the arrays', () => {
    const lib = addon();
    const g = resolveConv(
      { input: { dtype: 'float32', shape: [2, 4, 5, 5] }, weight: { dtype: 'float32', shape: [4, 2, 3, 3] } },
      { padding: 1, groups: 2 },
    );
    const p = lowerConv(g);
    const plan = lib.im2colPlan(planRecord(p, new Float64Array(PLAN_FIELDS)));
    const [x, cols] = [f32(2 * p.xN), f32(p.K * p.positions)];
    lib.im2col(plan, x, p.xN, 1, 0, p.positions, cols, 0, p.positions); // last image, last group: valid
    lib.col2im(plan, cols, 0, p.positions, 1, 0, p.positions, x, p.xN);
    const cases: [string, () => void, RegExp][] = [
      [
        'image past the input',
        () => lib.im2col(plan, x, 2 * p.xN - 1, 0, 0, 1, cols, 0, 1),
        /reaches past the input's 200 elements/,
      ],
      ['group past the channels', () => lib.im2col(plan, x, p.xN, 2, 0, 1, cols, 0, 1), /group 2 reaches past/],
      [
        'positions past the output',
        () => lib.im2col(plan, x, 0, 0, 0, p.positions + 1, cols, 0, p.positions + 1),
        /not within the 25 output positions/,
      ],
      ['p1 before p0', () => lib.im2col(plan, x, 0, 0, 3, 2, cols, 0, 25), /positions \[3, 2\)/],
      ['columns too short', () => lib.im2col(plan, x, 0, 0, 0, 25, f32(p.K * 25 - 1), 0, 25), /^columns: /],
      [
        'column stride below the tile',
        () => lib.im2col(plan, x, 0, 0, 0, 25, cols, 0, 24),
        /column stride 24 is below/,
      ],
      [
        'dx too short',
        () => lib.col2im(plan, cols, 0, 25, 1, 0, 25, f32(p.xN - 1), 0),
        /reaches past the input's 99 elements/,
      ],
    ];
    for (const [what, call, message] of cases)
      assert.throws(call, (e: unknown) => e instanceof RangeError && message.test(e.message), what);
    assert.throws(
      () => lib.im2col(plan, x, 0, 0, 0, 25, new Float64Array(p.K * 25), 0, 25),
      /columns must be a Float32Array/,
    );
  });
});

describe('native addon: direct kernel checks', { skip: NATIVE_SKIP }, () => {
  test('the dims record must fit its span; every volume is checked against its array', () => {
    const lib = addon();
    // span 4 x 5 x 6, out 2 x 3 x 4, taps 3 x 3 x 3, stride 1, dilation 1: the taps end at the span's edge
    const d = Float64Array.from([4, 5, 6, 2, 3, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1]);
    const [xp, wk, out] = [f32(120), f32(27), f32(24)];
    lib.directForward(d, xp, wk, 0.5, out, 0);
    assert.ok(out.every((v) => v === 0.5));
    const wide = Float64Array.from(d, (v, i) => (i === 5 ? 5 : v)); // out W 5: the last tap reads W index 6
    const cases: [string, () => void, RegExp][] = [
      ['taps past the span', () => lib.directForward(wide, xp, wk, 0, f32(30), 0), /reach past the padded span of 6/],
      ['xp too short', () => lib.directForward(d, f32(119), wk, 0, out, 0), /^xp: 120 elements/],
      ['out at an offset past its end', () => lib.directForward(d, xp, wk, 0, out, 1), /^out: 24 elements at offset 1/],
      ['dwk too short', () => lib.directGradWeight(d, out, 0, xp, f32(26), 0), /^dwk: 27 elements/],
      ['dxp too short', () => lib.directGradInput(d, out, 0, wk, f32(100)), /^dxp: 120 elements/],
      [
        'a zero extent',
        () =>
          lib.directForward(
            Float64Array.from(d, (v, i) => (i === 0 ? 0 : v)),
            xp,
            wk,
            0,
            out,
            0,
          ),
        /direct span is 0/,
      ],
    ];
    for (const [what, call, message] of cases)
      assert.throws(call, (e: unknown) => e instanceof RangeError && message.test(e.message), what);
    assert.throws(() => lib.directForward(d.subarray(1), xp, wk, 0, out, 0), /Float64Array of 15 fields/);
    assert.throws(() => lib.directForward(d, xp, new Float64Array(27), 0, out, 0), /wk must be a Float32Array/);
  });
});

describe('native engine: in place', { skip: NATIVE_SKIP }, () => {
  test('reads its dtype in place (ordinary or shared memory, any offset); plans stage nothing', () => {
    for (const [name, mine, other] of [
      ['native', new Float32Array(new SharedArrayBuffer(64)), new Float64Array(4)],
      ['native-f64', new Float64Array(new SharedArrayBuffer(64)), new Float32Array(4)],
    ] as const) {
      const e = engineNamed(name);
      assert.equal(e.readsInPlace, true);
      assert.equal(e.reads(mine.slice()), true, 'an ordinary array');
      assert.equal(e.reads(mine.subarray(3)), true, 'a shared slice');
      assert.equal(e.reads(other), false, 'the other dtype');
      const g = resolveConv(
        { input: { dtype: 'float32', shape: [3, 4, 6, 6] }, weight: { dtype: 'float32', shape: [5, 4, 3, 3] } },
        { padding: 1 },
      );
      const plan = planConv(g, e);
      assert.equal(plan.staged, false);
      for (const pass of Object.values(plan.buffers)) {
        for (const key of ['images', 'weight']) assert.equal(pass[key] ?? 0, 0, `${name}: ${key} staged`);
      }
    }
  });

  test('forward and backward on SharedArrayBuffer slices (as the batch split hands them) equal those on ordinary arrays', () => {
    const e = nativeEngine('float32');
    const g = resolveConv(
      {
        input: { dtype: 'float32', shape: [2, 3, 7, 6] },
        weight: { dtype: 'float32', shape: [4, 3, 3, 2] },
        grad_output: { dtype: 'float32', shape: [2, 4, 7, 7] },
      },
      { padding: 1, padding_mode: 'circular' },
    );
    const rand = rng(3);
    const [nx, nw, ny] = [numel(g.inputShape), numel(g.weightShape), numel(g.outputShape)];
    const x = randomTensor(nx, 'float32', rand) as Float32Array;
    const w = randomTensor(nw, 'float32', rand) as Float32Array;
    const dy = randomTensor(ny, 'float32', rand) as Float32Array;
    const shared = new Float32Array(new SharedArrayBuffer((2 * nx + nw + 2 * ny + 5) * 4));
    const slice = (at: number, n: number, from?: Float32Array) => {
      const v = shared.subarray(at, at + n);
      if (from) v.set(from);
      else v.fill(NaN);
      return v;
    };
    const [sx, sw, sdy, sy, sdx] = [
      slice(1, nx, x),
      slice(2 + nx, nw, w),
      slice(3 + nx + nw, ny, dy),
      slice(4 + nx + nw + ny, ny),
      slice(5 + nx + nw + 2 * ny, nx),
    ];
    const y = new Float32Array(ny);
    const dx = new Float32Array(nx);
    convForward(g, x, w, null, y, e);
    convBackward(g, x, w, dy, { input: dx }, e);
    convForward(g, sx, sw, null, sy, e);
    convBackward(g, sx, sw, sdy, { input: sdx }, e);
    assert.deepEqual(sy, y);
    assert.deepEqual(sdx, dx);
    assert.ok(y.some((v) => v !== 0));
  });
});

describe('native engine: oneDNN convolutions', { skip: NATIVE_SKIP }, () => {
  const conv = (input: number[], weight: number[], params: Parameters<typeof resolveConv>[1] = {}) =>
    resolveConv({ input: { dtype: 'float32', shape: input }, weight: { dtype: 'float32', shape: weight } }, params);

  test('planned for float32 zeros padding; grad_input only from 4 input channels; never float64, other padding modes or native-blas', () => {
    const wide = planConv(conv([2, 8, 9, 9], [4, 8, 3, 3], { padding: 1 }), nativeEngine('float32'));
    assert.ok(wide.library?.gradInput, 'S1-like: all three passes');
    const narrow = planConv(conv([2, 3, 9, 9], [4, 3, 3, 3], { padding: 1 }), nativeEngine('float32'));
    assert.ok(narrow.library && !narrow.library.gradInput, '3 input channels: grad_input by col2im + sgemm');
    assert.equal(
      planConv(conv([2, 8, 9, 9], [4, 8, 3, 3], { padding: 1, padding_mode: 'reflect' }), nativeEngine('float32'))
        .library,
      null,
    );
    assert.equal(
      planConv(conv([2, 8, 9, 9], [4, 8, 3, 3], { padding: 1 }), nativeEngine('float32', false)).library,
      null,
    );
    const f64 = resolveConv(
      { input: { dtype: 'float64', shape: [2, 8, 9, 9] }, weight: { dtype: 'float64', shape: [4, 8, 3, 3] } },
      { padding: 1 },
    );
    assert.equal(planConv(f64, nativeEngine('float64')).library, null);
  });

  test('the convolution record and every tensor are checked; a non-finite weight meeting zero padding is declined', () => {
    const lib = addon();
    const g = conv([2, 4, 5, 5], [3, 4, 3, 3], { padding: 1 });
    const p = lowerConv(g);
    const record = convolutionRecord(p);
    const c = lib.convolution(record);
    const [x, w, y] = [f32(2 * p.xN), f32(3 * 4 * 9), f32(2 * p.yN)];
    assert.equal(lib.convForward(c, x, 0, w, null, y, 0), true);
    assert.throws(() => lib.convolution(new Float64Array(CONV_FIELDS - 1)), /Float64Array of 34 fields/);
    const withField = (i: number, v: number) => Float64Array.from(record, (r, j) => (j === i ? v : r));
    assert.throws(() => lib.convolution(withField(CONV_LAYOUT.IMAGES, 0)), /images is 0/);
    assert.throws(() => lib.convolution(withField(CONV_LAYOUT.STRIDE + 1, -1)), /stride is -1/);
    const cases: [string, () => void, RegExp][] = [
      [
        'x one image short',
        () => lib.convForward(c, f32(p.xN), 0, w, null, y, 0),
        /^x at offset 0 reaches past the array's 100 elements/,
      ],
      ['y at an offset past its end', () => lib.convForward(c, x, 0, w, null, y, 1), /^y at offset 1/],
      ['weight too short', () => lib.convForward(c, x, 0, f32(107), null, y, 0), /^weight at offset 0/],
      ['bias too short', () => lib.convForward(c, x, 0, w, f32(2), y, 0), /bias has 2 elements, fewer than the 3/],
      ['grad_input too short', () => lib.convBackwardData(c, w, y, 0, f32(p.xN), 0), /^grad_input at offset 0/],
      ['grad_weight too short', () => lib.convBackwardWeights(c, x, 0, y, 0, f32(10)), /^grad_weight at offset 0/],
    ];
    for (const [what, call, message] of cases)
      assert.throws(call, (e: unknown) => e instanceof RangeError && message.test(e.message), what);
    assert.throws(() => lib.convForward(c, new Float64Array(2 * p.xN), 0, w, null, y, 0), /x must be a Float32Array/);
    // 0 · inf at the padded border is NaN by the definition; oneDNN skips padded taps, so it declines
    w[0] = Infinity;
    assert.equal(lib.convForward(c, x, 0, w, null, y, 0), false);
    const dy = f32(2 * p.yN);
    dy[0] = NaN;
    assert.equal(lib.convBackwardWeights(c, x, 0, dy, 0, f32(w.length)), false);
  });
});
