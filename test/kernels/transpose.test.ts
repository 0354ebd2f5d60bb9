/**
 * conv_transpose kernel (workers/kernels/transpose.ts) on both engines, passed explicitly (ts
 * on float32 and float64 draws, wasm on float32):
 *   - against the naive direct-definition reference (test/reference/naive-transpose.ts) on
 *     random geometries: rank 1-3, both layouts and the letter aliases, groups, stride,
 *     padding (int, per dim, [before, after], "valid" and ONNX's "same" / "same_lower"),
 *     output_padding (below stride, or below dilation when it is not below stride),
 *     output_size (PyTorch's within its range, ONNX's output_shape with auto_pad above and
 *     below in * stride), dilation, bias, GEMM tiles from one position to the whole image,
 *     non-finite values;
 *   - the identity conv_transpose(x, W) == grad_input of conv(·, W) with the same parameters:
 *     bit for bit against convBackward on a geometry from resolveConv, and within tolerance
 *     against naive-conv.ts's backward (a reference written for conv, not for this op).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { numel } from '../../src/shared/tensor.js';
import { resolveConv, type ConvParams } from '../../src/shared/geometry/conv.js';
import { resolveTranspose, type TransposeParams } from '../../src/shared/geometry/transpose.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { Real } from '../../src/shared/tensor.js';
import { convBackward } from '../../workers/kernels/conv.js';
import { convTranspose, convTransposeBackward } from '../../workers/kernels/transpose.js';
import { CHANNELS_LAST, channelModel } from '../reference/arbitraries.js';
import { alloc, randomTensor, rng, type Dt } from '../reference/data.js';
import { counting, engineNamed, engineRuns, runnable, withTilePositions, type Engine } from '../reference/engines.js';
import { refGeometry, referenceBackward, referenceForward, type RefResult } from '../reference/naive-conv.js';
import {
  refTransposeGeometry,
  referenceTranspose,
  referenceTransposeBackward,
  type RefTransposeGeom,
} from '../reference/naive-transpose.js';
import { checkClose } from '../reference/tolerance.js';

const SEED = 20261126;
const LIMITS = { 1: { k: 5, in: 7 }, 2: { k: 4, in: 5 }, 3: { k: 3, in: 3 } } as const;

interface Case {
  inputShape: number[];
  weightShape: number[];
  params: TransposeParams;
  bias: boolean;
  dtype: Dt;
  seed: number;
  /** GEMM tile width in positions (0: the default budget). */
  tile: number;
  special: boolean;
}

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((rank) => {
  const lim = LIMITS[rank as 1 | 2 | 3];
  const dim = fc.record({
    k: fc.integer({ min: 1, max: lim.k }),
    stride: fc.integer({ min: 1, max: 3 }),
    dil: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 })),
    pad: fc.integer({ min: 0, max: 3 }),
    opadFrac: fc.double({ min: 0, max: 0.999, noNaN: true }),
    afterFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    in: fc.integer({ min: 1, max: lim.in }),
    // output_size: how far within PyTorch's range, or ONNX's target from in * stride
    sizeFrac: fc.double({ min: 0, max: 0.999, noNaN: true }),
    sizeShift: fc.integer({ min: -4, max: 3 }),
  });
  return fc
    .record({
      ...channelModel(rank),
      dims: fc.array(dim, { minLength: rank, maxLength: rank }),
      forms: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), // int (true) or per-dim, for stride / padding / output_padding / dilation
      pairs: fc.integer({ min: 0, max: 3 }).map((v) => v === 0), // padding as [before, after] per dim (after <= before)
      auto: fc.constantFrom(undefined, undefined, undefined, 'valid', 'same', 'same_lower'),
      size: fc.constantFrom('none', 'none', 'spatial', 'shape'), // output_size: absent, per spatial dim, the whole shape
      bias: fc.boolean(),
      dtype: fc.constantFrom<Dt>('float32', 'float64'),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      tile: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 2, max: 7 })),
      special: fc.integer({ min: 0, max: 9 }).map((v) => v === 0),
    })
    .map((r): Case => {
      const dims = r.dims.map((x) => ({ ...x }));
      const [strideInt, padInt, opadInt, dilInt] = r.forms;
      if (strideInt) dims.forEach((x) => (x.stride = dims[0].stride));
      if (dilInt) dims.forEach((x) => (x.dil = dims[0].dil));
      if (opadInt) dims.forEach((x) => (x.opadFrac = dims[0].opadFrac));
      const opads = dims.map((x) => Math.floor(x.opadFrac * Math.max(x.stride, x.dil)));
      if (opadInt) opads.fill(Math.min(...opads));
      // the output extent must stay >= 1: at most half of (in - 1) * stride + dilation * (k - 1) + output_padding
      const pads = dims.map((x, i) =>
        Math.min(x.pad, Math.floor(((x.in - 1) * x.stride + x.dil * (x.k - 1) + opads[i]) / 2)),
      );
      if (padInt) pads.fill(Math.min(...pads));
      const params: TransposeParams = {};
      params.stride = strideInt ? dims[0].stride : dims.map((x) => x.stride);
      params.dilation = dilInt ? dims[0].dil : dims.map((x) => x.dil);
      params.output_padding = opadInt ? opads[0] : opads;
      params.padding = r.pairs
        ? pads.map((v, i): [number, number] => [v, Math.floor(v * dims[i].afterFrac)])
        : padInt
          ? pads[0]
          : pads;
      if (r.groups !== 1 || r.seed % 2 === 0) params.groups = r.groups;
      if (r.layout !== undefined) params.layout = r.layout;
      const cl = CHANNELS_LAST.has(r.layout);
      const cin = r.cinG * r.groups;
      const inSp = dims.map((x) => x.in);
      const k = dims.map((x) => x.k);
      if (r.auto !== undefined) params.padding = r.auto;
      if (r.size !== 'none') {
        const pairs = normalPairs(params.padding, rank);
        const sizes = dims.map((x, i) => {
          const span = x.dil * (x.k - 1) + 1;
          if (r.auto === 'same' || r.auto === 'same_lower') return Math.max(1, x.in * x.stride + x.sizeShift);
          // PyTorch: from the smallest output to the largest output_padding past it
          const min = (x.in - 1) * x.stride - pairs[i][0] - pairs[i][1] + span;
          const [lo, hi] = [Math.max(min, 1), min + Math.max(x.stride, x.dil) - 1];
          return lo + Math.floor(x.sizeFrac * (hi - lo + 1));
        });
        // output_size sets output_padding on explicit padding: left 0 (its default), or equal to what output_size sets
        if (r.auto !== 'same' && r.auto !== 'same_lower')
          params.output_padding = r.seed % 3 === 0 ? 0 : sizes.map((o, i) => o - transposeMin(dims[i], pairs[i]));
        const cout = r.coutG * r.groups;
        params.output_size = r.size === 'spatial' ? sizes : cl ? [r.batch, ...sizes, cout] : [r.batch, cout, ...sizes];
      }
      return {
        inputShape: cl ? [r.batch, ...inSp, cin] : [r.batch, cin, ...inSp],
        weightShape: cl ? [...k, r.coutG, cin] : [cin, r.coutG, ...k],
        params,
        bias: r.bias,
        dtype: r.dtype,
        seed: r.seed,
        tile: r.tile,
        special: r.special,
      };
    });
});

