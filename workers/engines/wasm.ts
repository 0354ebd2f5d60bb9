/**
 * The WebAssembly SIMD engines (see engine.ts): load the kernels built from workers/wasm/ into
 * dist/workers/wasm/, lay the conv tile buffers out in their memory and call the kernels with
 * byte pointers. One instance (own memory) per dtype: float32 runs everything in WebAssembly
 * (sgemm, im2col / col2im, the direct depthwise kernels); float64 runs dgemm and im2col /
 * col2im in WebAssembly and the TypeScript direct loops on the same buffers.
 *
 * Two builds of one source: kernels-fma.wasm uses relaxed SIMD's fused multiply-add
 * (f32x4.relaxed_madd), kernels.wasm plain SIMD128 multiply + add. The FMA build is preferred;
 * a runtime that cannot compile it gets the plain one.
 */
import { readFileSync } from 'node:fs';
import { PADDING_MODES } from '../../src/shared/geometry/common.js';
import type { DType, Real } from '../../src/shared/tensor.js';
import { tsDirect, type DirectDims } from '../kernels/direct.js';
import type { MatrixView } from '../kernels/gemm.js';
import { col2im, im2col } from '../kernels/im2col.js';
import type { ConvDims } from '../kernels/lowering.js';
import type { Im2col, KernelEngine } from './engine.js';

interface SgemmExports {
  memory: WebAssembly.Memory;
  WORK_BYTES: WebAssembly.Global;
  heapBase: () => number;
  sgemm: (
    m: number,
    n: number,
    k: number,
    a: number,
    aRs: number,
    aCs: number,
    b: number,
    bRs: number,
    bCs: number,
    c: number,
    ldc: number,
    accumulate: boolean,
    work: number,
  ) => void;
  dgemm: SgemmExports['sgemm'];
  PLAN_FIELDS: WebAssembly.Global;
  im2col: (plan: number, image: number, group: number, p0: number, p1: number, cols: number, ld: number) => void;
  col2im: (plan: number, dcols: number, ld: number, group: number, p0: number, p1: number, image: number) => void;
  im2col64: SgemmExports['im2col'];
  col2im64: SgemmExports['col2im'];
  padZeros: (src: number, xp: number, ...dims: number[]) => void;
  unpadZeros: (xp: number, dst: number, ...dims: number[]) => void;
  directForward: (xp: number, wk: number, bias: number, out: number, ...dims: number[]) => void;
  directGradInput: DirectExport;
  directGradWeight: DirectExport;
}

/** (three volume pointers, span H and W, out D H W, k D H W, stride D H W, dilation D H W) */
type DirectExport = (a: number, b: number, c: number, ...dims: number[]) => void;

export type WasmBuild = 'fma' | 'simd';

const BUILDS: Record<WasmBuild, { file: URL; isa: string }> = {
  fma: { file: new URL('../wasm/kernels-fma.wasm', import.meta.url), isa: 'wasm simd128 + relaxed fma' },
  simd: { file: new URL('../wasm/kernels.wasm', import.meta.url), isa: 'wasm simd128' },
};

/**
 * Whether the wasm im2col's int32 arithmetic holds every padded coordinate of `p` (a stride,
 * dilation or zeros padding near 2^31 does not fit; the TypeScript im2col then runs instead,
 * on the same buffers). Element offsets always fit: they index this module's memory.
 */
function int32Coordinates(p: ConvDims): boolean {
  return [0, 1, 2].every(
    (i) =>
      (p.outExt[i] - 1) * p.stride[i] + (p.kExt[i] - 1) * p.dilation[i] + p.padBefore[i] + p.inExt[i] + p.stride[i] <=
      0x7fffffff,
  );
}

/**
 * The int32 plan record workers/wasm/im2col.ts reads: the index of each field's first int (its
 * field indices; test/engines/wasm-layout.test.ts compares both sides). Padding modes are
 * numbered in PADDING_MODES order.
 */
