/**
 * Property tests: random valid geometries (rank 1-3, both layouts and the letter aliases, every
 * padding form and mode, groups, stride / dilation with leftovers, bias, float32 / float64,
 * im2col tiles from one position to the whole image) run through resolveConv + the kernels and
 * compared with the naive reference under the conformance tolerance rule (abs-bound = the
 * reference on absolute values, n = the largest number of terms of one element).
 *
 * Every property runs on both kernel engines, passed explicitly: ts on float32 and float64 draws,
 * wasm on float32 (see ENGINE_RUNS). Counting the engine's kernel calls checks that the engine
 * passed is the one used and that the tile budget produced the intended GEMM tiles (or, for
 * C_in/groups = 1, that the depthwise path ran its direct kernels once per image and channel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import { numel } from '../../src/shared/tensor.js';
import type { ConvGeometry, ConvOperands, ConvParams, GradName, Padding } from '../../src/shared/geometry/conv.js';
import type { PaddingMode } from '../../src/shared/geometry/common.js';
import type { Real } from '../../src/shared/tensor.js';
import { convForward, convBackward } from '../../workers/kernels/conv.js';
import { BATCH_COLUMNS } from '../../workers/kernels/plan.js';
import { setTileBudget, DEFAULT_TILE_BUDGET_BYTES } from '../../workers/kernels/workspace.js';
import { refGeometry, referenceForward, referenceBackward, RefGeom, RefResult } from '../reference/naive-conv.js';
import { CHANNELS_LAST, channelModel } from '../reference/arbitraries.js';
import { alloc, rng, randomTensor, toDtype, Dt } from '../reference/data.js';
import { checkClose, type ToleranceOptions } from '../reference/tolerance.js';
import {
  counting,
  engineDtype,
  engineNamed,
  engineRuns,
  NATIVE_SKIP,
  runnable,
  withTilePositions,
  type Counted,
  type Engine,
  type EngineName,
} from '../reference/engines.js';

const SEED = 20260611;
type PadForm = 'omit' | 'int' | 'perdim' | 'pairs' | 'valid' | 'same' | 'same_lower';
const GRADS: GradName[] = ['input', 'weight', 'bias'];

interface Case {
  params: ConvParams;
  inputShape: number[];
  weightShape: number[];
  bias: boolean;
  dtype: Dt;
  seed: number;
  grads: GradName[];
  /** im2col tile width in output positions (0 = the default budget) */
  tile: number;
  features: string[];
}

interface RawDim {
  k: number;
  stride: number;
  dil: number;
  extra: number;
  pb: number;
  pa: number;
}

// Bounds shrink with the rank so that the naive reference stays fast.
const LIMITS = { 1: { k: 5, dil: 3, extra: 6 }, 2: { k: 4, dil: 3, extra: 4 }, 3: { k: 3, dil: 2, extra: 2 } } as const;

const rawArb = fc.integer({ min: 1, max: 3 }).chain((rank) => {
  const lim = LIMITS[rank as 1 | 2 | 3];
  const dim = fc.record({
    k: fc.integer({ min: 1, max: lim.k }),
    stride: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 3 })),
    dil: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: lim.dil })),
    extra: fc.integer({ min: 0, max: lim.extra }),
    pb: fc.integer({ min: 0, max: 3 }),
    pa: fc.integer({ min: 0, max: 3 }),
  });
  return fc.record({
    rank: fc.constant(rank),
    ...channelModel(rank),
    dims: fc.array(dim, { minLength: rank, maxLength: rank }),
    padForm: fc.constantFrom<PadForm>('omit', 'int', 'perdim', 'pairs', 'valid', 'same', 'same_lower'),
    mode: fc.constantFrom<PaddingMode | undefined>(undefined, 'zeros', 'reflect', 'replicate', 'circular'),
    strideInt: fc.boolean(),
    dilationInt: fc.boolean(),
    pointwise: fc.integer({ min: 0, max: 7 }).map((v) => v === 0),
    bias: fc.boolean(),
    dtype: fc.constantFrom<Dt>('float32', 'float64'),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    grads: fc.subarray(GRADS, { minLength: 1 }),
    tile: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 2, max: 7 })),
  });
});