/** [before, after] per spatial dim of an explicit padding, "valid" or absent. */
function normalPairs(padding: TransposeParams['padding'], dims: number): [number, number][] {
  if (padding === undefined || typeof padding === 'string' || typeof padding === 'number') {
    const v = typeof padding === 'number' ? padding : 0;
    return Array.from({ length: dims }, () => [v, v]);
  }
  return padding.map((e): [number, number] => (typeof e === 'number' ? [e, e] : e));
}

/** The output extent without output_padding: (in - 1) * stride - before - after + dilation * (k - 1) + 1. */
const transposeMin = (x: { in: number; stride: number; dil: number; k: number }, [before, after]: [number, number]) =>
  (x.in - 1) * x.stride - before - after + x.dil * (x.k - 1) + 1;

function geometries(c: Case): { g: ConvGeometry; rg: RefTransposeGeom } {
  const rg = refTransposeGeometry(c.inputShape, c.weightShape, c.params);
  const t = (shape: number[]) => ({ dtype: c.dtype, shape });
  const g = resolveTranspose(
    { input: t(c.inputShape), weight: t(c.weightShape), bias: c.bias ? t([rg.cout]) : undefined },
    c.params,
  );
  assert.deepEqual(g.inputShape, rg.outputShape, 'output shape');
  assert.deepEqual(g.outputShape, c.inputShape, 'the convolution maps the output back to the input');
  return { g, rg };
}