export const PLAN_LAYOUT = {
  IN_EXT: 0,
  K_EXT: 3,
  OUT_EXT: 6,
  STRIDE: 9,
  DILATION: 12,
  PAD_BEFORE: 15,
  X_SPATIAL: 18,
  X_C: 21,
  CIN_G: 22,
  ROW_PER_CHANNEL: 23,
  ROW_PER_OFFSET: 24,
  PADDING_MODE: 25,
} as const;

/** Ints in a plan record (the module's PLAN_FIELDS). */
export const PLAN_FIELDS = 26;

/**
 * The plan record of `p`, as workers/wasm/im2col.ts reads it (int32), or written into `r`
 * (the native engine's Float64Array, which holds every coordinate exactly).
 */
export function planRecord<R extends Int32Array | Float64Array = Int32Array>(
  p: ConvDims,
  r: R = new Int32Array(PLAN_FIELDS) as R,
): R {
  r.set(p.inExt, PLAN_LAYOUT.IN_EXT);
  r.set(p.kExt, PLAN_LAYOUT.K_EXT);
  r.set(p.outExt, PLAN_LAYOUT.OUT_EXT);
  r.set(p.stride, PLAN_LAYOUT.STRIDE);
  r.set(p.dilation, PLAN_LAYOUT.DILATION);
  r.set(p.padBefore, PLAN_LAYOUT.PAD_BEFORE);
  r.set(p.xSpatial, PLAN_LAYOUT.X_SPATIAL);
  r[PLAN_LAYOUT.X_C] = p.xC;
  r[PLAN_LAYOUT.CIN_G] = p.cinG;
  r[PLAN_LAYOUT.ROW_PER_CHANNEL] = p.rowPerChannel;
  r[PLAN_LAYOUT.ROW_PER_OFFSET] = p.rowPerOffset;
  r[PLAN_LAYOUT.PADDING_MODE] = PADDING_MODES.indexOf(p.paddingMode);
  return r;
}
const PAGE = 65536;
const ALIGN = 64;
const alignUp = (v: number) => Math.ceil(v / ALIGN) * ALIGN;

const engines = new Map<string, KernelEngine | null>();

/** The wasm engine for `dtype` (the FMA build when it loads, else plain SIMD), or null when neither loads. */
export function wasmEngine(dtype: DType = 'float32'): KernelEngine | null {
  return wasmBuild('fma', dtype) ?? wasmBuild('simd', dtype);
}

/** One build of the wasm engine for `dtype`, or null when its module is missing or this runtime rejects it. */
export function wasmBuild(build: WasmBuild, dtype: DType = 'float32'): KernelEngine | null {
  const key = `${build} ${dtype}`;
  if (!engines.has(key)) engines.set(key, load(build, dtype));
  return engines.get(key) ?? null;
}

/** Compiles a build (relaxed SIMD ships enabled in V8 from Node 22 on). */
function compile(build: WasmBuild): WebAssembly.Module {
  return new WebAssembly.Module(readFileSync(BUILDS[build].file));
}