type Raw = typeof rawArb extends fc.Arbitrary<infer T> ? T : never;

/** Turn raw draws into a valid request (input extents large enough), or null. */
function build(raw: Raw): Case | null {
  const d = raw.rank;
  const dims: RawDim[] = raw.dims.map((x: RawDim) => ({ ...x }));
  if (raw.strideInt) dims.forEach((x) => (x.stride = dims[0].stride));
  if (raw.dilationInt) dims.forEach((x) => (x.dil = dims[0].dil));
  if (raw.pointwise) dims.forEach((x) => Object.assign(x, { k: 1, stride: 1, pb: 0, pa: 0 }));
  let padding: Padding | undefined;
  switch (raw.padForm) {
    case 'omit':
    case 'valid':
      dims.forEach((x) => (x.pb = x.pa = 0));
      padding = raw.padForm === 'valid' ? 'valid' : undefined;
      break;
    case 'int':
      dims.forEach((x) => (x.pb = x.pa = dims[0].pb));
      padding = dims[0].pb;
      break;
    case 'perdim':
      dims.forEach((x) => (x.pa = x.pb));
      padding = dims.map((x) => x.pb);
      break;
    case 'pairs':
      padding = dims.map((x) => [x.pb, x.pa] as [number, number]);
      break;
    case 'same':
    case 'same_lower':
      padding = raw.padForm;
      dims.forEach((x) => (x.pb = x.pa = 0)); // resolved from the extents
      break;
  }
  const mode = raw.mode ?? 'zeros';
  const inSp = dims.map((x) => {
    const effK = x.dil * (x.k - 1) + 1;
    let lo = Math.max(1, effK - x.pb - x.pa);
    if (mode === 'reflect') lo = Math.max(lo, x.pb + 1, x.pa + 1);
    if (mode === 'circular') lo = Math.max(lo, x.pb, x.pa);
    return lo + x.extra;
  });
  const cin = raw.cinG * raw.groups;
  const cout = raw.coutG * raw.groups;
  const k = dims.map((x) => x.k);
  const cl = CHANNELS_LAST.has(raw.layout);
  const inputShape = cl ? [raw.batch, ...inSp, cin] : [raw.batch, cin, ...inSp];
  const weightShape = cl ? [...k, raw.cinG, cout] : [cout, raw.cinG, ...k];
  const params: ConvParams = {};
  if (raw.layout !== undefined) params.layout = raw.layout;
  if (padding !== undefined) params.padding = padding;
  if (raw.mode !== undefined) params.padding_mode = raw.mode;
  if (raw.groups !== 1 || raw.seed % 2 === 0) params.groups = raw.groups;
  if (raw.strideInt) {
    if (dims[0].stride !== 1 || raw.seed % 3 === 0) params.stride = dims[0].stride;
  } else params.stride = dims.map((x) => x.stride);
  if (raw.dilationInt) {
    if (dims[0].dil !== 1 || raw.seed % 3 === 1) params.dilation = dims[0].dil;
  } else params.dilation = dims.map((x) => x.dil);
  let rg: RefGeom;
  try {
    rg = refGeometry(inputShape, weightShape, params);
  } catch {
    return null; // e.g. "same" padding that reflect cannot provide
  }
  const features = [
    `rank${d}`,
    `layout:${raw.layout ?? 'default'}`,
    `pad:${raw.padForm}`,
    `mode:${raw.mode ?? 'default'}`,
    raw.dtype,
    raw.bias ? 'bias' : 'nobias',
    `grads:${raw.grads.length}`,
    raw.tile === 0 ? 'tile:default' : raw.tile === 1 ? 'tile:1' : 'tile:n',
  ];
  if (raw.groups > 1) features.push(raw.cinG === 1 ? 'depthwise' : 'grouped');
  if (raw.pointwise) features.push('pointwise');
  for (let i = 0; i < d; i++) {
    const s = rg.stride[i];
    const leftover = (rg.inSp[i] + rg.before[i] + rg.after[i] - (rg.dilation[i] * (rg.k[i] - 1) + 1)) % s;
    if (s > 1 && leftover !== 0) features.push('stride-leftover');
    if (rg.dilation[i] > 1) features.push('dilation');
    if (raw.padForm === 'same' && s > 1) features.push('same-stride>1');
    if (raw.padForm === 'same' && rg.k[i] % 2 === 0 && rg.k[i] > 1) features.push('same-even-kernel');
    if (rg.before[i] !== rg.after[i]) features.push('asymmetric');
    if (raw.padForm === 'same_lower' && rg.before[i] > rg.after[i]) features.push('same_lower-odd');
    if (rg.before[i] + rg.after[i] > 0 && mode !== 'zeros') features.push(`mode-active:${mode}`);
  }
  return {
    params,
    inputShape,
    weightShape,
    bias: raw.bias,
    dtype: raw.dtype,
    seed: raw.seed,
    grads: raw.grads,
    tile: raw.tile,
    features,
  };
}

