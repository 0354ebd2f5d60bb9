/**
 * The GEMM engines (workers/engines/: ts.ts, wasm.ts, index.ts): which engine engineFor picks
 * (arguments and CONVD_KERNEL), what each engine's buffers and `reads` promise, and both GEMMs
 * run directly on strided operands (row-major or transposed, unit or spaced columns, offsets,
 * a padded C with guard cells) against a naive triple loop, over sizes that are not multiples
 * of the micro-tiles (4x4 ts, 6x8 wasm) and depths spanning several KC = 256 slices, with and
 * without accumulate; and both engines' direct (depthwise) correlation kernels against naive
 * loops over random 3-D extents, strides and dilations.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConv } from '../../src/shared/geometry/conv.js';
import { numel } from '../../src/shared/tensor.js';
import type { Real } from '../../src/shared/tensor.js';
import { engineFor, tsEngine } from '../../workers/engines/index.js';
import { convBackward, convForward } from '../../workers/kernels/conv.js';
import type { MatrixView } from '../../workers/kernels/gemm.js';
import type { DirectDims } from '../../workers/kernels/direct.js';
import {
  engineDtype,
  engineNamed,
  NATIVE_SKIP,
  runnable,
  wasmEngine,
  type Engine,
  type EngineName,
} from '../reference/engines.js';
import { rng, randomTensor } from '../reference/data.js';
import { checkClose } from '../reference/tolerance.js';

/** Runs `f` with CONVD_KERNEL set to `value` (undefined: unset), restoring it afterwards. */
function withEnv<T>(value: string | undefined, f: () => T): T {
  const saved = process.env.CONVD_KERNEL;
  if (value === undefined) delete process.env.CONVD_KERNEL;
  else process.env.CONVD_KERNEL = value;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.CONVD_KERNEL;
    else process.env.CONVD_KERNEL = saved;
  }
}