function data(c: Case, rg: RefTransposeGeom) {
  const rand = rng(c.seed);
  const x = randomTensor(numel(rg.inputShape), c.dtype, rand);
  const w = randomTensor(numel(rg.weightShape), c.dtype, rand);
  const b = c.bias ? randomTensor(rg.cout, c.dtype, rand) : null;
  const dy = randomTensor(numel(rg.outputShape), c.dtype, rand);
  if (c.special) {
    const specials = [NaN, Infinity, -Infinity];
    for (const a of [x, w, dy])
      for (let i = 0; i < a.length; i++) if (rand() < 0.1) a[i] = specials[Math.floor(rand() * 3)];
  }
  return { x, w, b, dy };
}

/** Runs `f` with conv.ts's grad_input taking `c.tile` positions per tile on `engine` (K and C_out/groups of the convolution being transposed). */
const withTile = <T>(c: Case, g: ConvGeometry, engine: Engine, f: () => T): T =>
  withTilePositions(engine, (g.inChannels / g.groups) * numel(g.kernel) + g.outChannels / g.groups, c.tile, f);

function assertClose(got: Real, r: RefResult, c: Case, what: string): void {
  const rep = checkClose(got, r.ref, r.absBound, r.nTerms, c.dtype, { float64Reference: true });
  assert.ok(rep.ok, `${what}: ${rep.message}\n  case: ${JSON.stringify(c)}`);
}

/**
 * The forward convolution of the same parameters as case `c`, for resolveConv (its input has
 * the transposed output's shape), from the reference's padding and extents: it pads `before`
 * before and (in - 1) * stride + dilation * (k - 1) + 1 - out - before after each dim, the
 * least that makes its output `in` (after - output_padding for an explicit padding); null
 * when that is negative.
 */