const caseArb = rawArb.map(build).filter((c): c is Case => c !== null);

function geometryOf(c: Case, withGradOutput: boolean): { g: ConvGeometry; rg: RefGeom } {
  const rg = refGeometry(c.inputShape, c.weightShape, c.params);
  const ops: ConvOperands = {
    input: { dtype: c.dtype, shape: c.inputShape },
    weight: { dtype: c.dtype, shape: c.weightShape },
  };
  if (c.bias) ops.bias = { dtype: c.dtype, shape: [rg.cout] };
  if (withGradOutput) ops.grad_output = { dtype: c.dtype, shape: rg.outputShape };
  const g = resolveConv(ops, c.params);
  assert.deepEqual(g.outputShape, rg.outputShape, 'output shape');
  assert.deepEqual([g.padBefore, g.padAfter], [rg.before, rg.after], 'resolved padding');
  return { g, rg };
}

/** Run `f` with `engine` tiling the output positions `c.tile` at a time (0: the default budget). */
const withTile = <T>(c: Case, rg: RefGeom, engine: Engine, f: () => T): T =>
  withTilePositions(engine, (rg.cin / rg.groups) * numel(rg.k) + rg.cout / rg.groups, c.tile, f);

/** A conv pass: the forward, or the backward pass of one gradient (grad_bias needs none). */
type Pass = 'forward' | 'input' | 'weight';

/**
 * GEMM calls one conv pass makes on `engine` when tiled as `withTile` asks (the model of
 * conv.ts `tiling`): one per block of images, group and tile. A tile of fewer positions than
 * an image has cuts every image into ceil(P / tile) tiles; when a whole image fits, whole
 * images share a tile up to max(BATCH_COLUMNS, P) columns and the staged images' budget,
 * except where a pointwise conv reads the input in place (forward, grad_weight).
 */
function gemmsPerPass(c: Case, rg: RefGeom, engine: Engine, pass: Pass): number {
  const positions = numel(rg.outSp);
  const perPosition = (rg.cin / rg.groups) * numel(rg.k) + rg.cout / rg.groups;
  const budget =
    c.tile === 0
      ? DEFAULT_TILE_BUDGET_BYTES
      : Math.max(1 << 16, engine.gemmScratchBytes + engine.elementBytes * perPosition * c.tile);
  const fit = Math.max(1, Math.floor((budget - engine.gemmScratchBytes) / (perPosition * engine.elementBytes)));
  if (fit < positions) return rg.batch * rg.groups * Math.ceil(positions / fit);
  const pointwise = numel(rg.k) === 1 && rg.stride.every((v) => v === 1) && positions === numel(rg.inSp);
  if (pass !== 'input' && pointwise) return rg.batch * rg.groups;
  const byColumns = Math.floor(Math.min(fit, Math.max(BATCH_COLUMNS, positions)) / positions);
  const byStaging = Math.floor(budget / (rg.cin * numel(rg.inSp) * engine.elementBytes));
  return Math.ceil(rg.batch / Math.max(1, Math.min(rg.batch, byColumns, byStaging))) * rg.groups;
}

/**
 * The kernel calls of the given conv passes: the GEMM path tiled as `withTile` asks, the
 * depthwise path of direct kernels (one call per image and output channel), which only
 * C_in/groups = 1 may take, or the engine's library convolution (one call per pass).
 */