describe('engineFor', () => {
  test('the wasm engine loads (fails here, not skipped, when it does not)', () => {
    const e = wasmEngine();
    assert.equal(e.name, 'wasm');
    assert.equal(e.elementBytes, 4);
    assert.equal(tsEngine.name, 'ts');
    assert.equal(tsEngine.elementBytes, 8);
    assert.ok(e.gemmScratchBytes > 0 && tsEngine.gemmScratchBytes > 0);
  });

  test('the default wasm engine is the relaxed-SIMD FMA build, and it really fuses (the plain build does not)', () => {
    assert.equal(wasmEngine().isa, 'wasm simd128 + relaxed fma');
    assert.equal(engineNamed('wasm-simd').isa, 'wasm simd128');
    // C = a·a + a·(-a) with a = 1 + 2^-12: a² = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 in float32,
    // so a fused second step leaves exactly -2^-24 (the first product's rounding error) and an
    // unfused one (rounded product, then add) leaves 0, as does exact arithmetic.
    const a = 1 + 2 ** -12;
    const fused = (e: Engine) => {
      const buf = e.buffers({ a: 2, b: 2, c: 1 });
      buf.a.set([a, a]);
      buf.b.set([a, -a]);
      e.gemm(
        1,
        1,
        2,
        { data: buf.a, offset: 0, rowStride: 2, colStride: 1 },
        { data: buf.b, offset: 0, rowStride: 1, colStride: 1 },
        buf.c,
        0,
        1,
        false,
      );
      return buf.c[0];
    };
    assert.equal(fused(wasmEngine()), -(2 ** -24));
    assert.equal(fused(engineNamed('wasm-simd')), 0);
  });

  test(
    'default (CONVD_KERNEL unset or empty): native for both dtypes (the addon is built here), each its own engine',
    { skip: NATIVE_SKIP },
    () => {
      for (const env of [undefined, '']) {
        withEnv(env, () => {
          assert.equal(engineFor('float32'), engineNamed('native'), `CONVD_KERNEL=${JSON.stringify(env)}`);
          assert.equal(engineFor('float64'), engineNamed('native-f64'), `CONVD_KERNEL=${JSON.stringify(env)}`);
          assert.equal(engineFor('float32', undefined).name, 'native');
        });
      }
      assert.deepEqual([engineNamed('native').elementBytes, engineNamed('native-f64').elementBytes], [4, 8]);
      assert.match(engineNamed('native').isa, /^OpenBLAS \d+\.\d+\.\d+ \(\w+\)/);
      assert.match(engineNamed('native-f64').isa, /, float64$/);
      assert.deepEqual([wasmEngine().elementBytes, engineNamed('wasm-f64').elementBytes], [4, 8]);
      assert.equal(engineNamed('wasm-f64').isa, 'wasm simd128 + relaxed fma, float64');
    },
  );

  test('an explicit request: ts is ts; wasm and native are those engines of the dtype', { skip: NATIVE_SKIP }, () => {
    withEnv(undefined, () => {
      assert.equal(engineFor('float32', 'native'), engineNamed('native'));
      assert.equal(engineFor('float64', 'native'), engineNamed('native-f64'));
      assert.equal(engineFor('float32', 'ts'), tsEngine);
      assert.equal(engineFor('float64', 'ts'), tsEngine);
      assert.equal(engineFor('float32', 'wasm'), wasmEngine());
      assert.equal(engineFor('float64', 'wasm'), engineNamed('wasm-f64'));
    });
  });

  test('CONVD_KERNEL=native|wasm|ts picks the engine (read on every call)', { skip: NATIVE_SKIP }, () => {
    withEnv('native', () => {
      assert.equal(engineFor('float32').name, 'native');
      assert.equal(engineFor('float64').name, 'native');
    });
    withEnv('ts', () => {
      assert.equal(engineFor('float32').name, 'ts');
      assert.equal(engineFor('float64').name, 'ts');
    });
    withEnv('wasm', () => {
      assert.equal(engineFor('float32').name, 'wasm');
      assert.equal(engineFor('float64').name, 'wasm');
    });
  });

  test('an explicit request wins over CONVD_KERNEL', { skip: NATIVE_SKIP }, () => {
    withEnv('ts', () => assert.equal(engineFor('float32', 'wasm').name, 'wasm'));
    withEnv('wasm', () => assert.equal(engineFor('float32', 'ts').name, 'ts'));
    withEnv('ts', () => assert.equal(engineFor('float32', 'native').name, 'native'));
    withEnv('bogus', () => assert.equal(engineFor('float32', 'ts').name, 'ts', 'the env is not even read'));
  });

  test('an invalid CONVD_KERNEL throws a message naming the value and the choices', () => {
    for (const bad of ['WASM', 'Ts', 'gpu', ' ts', 'wasm ', 'simd', 'Native', 'blas']) {
      withEnv(bad, () => {
        for (const dtype of ['float32', 'float64'] as const) {
          assert.throws(
            () => engineFor(dtype),
            (e: unknown) =>
              e instanceof Error &&
              e.message.includes('CONVD_KERNEL') &&
              e.message.includes(JSON.stringify(bad)) &&
              /expected native, wasm or ts/.test(e.message),
            `CONVD_KERNEL=${JSON.stringify(bad)} (${dtype})`,
          );
        }
      });
    }
  });

  test('convForward without an engine runs on engineFor(dtype): follows CONVD_KERNEL', { skip: NATIVE_SKIP }, () => {
    // float32 with K = 144 terms: the ts engine (float64 accumulation, one rounding), the wasm
    // engine (float32 sums) and the native one (float32 sums in the BLAS's own order) give
    // different bits somewhere, so the bits tell which engine ran.
    const shapes = {
      input: { dtype: 'float32' as const, shape: [1, 16, 12, 12] },
      weight: { dtype: 'float32' as const, shape: [8, 16, 3, 3] },
    };
    const g = resolveConv(shapes, { padding: 1 });
    const rand = rng(42);
    const x = randomTensor(numel(g.inputShape), 'float32', rand);
    const w = randomTensor(numel(g.weightShape), 'float32', rand);
    const run = (engine?: Engine) => {
      const y = new Float32Array(numel(g.outputShape)).fill(NaN);
      if (engine) convForward(g, x, w, null, y, engine);
      else convForward(g, x, w, null, y);
      return y;
    };
    const ts = run(tsEngine);
    const wasm = run(wasmEngine());
    const native = run(engineNamed('native'));
    assert.notDeepEqual(ts, wasm, 'ts and wasm agree bit for bit: this test cannot tell them apart');
    assert.notDeepEqual(native, wasm, 'native and wasm agree bit for bit: this test cannot tell them apart');
    assert.notDeepEqual(native, ts, 'native and ts agree bit for bit: this test cannot tell them apart');
    withEnv(undefined, () => assert.deepEqual(run(), native, 'default float32 engine is native'));
    withEnv('native', () => assert.deepEqual(run(), native, 'CONVD_KERNEL=native'));
    withEnv('ts', () => assert.deepEqual(run(), ts, 'CONVD_KERNEL=ts'));
    withEnv('wasm', () => assert.deepEqual(run(), wasm, 'CONVD_KERNEL=wasm'));
    withEnv('gpu', () => assert.throws(() => run(), /CONVD_KERNEL is "gpu"; expected native, wasm or ts/));
  });
});