function sameConvolution(c: Case, rg: RefTransposeGeom): ConvParams | null {
  const dims = c.inputShape.length - 2;
  const last = (v: number[]) => v.slice(3 - dims);
  const [inSp, k, out, stride, before, dil] = [rg.in3, rg.k3, rg.out3, rg.stride3, rg.pad3, rg.dil3].map(last);
  const padding = before.map((b, i): [number, number] => [
    b,
    (inSp[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 - out[i] - b,
  ]);
  if (padding.some(([, after]) => after < 0)) return null;
  return {
    stride: c.params.stride,
    dilation: c.params.dilation,
    groups: c.params.groups,
    layout: c.params.layout,
    padding,
  };
}

const ENGINE_RUNS = engineRuns(caseArb, SEED);

for (const run of ENGINE_RUNS.filter((r) => runnable([r.name]).length > 0)) {
  test(`conv_transpose matches the naive reference on random geometries [${run.label}]`, () => {
    const engine = engineNamed(run.name);
    fc.assert(
      fc.property(run.arb, (c) => {
        const { g, rg } = geometries(c);
        const { x, w, b } = data(c, rg);
        const y = alloc(c.dtype, numel(rg.outputShape)).fill(NaN);
        const counted = counting(engine);
        withTile(c, g, engine, () => convTranspose(g, x, w, b, y, counted.engine));
        assertClose(y, referenceTranspose(rg, x, w, b), c, 'output');
        assert.ok(counted.calls > 0, `no kernel ran on ${engine.name}`);
      }),
      { seed: run.seed, numRuns: 800, includeErrorInReport: true },
    );
  });

  test(`conv_transpose(x, W) == grad_input of conv with the same parameters [${run.label}]`, () => {
    const engine = engineNamed(run.name);
    let checked = 0;
    fc.assert(
      fc.property(
        run.arb.filter((c) => !c.special),
        (c) => {
          const { g, rg } = geometries(c);
          const { x, w } = data(c, rg);
          const convParams = sameConvolution(c, rg);
          if (!convParams) return; // would need negative padding
          const t = (shape: number[]) => ({ dtype: c.dtype, shape });
          const gc = resolveConv(
            { input: t(g.inputShape), weight: t(c.weightShape), grad_output: t(c.inputShape) },
            convParams,
          );
          assert.deepEqual(
            gc.outputShape,
            c.inputShape,
            "the convolution's output has the transposed convolution's input shape",
          );

          const y = alloc(c.dtype, numel(g.inputShape)).fill(NaN);
          withTile(c, g, engine, () => convTranspose(g, x, w, null, y, engine));
          const dx = alloc(c.dtype, numel(gc.inputShape)).fill(NaN);
          withTile(c, gc, engine, () => convBackward(gc, alloc(c.dtype, 0), w, x, { input: dx }, engine));
          assert.deepEqual(y, dx, 'conv_transpose and conv grad_input differ');

          const rc = refGeometry(g.inputShape, c.weightShape, convParams);
          const ref = referenceBackward(rc, new Float64Array(numel(g.inputShape)), w, x).input;
          assertClose(y, ref, c, 'conv_transpose vs naive conv grad_input');
          checked++;
        },
      ),
      { seed: run.seed + 7, numRuns: 400, includeErrorInReport: true },
    );
    assert.ok(checked >= 300, `only ${checked} of 400 draws could be expressed as a conv with non-negative padding`);
  });

  test(`conv_transpose backward matches the naive reference on random geometries [${run.label}]`, () => {
    const engine = engineNamed(run.name);
    // Finite values only: like PyTorch's, the gradients are convolutions that multiply the
    // padding's zeros by the weight (0 * Infinity is NaN), terms the definition does not have.
    fc.assert(
      fc.property(
        run.arb.filter((c) => !c.special),
        (c) => {
          const { g, rg } = geometries(c);
          const { x, w, dy } = data(c, rg);
          const grads = {
            input: alloc(c.dtype, x.length).fill(NaN),
            weight: alloc(c.dtype, w.length).fill(NaN),
            bias: alloc(c.dtype, rg.cout).fill(NaN),
          };
          withTile(c, g, engine, () => convTransposeBackward(g, x, w, dy, grads, engine));
          const ref = referenceTransposeBackward(rg, x, w, dy);
          for (const k of ['input', 'weight', 'bias'] as const) assertClose(grads[k], ref[k], c, `grad_${k}`);
        },
      ),
      { seed: run.seed + 11, numRuns: 300, includeErrorInReport: true },
    );
  });

  test(`conv_transpose backward == conv forward and conv grad_weight with roles swapped (naive conv) [${run.label}]`, () => {
    const engine = engineNamed(run.name);
    let checked = 0;
    fc.assert(
      fc.property(
        run.arb.filter((c) => !c.special),
        (c) => {
          const { g, rg } = geometries(c);
          const { x, w, dy } = data(c, rg);
          const convParams = sameConvolution(c, rg);
          if (!convParams) return;
          const grads = { input: alloc(c.dtype, x.length), weight: alloc(c.dtype, w.length) };
          withTile(c, g, engine, () => convTransposeBackward(g, x, w, dy, grads, engine));
          // grad_input = conv(dy, w); grad_weight = conv's grad_weight at input dy, grad_output x
          const rc = refGeometry(g.inputShape, c.weightShape, convParams);
          assertClose(grads.input, referenceForward(rc, dy, w, null), c, 'grad_input vs naive conv forward');
          assertClose(grads.weight, referenceBackward(rc, dy, w, x).weight, c, 'grad_weight vs naive conv grad_weight');
          checked++;
        },
      ),
      { seed: run.seed + 13, numRuns: 200, includeErrorInReport: true },
    );
    assert.ok(checked >= 150, `only ${checked} of 200 draws could be expressed as a conv with non-negative padding`);
  });
}

test('worked example: stride 2, padding 1, output_padding 1, bias (PyTorch conv_transpose1d)', () => {
  const g = resolveTranspose(
    {
      input: { dtype: 'float64', shape: [1, 2, 3] },
      weight: { dtype: 'float64', shape: [2, 1, 3] },
      bias: { dtype: 'float64', shape: [1] },
    },
    { stride: 2, padding: 1, output_padding: 1 },
  );
  assert.deepEqual(g.inputShape, [1, 1, 6]);
  const y = new Float64Array(6);
  convTranspose(
    g,
    Float64Array.from([1, 2, 3, 4, 5, 6]),
    Float64Array.from([1, 0, -1, 0.5, 0.5, 0.5]),
    Float64Array.from([0.25]),
    y,
    engineNamed('ts'),
  );
  // torch.nn.functional.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1)
  assert.deepEqual(Array.from(y), [2.25, 5.75, 2.75, 6.75, 3.25, 0.25]);
});

test('batch ranges write only their images and add up to the whole batch', () => {
  for (const name of ['ts', 'wasm'] as const) {
    const engine = engineNamed(name);
    const c: Case = {
      inputShape: [4, 3, 5, 4],
      weightShape: [3, 2, 3, 3],
      params: { stride: 2, padding: 1, output_padding: 1 },
      bias: true,
      dtype: 'float32',
      seed: 5,
      tile: 0,
      special: false,
    };
    const { g, rg } = geometries(c);
    const { x, w, b } = data(c, rg);
    const whole = alloc('float32', numel(rg.outputShape));
    convTranspose(g, x, w, b, whole, engine);
    const parts = alloc('float32', whole.length).fill(NaN);
    for (const range of [
      [0, 1],
      [1, 3],
      [3, 4],
    ] as const)
      convTranspose(g, x, w, b, parts, engine, range);
    assert.deepEqual(parts, whole, name);
  }
});

test('the generator covers every parameter form, output_padding past the stride, tiles and groups', () => {
  const seen = new Map<string, number>();
  const add = (f: string) => seen.set(f, (seen.get(f) ?? 0) + 1);
  for (const c of fc.sample(caseArb, { seed: SEED, numRuns: 800 })) {
    const p = c.params;
    const dims = c.inputShape.length - 2;
    const list = (v: number | number[] | undefined) =>
      typeof v === 'number' ? Array(dims).fill(v) : (v ?? Array(dims).fill(0));
    const pairs = Array.isArray(p.padding) && p.padding.some(Array.isArray);
    const before = normalPairs(p.padding, dims).map(([b]) => b);
    if (typeof p.padding === 'string') add(`padding:${p.padding}`);
    if (Array.isArray(p.output_size)) add(`output_size:${p.output_size.length === dims ? 'spatial' : 'shape'}`);
    if (typeof p.padding === 'string' && p.padding !== 'valid' && p.output_size !== undefined) {
      const spatial = Array.isArray(p.output_size) && p.output_size.length === dims ? p.output_size : null;
      const ins = c.inputShape.slice(p.layout && CHANNELS_LAST.has(p.layout) ? 1 : 2).slice(0, dims);
      if (spatial?.some((o, i) => o > ins[i] * list(p.stride)[i])) add('output_size>in*stride');
      if (spatial?.some((o, i) => o < ins[i] * list(p.stride)[i])) add('output_size<in*stride');
    }
    const [stride, opad, dil] = [list(p.stride), list(p.output_padding), list(p.dilation)];
    if (pairs && (p.padding as [number, number][]).some(([b, a]) => b !== a)) add('padding:asymmetric');
    add(`rank${dims}`);
    add(`layout:${p.layout ?? 'default'}`);
    add(c.dtype);
    add(c.bias ? 'bias' : 'nobias');
    add(c.tile === 0 ? 'tile:default' : c.tile === 1 ? 'tile:1' : 'tile:n');
    for (const [name, v] of Object.entries({
      stride: p.stride,
      padding: p.padding,
      output_padding: p.output_padding,
      dilation: p.dilation,
    }))
      add(`${name}:${typeof v}`);
    if ((p.groups ?? 1) > 1) add('groups');
    if (opad.some((v, i) => v > 0 && v < stride[i])) add('output_padding<stride');
    if (opad.some((v, i) => v >= stride[i])) add('output_padding>=stride');
    if (before.some((v) => v > 0)) add('padding');
    if (dil.some((v) => v > 1)) add('dilation');
    if (stride.some((v) => v > 1)) add('stride');
    if (c.special) add('special');
  }
  const must = [
    'rank1',
    'rank2',
    'rank3',
    'layout:default',
    'layout:channels_first',
    'layout:channels_last',
    'layout:NCW',
    'layout:NWC',
    'layout:NCHW',
    'layout:NHWC',
    'layout:NCDHW',
    'layout:NDHWC',
    'float32',
    'float64',
    'bias',
    'nobias',
    'tile:default',
    'tile:1',
    'tile:n',
    'stride:number',
    'stride:object',
    'padding:number',
    'padding:object',
    'padding:asymmetric',
    'padding:string',
    'padding:valid',
    'padding:same',
    'padding:same_lower',
    'output_size:spatial',
    'output_size:shape',
    'output_size>in*stride',
    'output_size<in*stride',
    'output_padding:number',
    'output_padding:object',
    'dilation:number',
    'dilation:object',
    'groups',
    'output_padding<stride',
    'output_padding>=stride',
    'padding',
    'dilation',
    'stride',
    'special',
  ];
  const missing = must.filter((f) => (seen.get(f) ?? 0) < 10);
  assert.deepEqual(
    missing,
    [],
    `drawn fewer than 10 times: ${missing.join(', ')}; seen ${JSON.stringify(Object.fromEntries(seen))}`,
  );
});