function assertCalls(counted: Counted, c: Case, rg: RefGeom, passes: Pass[], what: string): void {
  const engine = counted.engine.name;
  if (counted.library > 0) {
    // The library (oneDNN) ran whole passes, one call each; only grad_input may be left to the
    // engine's own kernels (the library does not take it for fewer than 4 input channels).
    const rest = passes.length - counted.library;
    assert.ok(rest === 0 || (rest === 1 && passes.includes('input')), `${what} on ${engine}: library passes`);
    assert.equal(counted.gemm + counted.direct > 0, rest > 0, `${what} on ${engine}: kernels beside the library`);
    return;
  }
  if (counted.direct > 0) {
    assert.equal(
      rg.cin / rg.groups,
      1,
      `${what} on ${engine}: direct (depthwise) kernels ran for C_in/groups = ${rg.cin / rg.groups}`,
    );
    assert.equal(counted.gemm, 0, `${what} on ${engine}: GEMMs beside the depthwise path`);
    assert.equal(
      counted.direct,
      passes.length * rg.batch * rg.cout,
      `${what} on ${engine}: direct calls (one per image and output channel)`,
    );
  } else {
    const expected = passes.reduce((sum, pass) => sum + gemmsPerPass(c, rg, counted.engine, pass), 0);
    assert.equal(
      counted.gemm,
      expected,
      `${what} on ${engine}: GEMM calls (one per block of images, group and tile of ${c.tile || 'all'} positions)`,
    );
  }
}

function data(c: Case, rg: RefGeom) {
  const rand = rng(c.seed);
  return {
    x: randomTensor(numel(rg.inputShape), c.dtype, rand),
    w: randomTensor(numel(rg.weightShape), c.dtype, rand),
    b: c.bias ? randomTensor(rg.cout, c.dtype, rand) : null,
    dy: randomTensor(numel(rg.outputShape), c.dtype, rand),
  };
}

function assertClose(got: Real, r: RefResult, dtype: Dt, what: string, c: Case, opts: ToleranceOptions = {}): void {
  const rep = checkClose(got, r.ref, r.absBound, r.nTerms, dtype, { float64Reference: true, ...opts });
  assert.ok(rep.ok, `${what}: ${rep.message}\n  case: ${JSON.stringify({ ...c, features: undefined })}`);
}

/**
 * The engines each property runs on: ts on the generator's draws as they are (float32 and
 * float64), wasm on the draws with the dtype forced to float32 (its only dtype), from another
 * fixed seed so the two engines see different geometries; wasm-simd (the build without FMA)
 * likewise from a third seed, wasm-f64 (float64) from a fourth, and the native engine in
 * float32 (native: oneDNN where it plans the call), float64 (native-f64) and float32 without
 * oneDNN (native-blas) from a fifth, a sixth and a seventh.
 */
const ENGINE_RUNS = engineRuns(caseArb, SEED);
type EngineRun = (typeof ENGINE_RUNS)[number];

const runs = (run: EngineRun, n: number) => ({ seed: run.seed, numRuns: n, includeErrorInReport: true });

/** Registers `body` once per engine: `title [engine, dtypes]`. */
function perEngine(title: string, body: (run: EngineRun, engine: Engine) => void): void {
  for (const run of ENGINE_RUNS)
    test(`${title} [${run.label}]`, { skip: run.name.startsWith('native') && NATIVE_SKIP }, () =>
      body(run, engineNamed(run.name)),
    );
}

perEngine('forward matches the naive reference on random geometries, tiled as asked', (run, engine) => {
  fc.assert(
    fc.property(run.arb, (c) => {
      const { g, rg } = geometryOf(c, false);
      const { x, w, b } = data(c, rg);
      const y = alloc(c.dtype, numel(g.outputShape)).fill(NaN);
      const counted = counting(engine);
      withTile(c, rg, engine, () => convForward(g, x, w, b, y, counted.engine));
      assertClose(y, referenceForward(rg, x, w, b), c.dtype, 'output', c);
      assertCalls(counted, c, rg, ['forward'], 'forward');
    }),
    runs(run, 1500),
  );
});