describe('engine buffers and reads', () => {
  test('wasm: reads() is false for ordinary arrays, true for the buffers it hands out', () => {
    const e = wasmEngine();
    assert.equal(e.reads(new Float32Array(16)), false);
    assert.equal(e.reads(new Float64Array(16)), false);
    assert.equal(e.reads(new Float32Array(new ArrayBuffer(64), 16, 4)), false);
    const buf = e.buffers({ a: 10, b: 0, c: 33 });
    for (const key of ['a', 'b', 'c'] as const) {
      assert.ok(buf[key] instanceof Float32Array, `${key} is a Float32Array`);
      assert.equal(e.reads(buf[key]), true, `${key} handed out`);
    }
    assert.equal(e.reads(buf.c.subarray(3, 9)), true, 'a view into a handed-out buffer');
    assert.equal(e.reads(buf.c.slice()), false, 'a copy of a handed-out buffer');
  });

  test('ts: reads() is true for any typed array; buffers are Float64Array', () => {
    assert.equal(tsEngine.reads(new Float32Array(3)), true);
    assert.equal(tsEngine.reads(new Float64Array(3)), true);
    const buf = tsEngine.buffers({ a: 5, b: 7 });
    assert.ok(buf.a instanceof Float64Array && buf.b instanceof Float64Array);
  });

  for (const name of runnable(['ts', 'wasm', 'native', 'native-f64'] as const)) {
    test(`${name}: buffers have at least the asked lengths and do not overlap`, () => {
      const e = engineNamed(name);
      const lengths = { first: 1, second: 17, third: 1000, empty: 0, fourth: 6 };
      const buf = e.buffers(lengths);
      const keys = Object.keys(lengths) as (keyof typeof lengths)[];
      keys.forEach((k, i) => {
        assert.ok(buf[k].length >= lengths[k], `${k}: length ${buf[k].length} < ${lengths[k]}`);
        buf[k].fill(i + 1, 0, lengths[k]);
      });
      keys.forEach((k, i) => {
        assert.ok(
          buf[k].subarray(0, lengths[k]).every((v) => v === i + 1),
          `${k} was overwritten by another buffer`,
        );
      });
    });
  }

  test('wasm: buffers beyond the current memory grow it; the new buffers are readable and usable', () => {
    const e = wasmEngine();
    const small = e.buffers({ a: 4 });
    const n = 4 << 20; // 16 MiB of float32
    const big = e.buffers({ a: n, b: 8 });
    assert.ok(big.a.length >= n);
    assert.equal(e.reads(big.a), true);
    big.a[n - 1] = 3;
    big.b.fill(2);
    // C[1x1] = A[1 x 1] (last element of the big buffer) * B[1x1]
    e.gemm(
      1,
      1,
      1,
      { data: big.a, offset: n - 1, rowStride: 1, colStride: 1 },
      { data: big.b, offset: 0, rowStride: 1, colStride: 1 },
      big.b,
      4,
      1,
      false,
    );
    assert.equal(big.b[4], 6);
    // a view handed out before the memory grew is no longer the engine's memory
    if (small.a.buffer !== big.a.buffer) assert.equal(e.reads(small.a), false);
  });

  test('padded coordinates beyond int32 (padding 2^31 - 2, stride 2^30): wasm takes the TypeScript im2col / col2im, native computes them in 64 bits', () => {
    // Input [1, 2, 4], weight [1, 2, 1] (two input channels: not the depthwise path). Output o
    // reads padded coordinate o * 2^30 - (2^31 - 2): -2^31 + 2, -2^30 + 2, 2 (input index 2)
    // and 2^30 + 2. The wasm traversal's int32 arithmetic would wrap on the last one and read
    // input index 3 (measured: output 7 instead of 0); the fallback keeps it exact.
    for (const e of [
      wasmEngine(),
      engineNamed('wasm-simd'),
      ...runnable(['wasm-f64', 'native', 'native-f64'] as EngineName[]).map(engineNamed),
    ]) {
      const dtype = engineDtype(e);
      const g = resolveConv(
        { input: { dtype, shape: [1, 2, 4] }, weight: { dtype, shape: [1, 2, 1] } },
        { padding: 2 ** 31 - 2, stride: 2 ** 30 },
      );
      assert.deepEqual(g.outputShape, [1, 1, 4]);
      const Arr = dtype === 'float32' ? Float32Array : Float64Array;
      const [x, w, dy] = [Arr.from([1, 2, 3, 4, 5, 6, 7, 8]), Arr.from([1, 10]), Arr.from([1, 2, 3, 4])];
      const y = new Arr(4).fill(NaN);
      convForward(g, x, w, null, y, e);
      assert.deepEqual([...y], [0, 0, 73, 0], e.isa);
      const dx = new Arr(8).fill(NaN);
      convBackward(g, x, w, dy, { input: dx }, e);
      assert.deepEqual([...dx], [0, 0, 3, 0, 0, 0, 30, 0], e.isa);
    }
  });
});

