/**
 * The native engine (see engine.ts): a Node-API addon built from native/ into
 * dist/workers/native/convd_native.node (scripts/build-native.sh) that runs the GEMMs on the
 * system BLAS (OpenBLAS cblas_sgemm / cblas_dgemm, one BLAS thread per worker thread) and
 * im2col / col2im in C++, reading and writing the callers' typed arrays in place (ordinary or
 * SharedArrayBuffer-backed, at any offset): nothing is staged. One engine per dtype; its
 * buffers are typed arrays of that dtype from the thread's workspace. The depthwise path's
 * direct correlation is C++ too (its staging, padZeros / unpadZeros, the TypeScript copies).
 *
 * float32 calls with zeros padding run whole on oneDNN's direct convolution (what PyTorch runs
 * on CPU) where that measured faster than im2col + sgemm (libraryConvolution): the plan's
 * `library` algorithm. oneDNN reads and writes the callers' tensors in their own strides when
 * its kernels take that layout (channels_last mostly), else reorders them through per-thread
 * buffers; the weight is reordered into the layout oneDNN chose on every call.
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
import { tsDirect, type DirectDims, type DirectKernels } from '../kernels/direct.js';
import { scratchOf } from '../kernels/workspace.js';
import type { ConvDims } from '../kernels/lowering.js';
import type { Im2col, KernelEngine, LibraryConvolution } from './engine.js';
import { PLAN_FIELDS, planRecord } from './wasm.js';

/** An im2col plan the addon validated and keeps (opaque here). */
type NativePlan = { readonly __nativePlan: unique symbol };
/** A oneDNN convolution the addon planned (opaque here). */
type NativeConvolution = { readonly __nativeConvolution: unique symbol };

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
  convolution(record: Float64Array): NativeConvolution;
  convForward(c: NativeConvolution, x: Real, xAt: number, w: Real, bias: Real | null, y: Real, yAt: number): boolean;
  convBackwardData(c: NativeConvolution, w: Real, dy: Real, dyAt: number, dx: Real, dxAt: number): void;
  convBackwardWeights(c: NativeConvolution, x: Real, xAt: number, dy: Real, dyAt: number, dw: Real): boolean;
  directForward(d: Float64Array, xp: Real, wk: Real, bias: number, out: Real, outAt: number): void;
  directGradInput(d: Float64Array, dy: Real, dyAt: number, wk: Real, dxp: Real): void;
  directGradWeight(d: Float64Array, dy: Real, dyAt: number, xp: Real, dwk: Real, dwkAt: number): void;
  /** The oneDNN implementation each direction runs ("forward,backward data,backward weights"; "" where not made yet). */
  convImplementations(c: NativeConvolution): string;
  /** The libraries and the kernel sets they run, e.g. "OpenBLAS 0.3.21 (SkylakeX)" and "oneDNN 2.6.3 (avx512_core)". */
  library(): { blas: string; convolution: string };
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

const engines = new Map<string, KernelEngine>();

/**
 * The native engine for `dtype`, or null when the addon does not load. With `convolutions`
 * false, one that never plans the library algorithm (the tests run im2col + BLAS in float32
 * through it).
 */
export function nativeEngine(dtype: DType = 'float32', convolutions = true): KernelEngine | null {
  const lib = nativeAddon();
  if (!lib) return null;
  const key = `${dtype} ${convolutions}`;
  let engine = engines.get(key);
  if (!engine) {
    engine = build(lib, dtype, convolutions && dtype === 'float32');
    engines.set(key, engine);
  }
  return engine;
}

/** Field indices of the convolution record native/convolution.cc reads (CONV_FIELDS of them). */
export const CONV_LAYOUT = {
  IMAGES: 0,
  GROUPS: 1,
  CIN_G: 2,
  COUT_G: 3,
  IN_EXT: 4,
  K_EXT: 7,
  OUT_EXT: 10,
  STRIDE: 13,
  DILATION: 16,
  PAD_BEFORE: 19,
  X_N: 22,
  X_C: 23,
  X_SPATIAL: 24,
  Y_N: 27,
  Y_C: 28,
  Y_P: 29,
  W_CO: 30,
  W_ROW: 31,
  ROW_PER_CHANNEL: 32,
  ROW_PER_OFFSET: 33,
} as const;
export const CONV_FIELDS = 34;

/** The convolution record of `p` (its images [batchStart, batchEnd)). */
export function convolutionRecord(p: ConvDims): Float64Array {
  const r = new Float64Array(CONV_FIELDS);
  const L = CONV_LAYOUT;
  r[L.IMAGES] = p.batchEnd - p.batchStart;
  r[L.GROUPS] = p.groups;
  r[L.CIN_G] = p.cinG;
  r[L.COUT_G] = p.coutG;
  r.set(p.inExt, L.IN_EXT);
  r.set(p.kExt, L.K_EXT);
  r.set(p.outExt, L.OUT_EXT);
  r.set(p.stride, L.STRIDE);
  r.set(p.dilation, L.DILATION);
  r.set(p.padBefore, L.PAD_BEFORE);
  r[L.X_N] = p.xN;
  r[L.X_C] = p.xC;
  r.set(p.xSpatial, L.X_SPATIAL);
  r[L.Y_N] = p.yN;
  r[L.Y_C] = p.yC;
  r[L.Y_P] = p.yP;
  r[L.W_CO] = p.wCo;
  r[L.W_ROW] = p.wRow;
  r[L.ROW_PER_CHANNEL] = p.rowPerChannel;
  r[L.ROW_PER_OFFSET] = p.rowPerOffset;
  return r;
}