perEngine('backward (all three gradients) matches the naive reference on random geometries', (run, engine) => {
  fc.assert(
    fc.property(run.arb, (c) => {
      const { g, rg } = geometryOf(c, true);
      const { x, w, dy } = data(c, rg);
      const out = {
        input: alloc(c.dtype, numel(g.inputShape)).fill(NaN),
        weight: alloc(c.dtype, numel(g.weightShape)).fill(NaN),
        bias: alloc(c.dtype, g.outChannels).fill(NaN),
      };
      const counted = counting(engine);
      withTile(c, rg, engine, () => convBackward(g, x, w, dy, out, counted.engine));
      const ref = referenceBackward(rg, x, w, dy);
      for (const k of GRADS) assertClose(out[k], ref[k], c.dtype, `grad_${k}`, c);
      assertCalls(counted, c, rg, ['input', 'weight'], 'backward');
    }),
    runs(run, 1200),
  );
});

/** A typed-array view at a non-zero offset inside a larger buffer, with sentinel guards. */
function guarded(dtype: Dt, n: number, lead: number) {
  const SENTINEL = -123.5;
  const full = alloc(dtype, n + lead + 5).fill(SENTINEL);
  const view = full.subarray(lead, lead + n);
  return {
    view,
    guardsIntact: () =>
      full.subarray(0, lead).every((v) => v === SENTINEL) && full.subarray(lead + n).every((v) => v === SENTINEL),
  };
}

perEngine(
  'backward with a subset of gradients writes exactly those arrays, overwriting, never accumulating',
  (run, engine) => {
    fc.assert(
      fc.property(run.arb, fc.integer({ min: 1, max: 3 }), (c, lead) => {
        const { g, rg } = geometryOf(c, true);
        const d = data(c, rg);
        // operands as views at odd offsets: kernels must honour byteOffset and never write them
        const operand = (src: Real) => {
          const gv = guarded(c.dtype, src.length, lead);
          gv.view.set(src);
          return gv;
        };
        const xg = operand(d.x);
        const wg = operand(d.w);
        const dyg = operand(d.dy);
        const sizes = { input: numel(g.inputShape), weight: numel(g.weightShape), bias: g.outChannels };
        const outs: Partial<Record<GradName, ReturnType<typeof guarded>>> = {};
        const arg: { input?: Real; weight?: Real; bias?: Real } = {};
        const garbage = rng(c.seed ^ 0x5bd1e995);
        for (const k of c.grads) {
          const o = guarded(c.dtype, sizes[k], lead + 1);
          for (let i = 0; i < o.view.length; i++) o.view[i] = i % 3 === 0 ? NaN : (garbage() - 0.5) * 1e6;
          outs[k] = o;
          arg[k] = o.view;
        }
        const counted = counting(engine);
        withTile(c, rg, engine, () => convBackward(g, xg.view, wg.view, dyg.view, arg, counted.engine));
        assert.deepEqual(Object.keys(arg).sort(), [...c.grads].sort(), 'only the requested gradients are present');
        assertCalls(
          counted,
          c,
          rg,
          c.grads.filter((k): k is 'input' | 'weight' => k !== 'bias'),
          `backward of ${c.grads.join('+')}`,
        );
        const ref = referenceBackward(rg, d.x, d.w, d.dy);
        const first: Partial<Record<GradName, Real>> = {};
        for (const k of c.grads) {
          assertClose(outs[k]!.view, ref[k], c.dtype, `grad_${k} (grads ${c.grads.join('+')})`, c);
          assert.ok(outs[k]!.guardsIntact(), `grad_${k}: wrote outside its view`);
          first[k] = outs[k]!.view.slice();
        }
        // a second call into the same (now filled) arrays must give the same bits
        withTile(c, rg, engine, () => convBackward(g, xg.view, wg.view, dyg.view, arg, engine));
        for (const k of c.grads)
          assert.deepEqual(outs[k]!.view, first[k], `grad_${k} changed on a second call (accumulated?)`);
        for (const [name, gv, src] of [
          ['input', xg, d.x],
          ['weight', wg, d.w],
          ['grad_output', dyg, d.dy],
        ] as const) {
          assert.deepEqual(gv.view, src, `${name} was modified`);
          assert.ok(gv.guardsIntact(), `${name}: guards modified`);
        }
      }),
      runs(run, 600),
    );
  },
);

