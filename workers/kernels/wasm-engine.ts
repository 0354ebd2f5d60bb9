/**
 * The WebAssembly SIMD engine (float32): loads dist/workers/wasm/kernels.wasm (built from workers/wasm/), lays the conv tile
 * buffers out in its memory and calls its GEMM with byte pointers. See engine.ts.
 */
import { readFileSync } from 'node:fs';
import type { Real } from '../../src/conv/types.js';
import type { KernelEngine } from './engine.js';
import type { DirectDims } from './direct.js';
import type { MatrixView } from './gemm.js';

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
  padZeros(src: number, xp: number, ...dims: number[]): void;
  directForward: DirectExport;
  directGradInput: DirectExport;
  directGradWeight: DirectExport;
}

/** (three volume pointers, span H and W, out D H W, k D H W, stride D H W, dilation D H W) */
type DirectExport = (a: number, b: number, c: number, ...dims: number[]) => void;

const WASM_FILE = new URL('../wasm/kernels.wasm', import.meta.url);
const PAGE = 65536;
const ALIGN = 64;
const alignUp = (v: number) => Math.ceil(v / ALIGN) * ALIGN;

let engine: KernelEngine | null | undefined;

/** The wasm engine, or null when the module is missing or this runtime lacks SIMD. */
export function wasmEngine(): KernelEngine | null {
  if (engine === undefined) engine = load();
  return engine;
}

function load(): KernelEngine | null {
  let exports: SgemmExports;
  try {
    const module = new WebAssembly.Module(readFileSync(WASM_FILE));
    const abort = () => {
      throw new Error('sgemm.wasm aborted');
    };
    exports = new WebAssembly.Instance(module, { env: { abort } }).exports as unknown as SgemmExports;
  } catch {
    return null;
  }
  const { memory, sgemm } = exports;
  const work = alignUp(exports.heapBase());
  const buffersStart = alignUp(work + (exports.WORK_BYTES.value as number));

  /** Byte address of element `offset` of a Float32Array view into this memory. */
  const address = (data: Real, offset: number): number => {
    if (data.buffer !== memory.buffer || !(data instanceof Float32Array)) {
      throw new TypeError('the wasm engine reads only float32 buffers it allocated; stage the operand first');
    }
    return data.byteOffset + offset * 4;
  };

  const dims = (d: DirectDims): number[] => [d.span[1], d.span[2], ...d.out, ...d.k, ...d.stride, ...d.dilation];

  return {
    name: 'wasm',
    elementBytes: 4,
    gemmScratchBytes: exports.WORK_BYTES.value as number,
    buffers<K extends string>(lengths: Record<K, number>): Record<K, Real> {
      const offsets = {} as Record<K, number>;
      let end = buffersStart;
      for (const key in lengths) {
        offsets[key] = end;
        end = alignUp(end + lengths[key] * 4);
      }
      if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      const out = {} as Record<K, Real>;
      for (const key in lengths) out[key] = new Float32Array(memory.buffer, offsets[key], lengths[key]);
      return out;
    },
    reads: (data) => data.buffer === memory.buffer,
    gemm(m, n, k, a: MatrixView, b: MatrixView, c, cOffset, ldc, accumulate) {
      if (m === 0 || n === 0) return;
      sgemm(
        m, n, k,
        address(a.data, a.offset), a.rowStride, a.colStride,
        address(b.data, b.offset), b.rowStride, b.colStride,
        address(c, cOffset), ldc, accumulate, work,
      );
    },
    direct: {
      padZeros: (plane, xp, inExt, padBefore, d) => exports.padZeros(address(plane, 0), address(xp, 0), ...inExt, ...d.span, ...padBefore),
      forward: (xp, wk, out, d) => exports.directForward(address(xp, 0), address(wk, 0), address(out, 0), ...dims(d)),
      gradInput: (dy, wk, dxp, d) => exports.directGradInput(address(dy, 0), address(wk, 0), address(dxp, 0), ...dims(d)),
      gradWeight: (dy, xp, dwk, d) => exports.directGradWeight(address(dy, 0), address(xp, 0), address(dwk, 0), ...dims(d)),
    },
  };
}