/** A matrix operand laid out in `data` with the given strides and offset. */
interface Operand {
  view: MatrixView;
  get(i: number, j: number): number;
}

/** Where one operand lives: row-major or transposed storage, element spacing, offset, padding. */
interface Layout {
  transposed: boolean;
  spacing: 1 | 2;
  offset: number;
  pad: number;
}

/** Element count the operand needs in its array, and its view. */
function place(rows: number, cols: number, l: Layout): { length: number; view: (data: Real) => MatrixView } {
  // storage major dimension: rows (row-major) or cols (transposed)
  const [outer, inner] = l.transposed ? [cols, rows] : [rows, cols];
  const ld = inner * l.spacing + l.pad;
  const rowStride = l.transposed ? l.spacing : ld;
  const colStride = l.transposed ? ld : l.spacing;
  const length = l.offset + Math.max(0, outer - 1) * ld + Math.max(0, inner - 1) * l.spacing + 1 + 3;
  return { length, view: (data) => ({ data, offset: l.offset, rowStride, colStride }) };
}

function operand(view: MatrixView): Operand {
  return { view, get: (i, j) => view.data[view.offset + i * view.rowStride + j * view.colStride] };
}

interface GemmCase {
  m: number;
  n: number;
  k: number;
  a: Layout;
  b: Layout;
  accumulate: boolean;
  cOffset: number;
  ldcPad: number;
  seed: number;
}