perEngine('forward writes every output element of a view at an offset and leaves operands alone', (run, engine) => {
  fc.assert(
    fc.property(run.arb, fc.integer({ min: 1, max: 3 }), (c, lead) => {
      const { g, rg } = geometryOf(c, false);
      const d = data(c, rg);
      const xg = guarded(c.dtype, d.x.length, lead);
      xg.view.set(d.x);
      const wg = guarded(c.dtype, d.w.length, lead + 2);
      wg.view.set(d.w);
      const bg = d.b ? guarded(c.dtype, d.b.length, lead) : null;
      if (bg && d.b) bg.view.set(d.b);
      const yg = guarded(c.dtype, numel(g.outputShape), lead + 1);
      yg.view.fill(NaN);
      withTile(c, rg, engine, () => convForward(g, xg.view, wg.view, bg ? bg.view : null, yg.view, engine));
      assertClose(yg.view, referenceForward(rg, d.x, d.w, d.b), c.dtype, 'output', c);
      assert.ok(yg.guardsIntact(), 'output: wrote outside its view');
      assert.deepEqual(xg.view, d.x, 'input modified');
      assert.deepEqual(wg.view, d.w, 'weight modified');
      assert.ok(xg.guardsIntact() && wg.guardsIntact() && (!bg || bg.guardsIntact()), 'operand guards modified');
    }),
    runs(run, 400),
  );
});

/** Put NaN / +-Infinity at a few random positions (about one element in `every`). */
function sprinkle(a: Real, rand: () => number, every: number): void {
  const specials = [NaN, Infinity, -Infinity];
  for (let i = 0; i < a.length; i++) if (rand() * every < 1) a[i] = specials[Math.floor(rand() * 3)];
}

perEngine('NaN and Infinity propagate exactly as in the definition (incl. 0 * inf of zero padding)', (run, engine) => {
  fc.assert(
    fc.property(run.arb, fc.constantFrom('x', 'w', 'b', 'dy', 'all'), (c, where) => {
      const { g, rg } = geometryOf(c, true);
      const d = data(c, rg);
      const rand = rng(c.seed + 17);
      if (where === 'x' || where === 'all') sprinkle(d.x, rand, 6);
      if (where === 'w' || where === 'all') sprinkle(d.w, rand, 6);
      if ((where === 'b' || where === 'all') && d.b) sprinkle(d.b, rand, 2);
      if (where === 'dy' || where === 'all') sprinkle(d.dy, rand, 6);
      const y = alloc(c.dtype, numel(g.outputShape)).fill(NaN);
      withTile(c, rg, engine, () => convForward(g, d.x, d.w, d.b, y, engine));
      assertClose(y, referenceForward(rg, d.x, d.w, d.b), c.dtype, `output (non-finite in ${where})`, c);
      const out = {
        input: alloc(c.dtype, numel(g.inputShape)),
        weight: alloc(c.dtype, numel(g.weightShape)),
        bias: alloc(c.dtype, g.outChannels),
      };
      withTile(c, rg, engine, () => convBackward(g, d.x, d.w, d.dy, out, engine));
      const ref = referenceBackward(rg, d.x, d.w, d.dy);
      for (const k of GRADS) assertClose(out[k], ref[k], c.dtype, `grad_${k} (non-finite in ${where})`, c);
    }),
    runs(run, 600),
  );
});

/**
 * A few larger problems that cross the GEMMs' blocking (KC = 256 deep slices; MC = 128 / 96
 * rows; NC = 2048 columns; partial 4x4 / 6x8 edge tiles) and the pointwise (1x1) path. Each
 * runs on ts in its dtype and on wasm in float32 (a float64 problem's inputs rounded to float32,
 * checked against the float64 reference with the rounded-inputs rule). The naive reference is
 * computed once per problem and shared by both engines.
 */