/** Whether oneDNN plans `p`: zeros padding (its only mode), every extent within its int32 dims, at least one image. */
function onednnPlans(p: ConvDims): boolean {
  // every padded coordinate a tap visits, and the channel counts, within int32
  const spans = [0, 1, 2].map((i) => (p.outExt[i] - 1) * p.stride[i] + (p.kExt[i] - 1) * p.dilation[i] + 1);
  const extents = [...spans, ...p.inExt.map((e, i) => e + p.padBefore[i]), p.groups * p.cinG, p.groups * p.coutG];
  // oneDNN derives the output from input, padding and taps: an input tail of a stride or more
  // that no tap reaches (a transposed convolution's output_padding) has no oneDNN padding
  const tailFits = [0, 1, 2].every((i) => p.inExt[i] + p.padBefore[i] - spans[i] < p.stride[i]);
  // taps, strides, dilations and padding of ordinary networks: oneDNN's backward primitives
  // refuse some beyond (measured: stride 2^31 - 1), and im2col + GEMM serves those exactly
  const ordinary = [...p.kExt, ...p.stride, ...p.dilation, ...p.padBefore].every((v) => v <= ONEDNN_MAX_PARAMETER);
  return (
    p.paddingMode === 'zeros' && p.batchEnd > p.batchStart && tailFits && ordinary && extents.every((v) => v < 2 ** 31)
  );
}

/** Largest kernel extent, stride, dilation or padding planned on oneDNN. */
const ONEDNN_MAX_PARAMETER = 2 ** 16;

/**
 * Input channels from which grad_input runs on oneDNN. Below, col2im + sgemm is faster
 * (measured, one thread, GFLOP/s oneDNN vs col2im + sgemm: S2 with 3 channels 34 vs 69 NCHW,
 * 37 vs 61 NHWC; S5 with 1 channel 12 vs 34, 13 vs 24; from S1 on, 64 channels, 189 vs 72).
 */
const ONEDNN_GRAD_INPUT_MIN_CHANNELS = 4;

/** Planned oneDNN convolutions by record, most recent last (a plan's primitives are made once, then reused). */
const PLANS_KEPT = 32;

/** The direct kernels on the addon; each plan's DirectDims is packed into its record once. */
function nativeDirect(lib: Addon): DirectKernels {
  const records = new WeakMap<DirectDims, Float64Array>();
  const record = (d: DirectDims): Float64Array => {
    let r = records.get(d);
    if (!r) {
      r = Float64Array.from([...d.span, ...d.out, ...d.k, ...d.stride, ...d.dilation]);
      records.set(d, r);
    }
    return r;
  };
  return {
    padZeros: (...args) => tsDirect.padZeros(...args),
    unpadZeros: (...args) => tsDirect.unpadZeros(...args),
    forward: (xp, wk, bias, out, outAt, d) => lib.directForward(record(d), xp, wk, bias, out, outAt),
    gradInput: (dy, dyAt, wk, dxp, d) => lib.directGradInput(record(d), dy, dyAt, wk, dxp),
    gradWeight: (dy, dyAt, xp, dwk, dwkAt, d) => lib.directGradWeight(record(d), dy, dyAt, xp, dwk, dwkAt),
  };
}

/** What convd_kernel_info shows: "OpenBLAS 0.3.21 (SkylakeX) + oneDNN 2.6.3 (avx512_core)", or the BLAS alone and the dtype. */
function isa(lib: Addon, dtype: DType, convolutions: boolean): string {
  const { blas, convolution } = lib.library();
  if (dtype === 'float64') return `${blas}, float64`;
  return convolutions ? `${blas} + ${convolution}` : blas;
}

function build(lib: Addon, dtype: DType, convolutions: boolean): KernelEngine {
  const plans = new Map<string, NativeConvolution>();
  const planned = (p: ConvDims): NativeConvolution => {
    const record = convolutionRecord(p);
    const key = record.join(',');
    let c = plans.get(key);
    if (c) plans.delete(key);
    else c = lib.convolution(record);
    plans.set(key, c);
    if (plans.size > PLANS_KEPT) plans.delete(plans.keys().next().value as string);
    return c;
  };
  const libraryConvolution = (p: ConvDims): LibraryConvolution | null => {
    if (!onednnPlans(p)) return null;
    const c = planned(p);
    const [xAt, yAt] = [p.batchStart * p.xN, p.batchStart * p.yN];
    const library: LibraryConvolution = {
      forward: (x, w, bias, y) => lib.convForward(c, x, xAt, w, bias, y, yAt),
      gradWeight: (x, dy, dw) => lib.convBackwardWeights(c, x, xAt, dy, yAt, dw),
    };
    if (p.groups * p.cinG >= ONEDNN_GRAD_INPUT_MIN_CHANNELS)
      library.gradInput = (w, dy, dx) => lib.convBackwardData(c, w, dy, yAt, dx, xAt);
    return library;
  };
  const View = dtype === 'float64' ? Float64Array : Float32Array;
  return {
    name: 'native',
    isa: isa(lib, dtype, convolutions),
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
    direct: nativeDirect(lib),
    ...(convolutions ? { convolution: libraryConvolution } : {}),
  };
}