/**
 * Runs one GEMM on `engine` (operands in the engine's own buffers for wasm; Float64Array C and
 * A/B of `abType` for ts) and checks every C element against a naive float64 triple loop under
 * the README rule for the engine's precision, every C cell outside the m x n window (row gaps,
 * before and after) untouched, and A and B unchanged.
 */
function checkGemm(engine: Engine, t: GemmCase, abType: 'float32' | 'float64' = 'float64'): void {
  const { m, n, k, accumulate } = t;
  const pa = place(m, k, t.a);
  const pb = place(k, n, t.b);
  const ldc = n + t.ldcPad;
  const cLength = t.cOffset + Math.max(0, m - 1) * ldc + n + 5;
  let aData: Real, bData: Real, cData: Real;
  if (engine.name === 'wasm') {
    // the wasm engines read only their own memory, in their dtype
    const buf = engine.buffers({ a: pa.length, b: pb.length, c: cLength });
    [aData, bData, cData] = [buf.a.subarray(0, pa.length), buf.b.subarray(0, pb.length), buf.c.subarray(0, cLength)];
  } else if (engine.name === 'native') {
    // the native engine reads the caller's arrays in place: here slices of one SharedArrayBuffer, as the batch split hands them
    const bytes = engine.elementBytes;
    const memory = new SharedArrayBuffer((pa.length + pb.length + cLength + 3) * bytes);
    const shared = bytes === 4 ? new Float32Array(memory) : new Float64Array(memory);
    aData = shared.subarray(1, 1 + pa.length);
    bData = shared.subarray(2 + pa.length, 2 + pa.length + pb.length);
    cData = shared.subarray(3 + pa.length + pb.length);
  } else {
    const ab = (len: number) => (abType === 'float32' ? new Float32Array(len) : new Float64Array(len));
    [aData, bData, cData] = [ab(pa.length), ab(pb.length), new Float64Array(cLength)];
  }
  const rand = rng(t.seed);
  for (const d of [aData, bData, cData])
    d.set(randomTensor(d.length, engine.name === 'ts' ? abType : engineDtype(engine), rand));
  const a = operand(pa.view(aData));
  const b = operand(pb.view(bData));
  const [a0, b0, c0] = [aData.slice(), bData.slice(), cData.slice()];

  engine.gemm(m, n, k, a.view, b.view, cData, t.cOffset, ldc, accumulate);

  const label = `${engine.name} m=${m} n=${n} k=${k} acc=${accumulate} A${JSON.stringify(t.a)} B${JSON.stringify(t.b)} cOffset=${t.cOffset} ldc=${ldc}`;
  assert.deepEqual(aData, a0, `${label}: A modified`);
  assert.deepEqual(bData, b0, `${label}: B modified`);
  const ref = new Float64Array(m * n);
  const bound = new Float64Array(m * n);
  const got = new Float64Array(m * n);
  const inWindow = new Uint8Array(cLength);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const ci = t.cOffset + i * ldc + j;
      let s = accumulate ? c0[ci] : 0;
      let sa = Math.abs(s);
      for (let l = 0; l < k; l++) {
        const p = a.get(i, l) * b.get(l, j);
        s += p;
        sa += Math.abs(p);
      }
      ref[i * n + j] = s;
      bound[i * n + j] = sa;
      got[i * n + j] = cData[ci];
      inWindow[ci] = 1;
    }
  }
  const dtype = engineDtype(engine);
  const rep = checkClose(got, ref, bound, k + (accumulate ? 1 : 0), dtype, { float64Reference: true });
  assert.ok(rep.ok, `${label}: ${rep.message}`);
  for (let i = 0; i < cLength; i++) {
    if (!inWindow[i] && !Object.is(cData[i], c0[i]))
      assert.fail(`${label}: C[${i}] outside the m x n window changed from ${c0[i]} to ${cData[i]}`);
  }
}

const SIZES = [1, 5, 7, 13, 97];
const DEPTHS = [1, 5, 7, 256, 257, 600];
/** (A, B) storage: both row-major, A transposed, B transposed, both transposed. */
const LAYOUTS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