const LARGE: { name: string; input: number[]; weight: number[]; params: ConvParams; dtype: Dt }[] = [
  {
    name: '2-D channels_first K=270 C_out=132 2116 positions',
    input: [1, 30, 46, 46],
    weight: [132, 30, 3, 3],
    params: { padding: 1 },
    dtype: 'float32',
  },
  {
    name: '1-D NWC pointwise K=300 3001 positions, groups 2',
    input: [1, 3001, 600],
    weight: [1, 300, 6],
    params: { layout: 'NWC', groups: 2 },
    dtype: 'float64',
  },
  {
    name: '3-D channels_last reflect stride 2 K=270',
    input: [2, 9, 8, 7, 10],
    weight: [3, 3, 3, 10, 5],
    params: {
      layout: 'channels_last',
      padding: [
        [2, 1],
        [1, 2],
        [1, 1],
      ],
      padding_mode: 'reflect',
      stride: 2,
    },
    dtype: 'float32',
  },
];

for (const L of LARGE) {
  const c: Case = {
    params: L.params,
    inputShape: L.input,
    weightShape: L.weight,
    bias: true,
    dtype: L.dtype,
    seed: 99,
    grads: GRADS,
    tile: 0,
    features: [],
  };
  let memo:
    { rg: RefGeom; d: ReturnType<typeof data>; fwd: RefResult; bwd: ReturnType<typeof referenceBackward> } | undefined;
  const reference = () => {
    if (!memo) {
      const rg = refGeometry(c.inputShape, c.weightShape, c.params);
      const d = data(c, rg);
      memo = { rg, d, fwd: referenceForward(rg, d.x, d.w, d.b), bwd: referenceBackward(rg, d.x, d.w, d.dy) };
    }
    return memo;
  };
  const targets: { engine: EngineName; dtype: Dt }[] = [
    { engine: 'ts', dtype: L.dtype },
    { engine: 'wasm', dtype: 'float32' },
  ];
  for (const t of targets) {
    test(`large: ${L.name} [${t.engine}, ${t.dtype}]`, () => {
      const engine = engineNamed(t.engine);
      const ct: Case = { ...c, dtype: t.dtype };
      const { g } = geometryOf(ct, true);
      const { d, fwd, bwd } = reference();
      const conv = (a: Real | null) => (a === null ? null : toDtype(a, t.dtype));
      const [x, w, b, dy] = [conv(d.x)!, conv(d.w)!, conv(d.b), conv(d.dy)!];
      const opts: ToleranceOptions = { roundedInputs: t.dtype !== L.dtype };
      const y = alloc(t.dtype, numel(g.outputShape)).fill(NaN);
      const counted = counting(engine);
      convForward(g, x, w, b, y, counted.engine);
      assertClose(y, fwd, t.dtype, 'output', ct, opts);
      const out = {
        input: alloc(t.dtype, numel(g.inputShape)).fill(NaN),
        weight: alloc(t.dtype, numel(g.weightShape)).fill(NaN),
        bias: alloc(t.dtype, g.outChannels).fill(NaN),
      };
      convBackward(g, x, w, dy, out, counted.engine);
      for (const k of GRADS) assertClose(out[k], bwd[k], t.dtype, `grad_${k}`, ct, opts);
      assert.ok(counted.calls > 0, `no kernel ran on ${t.engine}`);
    });
  }
}

/**
 * A depthwise geometry (C_in/groups = 1) under the minimum 64 KiB tile budget: its staged
 * volumes (~36 K elements) do not fit, so it must take the tiled GEMM path (one position per
 * tile: the budget is below the GEMM scratch itself) rather than the direct kernels; under the
 * default budget it may take either. Both must match the reference.
 */
