/**
 * The native engine (see engine.ts): a Node-API addon built from native/ into
 * dist/workers/native/convd_native.node (scripts/build-native.sh) that runs the GEMMs on the
 * system BLAS (OpenBLAS cblas_sgemm / cblas_dgemm, one BLAS thread per worker thread) and
 * im2col / col2im in C++, reading and writing the callers' typed arrays in place (ordinary or
 * SharedArrayBuffer-backed, at any offset): nothing is staged. One engine per dtype; its
 * buffers are typed arrays of that dtype from the thread's workspace. The direct depthwise
 * loops are the TypeScript ones, on those same arrays.
 *
 * The addon checks every argument against the arrays it is given (extents, offsets and
 * strides against lengths; element types; the plan record's fields) and throws TypeError or
 * RangeError before any kernel runs: no JavaScript value reaches native code unvalidated.
 *
 * When the addon is missing (built without the libraries) or does not load, nativeEngine
 * returns null and engines/index.ts falls back to wasm; nativeLoadError says why.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { DType, Real } from '../../src/shared/tensor.js';
import { tsDirect } from '../kernels/direct.js';
import { scratchOf } from '../kernels/workspace.js';
import type { Im2col, KernelEngine } from './engine.js';
import { PLAN_FIELDS, planRecord } from './wasm.js';

/** An im2col plan the addon validated and keeps (opaque here). */
type NativePlan = { readonly __nativePlan: unique symbol };

interface Addon {
  gemm(
    m: number,
    n: number,
    k: number,
    a: Real,
    aOffset: number,
    aRowStride: number,
    aColStride: number,
    b: Real,
    bOffset: number,
    bRowStride: number,
    bColStride: number,
    c: Real,
    cOffset: number,
    ldc: number,
    accumulate: boolean,
  ): void;
  im2colPlan(record: Float64Array): NativePlan;
  im2col(
    plan: NativePlan,
    x: Real,
    image: number,
    group: number,
    p0: number,
    p1: number,
    cols: Real,
    colsOffset: number,
    ld: number,
  ): void;
  col2im(
    plan: NativePlan,
    dcols: Real,
    dcolsOffset: number,
    ld: number,
    group: number,
    p0: number,
    p1: number,
    dx: Real,
    image: number,
  ): void;
  /** The BLAS library and the kernel set it runs, e.g. "OpenBLAS 0.3.21 (SkylakeX)". */
  library(): string;
}

/** Where the build puts the addon; CONVD_NATIVE_ADDON names another build (the sanitizer run, scripts/ci/native-sanitize.sh). */
export function nativeAddonPath(): string {
  return process.env.CONVD_NATIVE_ADDON || fileURLToPath(new URL('../native/convd_native.node', import.meta.url));
}

let addon: Addon | null | undefined;
let loadError = '';

/** The addon, loaded once per thread; null when it is missing or does not load. */
export function nativeAddon(): Addon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(nativeAddonPath()) as Addon;
    } catch (e) {
      addon = null;
      loadError = e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
  }
  return addon;
}

/** Why the addon did not load ('' when it did, or has not been tried). */
export function nativeLoadError(): string {
  return loadError;
}

/**
 * What the BLAS's packing touches of its own per-thread buffer (OpenBLAS reserves 32 MiB;
 * measured: the RSS of a 2048 x 4096 x 2048 sgemm or dgemm grows by C plus 3.9 MiB).
 */
const BLAS_SCRATCH_BYTES = 4 * 2 ** 20;

const engines = new Map<DType, KernelEngine>();

/** The native engine for `dtype`, or null when the addon does not load. */
export function nativeEngine(dtype: DType = 'float32'): KernelEngine | null {
  const lib = nativeAddon();
  if (!lib) return null;
  let engine = engines.get(dtype);
  if (!engine) {
    engine = build(lib, dtype);
    engines.set(dtype, engine);
  }
  return engine;
}

function build(lib: Addon, dtype: DType): KernelEngine {
  const View = dtype === 'float64' ? Float64Array : Float32Array;
  return {
    name: 'native',
    isa: dtype === 'float64' ? `${lib.library()}, float64` : lib.library(),
    elementBytes: dtype === 'float64' ? 8 : 4,
    gemmScratchBytes: BLAS_SCRATCH_BYTES,
    readsInPlace: true,
    buffers<K extends string>(lengths: Record<K, number>): Record<K, Real> {
      const out = {} as Record<K, Real>;
      for (const key in lengths) out[key] = scratchOf(View, `native.${key}`, lengths[key]);
      return out;
    },
    reads: (data) => data instanceof View,
    gemm: (m, n, k, a, b, c, cOffset, ldc, accumulate) =>
      lib.gemm(
        m,
        n,
        k,
        a.data,
        a.offset,
        a.rowStride,
        a.colStride,
        b.data,
        b.offset,
        b.rowStride,
        b.colStride,
        c,
        cOffset,
        ldc,
        accumulate,
      ),
    im2colFor(p): Im2col {
      const plan = lib.im2colPlan(planRecord(p, new Float64Array(PLAN_FIELDS)));
      return {
        gather: (x, image, group, p0, p1, cols) =>
          lib.im2col(plan, x, image, group, p0, p1, cols.data, cols.offset, cols.rowStride),
        scatter: (dcols, image, group, p0, p1, dx) =>
          lib.col2im(plan, dcols.data, dcols.offset, dcols.rowStride, group, p0, p1, dx, image),
      };
    },
    direct: tsDirect,
  };
}