describe('GEMM against a naive triple loop', () => {
  for (const name of runnable(['ts', 'wasm', 'wasm-simd', 'wasm-f64', 'native', 'native-f64'] as EngineName[])) {
    for (const [aT, bT] of LAYOUTS) {
      for (const accumulate of [false, true]) {
        const title = `${name}: A ${aT ? 'transposed' : 'row-major'}, B ${bT ? 'transposed' : 'row-major'}, accumulate=${accumulate}; m, n in {${SIZES.join(',')}}, k in {${DEPTHS.join(',')}}`;
        test(title, () => {
          const engine = engineNamed(name);
          let idx = 0;
          for (const m of SIZES) {
            for (const n of SIZES) {
              for (const k of DEPTHS) {
                idx++;
                // vary spacing, offsets and padding from call to call
                const a: Layout = {
                  transposed: aT,
                  spacing: idx % 3 === 0 ? 2 : 1,
                  offset: idx % 4,
                  pad: idx % 5 === 0 ? 0 : 3,
                };
                const b: Layout = {
                  transposed: bT,
                  spacing: idx % 4 === 1 ? 2 : 1,
                  offset: (idx * 7) % 5,
                  pad: idx % 2,
                };
                checkGemm(
                  engine,
                  { m, n, k, a, b, accumulate, cOffset: idx % 6, ldcPad: idx % 3 === 1 ? 0 : 2, seed: idx },
                  idx % 2 === 0 ? 'float32' : 'float64',
                );
              }
            }
          }
        });
      }
    }

    test(`${name}: blocking edges (m across MC = 96 / 128, n across NC = 2048, k across KC slices)`, () => {
      const engine = engineNamed(name);
      const dense = (transposed: boolean): Layout => ({ transposed, spacing: 1, offset: 1, pad: 0 });
      const cases: [number, number, number][] = [
        [200, 9, 520],
        [129, 14, 300],
        [97, 17, 513],
        [6, 2053, 260],
        [13, 4100, 3],
      ];
      let seed = 1000;
      for (const [m, n, k] of cases) {
        for (const accumulate of [false, true]) {
          checkGemm(engine, {
            m,
            n,
            k,
            a: dense(false),
            b: dense(false),
            accumulate,
            cOffset: 3,
            ldcPad: 1,
            seed: seed++,
          });
          checkGemm(engine, {
            m,
            n,
            k,
            a: dense(true),
            b: dense(true),
            accumulate,
            cOffset: 0,
            ldcPad: 0,
            seed: seed++,
          });
        }
      }
    });

    test(`${name}: k = 0 zeroes the window (accumulate=false) or leaves it (true); m = 0 or n = 0 writes nothing`, () => {
      const engine = engineNamed(name);
      const row: Layout = { transposed: false, spacing: 1, offset: 0, pad: 0 };
      for (const [m, n, k] of [
        [3, 5, 0],
        [9, 13, 0],
        [0, 4, 7],
        [4, 0, 7],
        [0, 0, 0],
      ] as [number, number, number][]) {
        for (const accumulate of [false, true]) {
          checkGemm(engine, { m, n, k, a: row, b: row, accumulate, cOffset: 2, ldcPad: 3, seed: m * 100 + n * 10 + k });
        }
      }
    });
  }

  test('wasm: operands outside its memory are refused (they must be staged)', () => {
    const e = wasmEngine();
    const buf = e.buffers({ a: 4, b: 4, c: 4 });
    const v = (data: Real): MatrixView => ({ data, offset: 0, rowStride: 2, colStride: 1 });
    const outside = new Float32Array(4);
    assert.throws(() => e.gemm(2, 2, 2, v(outside), v(buf.b), buf.c, 0, 2, false), TypeError);
    assert.throws(() => e.gemm(2, 2, 2, v(buf.a), v(outside), buf.c, 0, 2, false), TypeError);
    assert.throws(() => e.gemm(2, 2, 2, v(buf.a), v(buf.b), outside, 0, 2, false), TypeError);
  });

  test('ts: accumulates only into a Float64Array', () => {
    const v = (data: Real): MatrixView => ({ data, offset: 0, rowStride: 2, colStride: 1 });
    assert.throws(
      () => tsEngine.gemm(2, 2, 2, v(new Float64Array(4)), v(new Float64Array(4)), new Float32Array(4), 0, 2, false),
      TypeError,
    );
  });
});