for (const t of [
  { engine: 'ts', dtype: 'float64' },
  { engine: 'wasm', dtype: 'float32' },
] as const) {
  test(`depthwise over the tile budget falls back to GEMM tiles of one position [${t.engine}, ${t.dtype}]`, () => {
    const engine = engineNamed(t.engine);
    const c: Case = {
      params: { groups: 2, padding: 1, padding_mode: 'circular' },
      inputShape: [2, 2, 9000],
      weightShape: [4, 1, 3],
      bias: true,
      dtype: t.dtype,
      seed: 7,
      grads: GRADS,
      tile: 0,
      features: [],
    };
    const { g, rg } = geometryOf(c, true);
    const { x, w, b, dy } = data(c, rg);
    const fwd = referenceForward(rg, x, w, b);
    const bwd = referenceBackward(rg, x, w, dy);
    for (const budget of [1 << 16, DEFAULT_TILE_BUDGET_BYTES]) {
      const counted = counting(engine);
      const y = alloc(c.dtype, numel(g.outputShape)).fill(NaN);
      const out = {
        input: alloc(c.dtype, numel(g.inputShape)).fill(NaN),
        weight: alloc(c.dtype, numel(g.weightShape)).fill(NaN),
        bias: alloc(c.dtype, g.outChannels).fill(NaN),
      };
      setTileBudget(budget);
      try {
        convForward(g, x, w, b, y, counted.engine);
        convBackward(g, x, w, dy, out, counted.engine);
      } finally {
        setTileBudget(DEFAULT_TILE_BUDGET_BYTES);
      }
      const what = `budget ${budget}`;
      assertClose(y, fwd, c.dtype, `output, ${what}`, c);
      for (const k of GRADS) assertClose(out[k], bwd[k], c.dtype, `grad_${k}, ${what}`, c);
      if (budget === 1 << 16) {
        assert.equal(counted.direct, 0, `${what}: the direct kernels ran although their volumes exceed the budget`);
        assert.equal(
          counted.gemm,
          3 * rg.batch * rg.groups * numel(rg.outSp),
          `${what}: GEMM calls (3 passes x images x groups x positions)`,
        );
      } else {
        assert.ok(counted.calls > 0, `${what}: no kernel ran on ${t.engine}`);
      }
    }
  });
}

test('the generator covers every feature in 1500 draws', () => {
  const seen = new Map<string, number>();
  for (const c of fc.sample(caseArb, { seed: SEED, numRuns: 1500 })) {
    for (const f of c.features) seen.set(f, (seen.get(f) ?? 0) + 1);
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
    'pad:omit',
    'pad:int',
    'pad:perdim',
    'pad:pairs',
    'pad:valid',
    'pad:same',
    'pad:same_lower',
    'mode:default',
    'mode:zeros',
    'mode:reflect',
    'mode:replicate',
    'mode:circular',
    'mode-active:reflect',
    'mode-active:replicate',
    'mode-active:circular',
    'float32',
    'float64',
    'bias',
    'nobias',
    'grads:1',
    'grads:2',
    'grads:3',
    'depthwise',
    'grouped',
    'pointwise',
    'stride-leftover',
    'dilation',
    'asymmetric',
    'same-stride>1',
    'same-even-kernel',
    'same_lower-odd',
    'tile:default',
    'tile:1',
    'tile:n',
  ];
  const missing = must.filter((f) => (seen.get(f) ?? 0) < 10);
  assert.deepEqual(
    missing,
    [],
    `features drawn fewer than 10 times: ${missing.join(', ')}\nseen: ${JSON.stringify(Object.fromEntries(seen))}`,
  );
});

test('withTile yields the tile it asks for on each engine (budget arithmetic of conv.ts)', () => {
  // perPosition = K + C_out/groups = 2*3*3 + 4 = 22 for this 2-D problem with 8x8 = 64 positions.
  const c: Case = {
    params: { padding: 1 },
    inputShape: [1, 2, 8, 8],
    weightShape: [4, 2, 3, 3],
    bias: false,
    dtype: 'float32',
    seed: 5,
    grads: GRADS,
    tile: 0,
    features: [],
  };
  // the engines that tile this call (native plans it on oneDNN, untiled: native-blas tiles it)
  for (const run of ENGINE_RUNS.filter((r) => r.name !== 'native' && runnable([r.name]).length > 0)) {
    const engine = engineNamed(run.name);
    for (const tile of [1, 2, 5, 7, 63, 64]) {
      const ct = { ...c, tile, dtype: engineDtype(engine) };
      const { g, rg } = geometryOf(ct, false);
      const { x, w } = data(ct, rg);
      const counted = counting(engine);
      withTile(ct, rg, engine, () => convForward(g, x, w, null, alloc(ct.dtype, numel(g.outputShape)), counted.engine));
      assert.equal(counted.gemm, Math.ceil(64 / tile), `${engine.name}, tile ${tile}`);
    }
  }
});