function load(build: WasmBuild, dtype: DType): KernelEngine | null {
  let exports: SgemmExports;
  try {
    const module = compile(build);
    const abort = () => {
      throw new Error('sgemm.wasm aborted');
    };
    exports = new WebAssembly.Instance(module, { env: { abort } }).exports as unknown as SgemmExports;
  } catch {
    return null;
  }
  const { memory } = exports;
  const float64 = dtype === 'float64';
  const bytes = float64 ? 8 : 4;
  const View = float64 ? Float64Array : Float32Array;
  const gemmKernel = float64 ? exports.dgemm : exports.sgemm;
  const im2colKernel = float64 ? exports.im2col64 : exports.im2col;
  const col2imKernel = float64 ? exports.col2im64 : exports.col2im;
  const work = alignUp(exports.heapBase());
  // The plan record of the last im2col / col2im, at a fixed place before the buffers.
  const planAt = alignUp(work + (exports.WORK_BYTES.value as number));
  const buffersStart = alignUp(planAt + PLAN_FIELDS * 4);
  let written: Int32Array | null = null;
  /** planAt, holding `record` (written there when another plan's was). */
  const planned = (record: Int32Array): number => {
    if (record !== written) {
      new Int32Array(memory.buffer, planAt, PLAN_FIELDS).set(record);
      written = record;
    }
    return planAt;
  };

  /** Byte address of element `offset` of a view of this engine's dtype into this memory. */
  const address = (data: Real, offset: number): number => {
    if (data.buffer !== memory.buffer || !(data instanceof View)) {
      throw new TypeError(`the wasm engine reads only ${dtype} buffers it allocated; stage the operand first`);
    }
    return data.byteOffset + offset * bytes;
  };

  const dims = (d: DirectDims): number[] => [d.span[1], d.span[2], ...d.out, ...d.k, ...d.stride, ...d.dilation];

  const engine: KernelEngine = {
    name: 'wasm',
    isa: float64 ? `${BUILDS[build].isa}, float64` : BUILDS[build].isa,
    elementBytes: bytes,
    gemmScratchBytes: exports.WORK_BYTES.value as number,
    readsInPlace: false,
    buffers<K extends string>(lengths: Record<K, number>): Record<K, Real> {
      const offsets = {} as Record<K, number>;
      let end = buffersStart;
      for (const key in lengths) {
        offsets[key] = end;
        end = alignUp(end + lengths[key] * bytes);
      }
      if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      const out = {} as Record<K, Real>;
      for (const key in lengths) out[key] = new View(memory.buffer, offsets[key], lengths[key]);
      return out;
    },
    reads: (data) => data.buffer === memory.buffer,
    gemm(m, n, k, a: MatrixView, b: MatrixView, c, cOffset, ldc, accumulate) {
      if (m === 0 || n === 0) return;
      gemmKernel(
        m,
        n,
        k,
        address(a.data, a.offset),
        a.rowStride,
        a.colStride,
        address(b.data, b.offset),
        b.rowStride,
        b.colStride,
        address(c, cOffset),
        ldc,
        accumulate,
        work,
      );
    },
    im2colFor(p): Im2col {
      if (!int32Coordinates(p)) {
        return {
          gather: (x, image, group, p0, p1, cols) => im2col(p, x, image, group, p0, p1, cols),
          scatter: (dcols, image, group, p0, p1, dx) => col2im(p, dcols, image, group, p0, p1, dx),
        };
      }
      const record = planRecord(p);
      return {
        gather: (x, image, group, p0, p1, cols) =>
          im2colKernel(
            planned(record),
            address(x, image),
            group,
            p0,
            p1,
            address(cols.data, cols.offset),
            cols.rowStride,
          ),
        scatter: (dcols, image, group, p0, p1, dx) =>
          col2imKernel(
            planned(record),
            address(dcols.data, dcols.offset),
            dcols.rowStride,
            group,
            p0,
            p1,
            address(dx, image),
          ),
      };
    },
    direct: {
      padZeros: (src, srcAt, xp, inExt, padBefore, d) =>
        exports.padZeros(address(src, srcAt), address(xp, 0), ...inExt, ...d.span, ...padBefore),
      unpadZeros: (xp, dst, dstAt, inExt, padBefore, d) =>
        exports.unpadZeros(address(xp, 0), address(dst, dstAt), ...inExt, ...d.span, ...padBefore),
      forward: (xp, wk, bias, out, outAt, d) =>
        exports.directForward(address(xp, 0), address(wk, 0), bias, address(out, outAt), ...dims(d)),
      gradInput: (dy, dyAt, wk, dxp, d) =>
        exports.directGradInput(address(dy, dyAt), address(wk, 0), address(dxp, 0), ...dims(d)),
      gradWeight: (dy, dyAt, xp, dwk, dwkAt, d) =>
        exports.directGradWeight(address(dy, dyAt), address(xp, 0), address(dwk, dwkAt), ...dims(d)),
    },
  };
  // float64: the depthwise kernels have no WebAssembly twin; the TypeScript loops run on the same buffers.
  return float64 ? { ...engine, direct: tsDirect } : engine;
}
