/**
 * The WebAssembly SIMD engines: load the kernels built from workers/wasm/ into
 * dist/workers/wasm/, lay the conv tile buffers out in their memory and call the kernels with
 * byte pointers. See engine.ts. One instance (own memory) per dtype: float32 runs everything
 * in WebAssembly (sgemm, im2col / col2im, the direct depthwise kernels); float64 runs dgemm and
 * im2col / col2im in WebAssembly and the TypeScript direct loops on the same buffers.
 *
 * Two builds of one source: kernels-fma.wasm uses relaxed SIMD's fused multiply-add
 * (f32x4.relaxed_madd), kernels.wasm plain SIMD128 multiply + add. The FMA build is preferred;
 * a runtime that cannot compile it gets the plain one.
 */
import { readFileSync } from 'node:fs';
import type { DType, Real } from '../../src/shared/tensor.js';
import type { KernelEngine } from './engine.js';
import { tsDirect, type DirectDims } from './direct.js';
import type { MatrixView } from './gemm.js';
import { col2im, im2col } from './im2col.js';
import type { ConvPlan } from './plan.js';

interface SgemmExports {
  memory: WebAssembly.Memory;
  WORK_BYTES: WebAssembly.Global;
  heapBase(): number;
  sgemm(
    m: number, n: number, k: number,
    a: number, aRs: number, aCs: number,
    b: number, bRs: number, bCs: number,
    c: number, ldc: number, accumulate: boolean, work: number,
  ): void;
  dgemm: SgemmExports['sgemm'];
  PLAN_FIELDS: WebAssembly.Global;
  im2col(plan: number, image: number, group: number, p0: number, p1: number, cols: number, ld: number): void;
  col2im(plan: number, dcols: number, ld: number, group: number, p0: number, p1: number, image: number): void;
  im2col64: SgemmExports['im2col'];
  col2im64: SgemmExports['col2im'];
  padZeros(src: number, xp: number, ...dims: number[]): void;
  unpadZeros(xp: number, dst: number, ...dims: number[]): void;
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
function int32Coordinates(p: ConvPlan): boolean {
  return [0, 1, 2].every((i) => (p.outExt[i] - 1) * p.stride[i] + (p.kExt[i] - 1) * p.dilation[i] + p.padBefore[i] + p.inExt[i] + p.stride[i] <= 0x7fffffff);
}

/** The padding modes in the order workers/wasm/im2col.ts numbers them. */
const PADDING_MODES = ['zeros', 'reflect', 'replicate', 'circular'];
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
  // The plan of the last im2col / col2im, as the int32 fields workers/wasm/im2col.ts reads.
  const planAt = alignUp(work + (exports.WORK_BYTES.value as number));
  const buffersStart = alignUp(planAt + (exports.PLAN_FIELDS.value as number) * 4);
  let planned: ConvPlan | null = null;
  const plan = (p: ConvPlan): number => {
    if (p !== planned) {
      const fields = [...p.inExt, ...p.kExt, ...p.outExt, ...p.stride, ...p.dilation, ...p.padBefore, ...p.xSpatial, p.xC, p.cinG, p.rowPerChannel, p.rowPerOffset, PADDING_MODES.indexOf(p.paddingMode)];
      new Int32Array(memory.buffer, planAt, fields.length).set(fields);
      planned = p;
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
        m, n, k,
        address(a.data, a.offset), a.rowStride, a.colStride,
        address(b.data, b.offset), b.rowStride, b.colStride,
        address(c, cOffset), ldc, accumulate, work,
      );
    },
    im2col(p, x, image, group, p0, p1, cols) {
      if (!int32Coordinates(p)) return im2col(p, x, image, group, p0, p1, cols);
      im2colKernel(plan(p), address(x, image), group, p0, p1, address(cols.data, cols.offset), cols.rowStride);
    },
    col2im(p, dcols, image, group, p0, p1, dx) {
      if (!int32Coordinates(p)) return col2im(p, dcols, image, group, p0, p1, dx);
      col2imKernel(plan(p), address(dcols.data, dcols.offset), dcols.rowStride, group, p0, p1, address(dx, image));
    },
    direct: {
      padZeros: (src, srcAt, xp, inExt, padBefore, d) => exports.padZeros(address(src, srcAt), address(xp, 0), ...inExt, ...d.span, ...padBefore),
      unpadZeros: (xp, dst, dstAt, inExt, padBefore, d) => exports.unpadZeros(address(xp, 0), address(dst, dstAt), ...inExt, ...d.span, ...padBefore),
      forward: (xp, wk, bias, out, outAt, d) => exports.directForward(address(xp, 0), address(wk, 0), bias, address(out, outAt), ...dims(d)),
      gradInput: (dy, dyAt, wk, dxp, d) => exports.directGradInput(address(dy, dyAt), address(wk, 0), address(dxp, 0), ...dims(d)),
      gradWeight: (dy, dyAt, xp, dwk, dwkAt, d) => exports.directGradWeight(address(dy, dyAt), address(xp, 0), address(dwk, dwkAt), ...dims(d)),
    },
  };
  // float64: the depthwise kernels have no WebAssembly twin; the TypeScript loops run on the same buffers.
  return float64 ? { ...engine, direct: tsDirect } : engine;
}