/**
 * The direct kernels (depthwise path) of both engines against naive loops over the definition
 * (direct.ts): forward overwrites out, gradInput and gradWeight accumulate into what is there.
 * Extents are random 3-D (output W mostly from 1 to 11, so the wasm kernels' 4- and 8-wide
 * vector loops get partial tails, and every fifth from 16 to 40 for the 16-wide one; W stride 1
 * takes the vector path, > 1 the scalar one), dilations up to 3 and a
 * padded span possibly wider than the taps need. Each buffer has guard cells past its volume.
 */
describe('direct correlation kernels against naive loops', () => {
  const GUARD = 7;
  for (const name of runnable(['ts', 'wasm', 'wasm-simd', 'native', 'native-f64'] as EngineName[])) {
    test(`${name}: forward, gradInput, gradWeight on 300 random extents`, () => {
      const engine = engineNamed(name);
      const dtype = engineDtype(engine);
      const rand = rng(name === 'ts' ? 19 : name.startsWith('native') ? 57 : 91);
      const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
      for (let trial = 0; trial < 300; trial++) {
        const out = [int(1, 3), int(1, 4), trial % 5 === 0 ? int(16, 40) : int(1, 11)] as [number, number, number];
        const k = [int(1, 2), int(1, 3), int(1, 4)] as [number, number, number];
        const stride = [int(1, 2), int(1, 3), trial % 3 === 0 ? int(2, 3) : 1] as [number, number, number];
        const dilation = [int(1, 2), int(1, 3), int(1, 3)] as [number, number, number];
        const extra = [0, int(0, 2), int(0, 2)];
        const span = out.map((o, i) => (o - 1) * stride[i] + dilation[i] * (k[i] - 1) + 1 + extra[i]) as [
          number,
          number,
          number,
        ];
        const d: DirectDims = { span, out, k, stride, dilation };
        const [nX, nO, nK] = [span[0] * span[1] * span[2], out[0] * out[1] * out[2], k[0] * k[1] * k[2]];
        const label = `${name} ${JSON.stringify(d)}`;

        // naive: every (output, tap) pair and the span index it reads
        const pairs: [number, number, number][] = [];
        for (let od = 0; od < out[0]; od++)
          for (let oh = 0; oh < out[1]; oh++)
            for (let ow = 0; ow < out[2]; ow++) {
              for (let kd = 0; kd < k[0]; kd++)
                for (let kh = 0; kh < k[1]; kh++)
                  for (let kw = 0; kw < k[2]; kw++) {
                    const o = (od * out[1] + oh) * out[2] + ow;
                    const t = (kd * k[1] + kh) * k[2] + kw;
                    const x =
                      ((od * stride[0] + kd * dilation[0]) * span[1] + oh * stride[1] + kh * dilation[1]) * span[2] +
                      ow * stride[2] +
                      kw * dilation[2];
                    pairs.push([o, x, t]);
                  }
            }

        // out / dy and dwk start at an offset (a plane inside an image, one channel's taps)
        const [outAt, dwkAt] = [int(0, 5), int(0, 3)];
        const bias = trial % 4 === 0 ? 0 : rand() - 0.5;
        const buf = engine.buffers({
          xp: nX + GUARD,
          wk: nK + GUARD,
          out: outAt + nO + GUARD,
          dxp: nX + GUARD,
          dwk: dwkAt + nK + GUARD,
        });
        for (const key of ['xp', 'wk', 'out', 'dxp', 'dwk'] as const)
          buf[key].set(randomTensor(buf[key].length, dtype, rand));
        const before = Object.fromEntries(
          (['xp', 'wk', 'out', 'dxp', 'dwk'] as const).map((key) => [key, buf[key].slice()]),
        ) as Record<'xp' | 'wk' | 'out' | 'dxp' | 'dwk', Real>;
        const dy = before.out.subarray(outAt); // gradInput / gradWeight read dy from the out buffer's original values
        // forward (+ bias)
        const fwd = { ref: new Float64Array(nO).fill(bias), bound: new Float64Array(nO).fill(Math.abs(bias)) };
        for (const [o, x, t] of pairs) {
          fwd.ref[o] += before.wk[t] * before.xp[x];
          fwd.bound[o] += Math.abs(before.wk[t] * before.xp[x]);
        }
        engine.direct.forward(buf.xp, buf.wk, bias, buf.out, outAt, d);
        let rep = checkClose(buf.out.subarray(outAt, outAt + nO), fwd.ref, fwd.bound, nK + 1, dtype, {
          float64Reference: true,
        });
        assert.ok(rep.ok, `forward ${label}: ${rep.message}`);
        assert.deepEqual(
          buf.out.subarray(0, outAt),
          before.out.subarray(0, outAt),
          `${label}: out written before its offset`,
        );
        assert.deepEqual(
          buf.out.subarray(outAt + nO),
          before.out.subarray(outAt + nO),
          `${label}: out written past its volume`,
        );
        // gradInput: dxp += scatter(wk * dy), with dy = the out buffer's original values
        buf.out.set(before.out);
        const gi = {
          ref: Float64Array.from(before.dxp.subarray(0, nX)),
          bound: Float64Array.from(before.dxp.subarray(0, nX), Math.abs),
          n: new Uint32Array(nX),
        };
        for (const [o, x, t] of pairs) {
          gi.ref[x] += before.wk[t] * dy[o];
          gi.bound[x] += Math.abs(before.wk[t] * dy[o]);
          gi.n[x]++;
        }
        engine.direct.gradInput(buf.out, outAt, buf.wk, buf.dxp, d);
        rep = checkClose(buf.dxp.subarray(0, nX), gi.ref, gi.bound, Math.max(...gi.n) + 1, dtype, {
          float64Reference: true,
        });
        assert.ok(rep.ok, `gradInput ${label}: ${rep.message}`);
        // gradWeight: dwk += sum_o dy * xp
        const gw = {
          ref: Float64Array.from(before.dwk.subarray(dwkAt, dwkAt + nK)),
          bound: Float64Array.from(before.dwk.subarray(dwkAt, dwkAt + nK), Math.abs),
        };
        for (const [o, x, t] of pairs) {
          gw.ref[t] += dy[o] * before.xp[x];
          gw.bound[t] += Math.abs(dy[o] * before.xp[x]);
        }
        engine.direct.gradWeight(buf.out, outAt, buf.xp, buf.dwk, dwkAt, d);
        rep = checkClose(buf.dwk.subarray(dwkAt, dwkAt + nK), gw.ref, gw.bound, nO + 1, dtype, {
          float64Reference: true,
        });
        assert.ok(rep.ok, `gradWeight ${label}: ${rep.message}`);
        // operands read only; nothing past the volumes written
        assert.deepEqual(buf.xp, before.xp, `${label}: xp modified`);
        assert.deepEqual(buf.wk, before.wk, `${label}: wk modified`);
        assert.deepEqual(buf.out, before.out, `${label}: dy modified`);
        assert.deepEqual(buf.dxp.subarray(nX), before.dxp.subarray(nX), `${label}: dxp written past its volume`);
        assert.deepEqual(
          buf.dwk.subarray(0, dwkAt),
          before.dwk.subarray(0, dwkAt),
          `${label}: dwk written before its offset`,
        );
        assert.deepEqual(
          buf.dwk.subarray(dwkAt + nK),
          before.dwk.subarray(dwkAt + nK),
          `${label}: dwk written past its volume`,
        );
      }
    });
  }
});
