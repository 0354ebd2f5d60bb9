// AssemblyScript (compiled by `asc`, not tsc): GEMM with WebAssembly SIMD, single (sgemm) and
// double precision (dgemm) from one generic body.
//
// C (+)= A · B for A [m × k] and B [k × n] read through element strides, C row-major with
// leading dimension ldc; all pointers are byte offsets into this module's memory, which the
// JavaScript side lays out (see workers/engines/wasm.ts).
//
// Same structure as the TypeScript GEMM (workers/kernels/gemm.ts): KC-deep slices of k,
// NC-wide blocks of B packed into NR-wide panels, MC-tall blocks of A packed into MR-tall panels.
// The micro-kernel holds a 6-row tile of C, two vectors per row (6 × 8 float32 or 6 × 4 float64),
// in 12 v128 registers, leaving 3 of the 16 SSE/AVX registers V8 allocates for one B pair and one
// broadcast A value: per step of k it does 2 vector loads, 6 broadcast loads and 12 vector
// multiply-adds (96 flops in float32, 48 in float64; 12 FMA instructions in the relaxed-SIMD
// build, 12 multiplies + 12 adds in the plain one).
// Numerics: products and sums in the element type, fused or not (see madd in simd.ts).

import { madd } from './simd';

const MR: i32 = 6;
const KC: i32 = 256;
const MC: i32 = 96;
const NC: i32 = 2048;
/** Elements of T in one v128. */
// @ts-ignore: decorator
@inline
function lanes<T>(): i32 {
  return <i32>(16 / sizeof<T>());
}
/** Micro-tile width: two vectors. */
// @ts-ignore: decorator
@inline
function nr<T>(): i32 {
  return 2 * lanes<T>();
}

/** Bytes of scratch the GEMMs need at `work` (sized for float64): packed A block, packed B block, one edge tile. */
export const WORK_BYTES: i32 = (MC * KC + KC * NC + MR * 4) * 8;

/** C (+)= A · B in float32 (pointers to float32 elements). */
export function sgemm(
  m: i32, n: i32, k: i32,
  a: usize, aRs: i32, aCs: i32,
  b: usize, bRs: i32, bCs: i32,
  c: usize, ldc: i32, accumulate: bool, work: usize,
): void {
  gemm<f32>(m, n, k, a, aRs, aCs, b, bRs, bCs, c, ldc, accumulate, work);
}

/** C (+)= A · B in float64 (pointers to float64 elements). */
export function dgemm(
  m: i32, n: i32, k: i32,
  a: usize, aRs: i32, aCs: i32,
  b: usize, bRs: i32, bCs: i32,
  c: usize, ldc: i32, accumulate: bool, work: usize,
): void {
  gemm<f64>(m, n, k, a, aRs, aCs, b, bRs, bCs, c, ldc, accumulate, work);
}

// @ts-ignore: decorator
@inline
function gemm<T>(
  m: i32, n: i32, k: i32,
  a: usize, aRs: i32, aCs: i32,
  b: usize, bRs: i32, bCs: i32,
  c: usize, ldc: i32, accumulate: bool, work: usize,
): void {
  const E = <usize>sizeof<T>();
  const NR = nr<T>();
  const aPack = work;
  const bPack = work + <usize>(MC * KC) * E;
  const edge = bPack + <usize>(KC * NC) * E;
  if (k == 0) {
    if (!accumulate) for (let i = 0; i < m; i++) memory.fill(c + <usize>(i * ldc) * E, 0, <usize>n * E);
    return;
  }
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB<T>(b, bRs, bCs, pc, jc, kc, nc, bPack);
      const add = accumulate || pc > 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA<T>(a, aRs, aCs, ic, pc, mc, kc, aPack);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = bPack + <usize>(jr * kc) * E;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const ap = aPack + <usize>(ir * kc) * E;
            const cp = c + <usize>((ic + ir) * ldc + jc + jr) * E;
            if (mr == MR && nr == NR) {
              microKernel<T>(kc, ap, bp, cp, ldc, add);
            } else {
              microKernel<T>(kc, ap, bp, edge, NR, false);
              for (let i = 0; i < mr; i++) {
                for (let j = 0; j < nr; j++) {
                  const dst = cp + <usize>(i * ldc + j) * E;
                  const t = load<T>(edge + <usize>(i * NR + j) * E);
                  store<T>(dst, add ? load<T>(dst) + t : t);
                }
              }
            }
          }
        }
      }
    }
  }
}

// A[i0.., p0..] as MR-tall panels: for each l, the MR values of column p0 + l; zero past mc.
function packA<T>(a: usize, rs: i32, cs: i32, i0: i32, p0: i32, mc: i32, kc: i32, out: usize): void {
  const E = <usize>sizeof<T>();
  for (let ir = 0; ir < mc; ir += MR) {
    const panel = out + <usize>(ir * kc) * E;
    for (let r = 0; r < MR; r++) {
      let dst = panel + <usize>r * E;
      if (ir + r < mc) {
        let src = a + <usize>((i0 + ir + r) * rs + p0 * cs) * E;
        const step = <usize>cs * E;
        for (let l = 0; l < kc; l++) {
          store<T>(dst, load<T>(src));
          dst += <usize>MR * E;
          src += step;
        }
      } else {
        for (let l = 0; l < kc; l++) {
          store<T>(dst, 0);
          dst += <usize>MR * E;
        }
      }
    }
  }
}

// B[p0.., j0..] as NR-wide panels: for each l, the NR values of row p0 + l; zero past nc.
function packB<T>(b: usize, rs: i32, cs: i32, p0: i32, j0: i32, kc: i32, nc: i32, out: usize): void {
  const E = <usize>sizeof<T>();
  const NR = nr<T>();
  for (let jr = 0; jr < nc; jr += NR) {
    const width = min(NR, nc - jr);
    let dst = out + <usize>(jr * kc) * E;
    let l = 0;
    if (sizeof<T>() == 4 && rs == 1 && width == NR) {
      // float32 B stored transposed (B^T row-major: grad_weight's im2col columns): four rows at
      // a time, each column's four values are one vector load, transposed in registers.
      const col = b + <usize>(p0 + (j0 + jr) * cs) * E;
      const step = <usize>cs * E;
      for (; l + 4 <= kc; l += 4) {
        const src = col + <usize>l * E;
        transpose4(src, step, dst);
        transpose4(src + 4 * step, step, dst + 16);
        dst += <usize>(4 * NR) * E;
      }
    }
    for (; l < kc; l++) {
      const src = b + <usize>((p0 + l) * rs + (j0 + jr) * cs) * E;
      if (cs == 1 && width == NR) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
      } else {
        let j = 0;
        for (; j < width; j++) store<T>(dst + <usize>j * E, load<T>(src + <usize>(j * cs) * E));
        for (; j < NR; j++) store<T>(dst + <usize>j * E, 0);
      }
      dst += <usize>NR * E;
    }
  }
}

// Four float32 columns of four values (column c at src + c * step) stored as four rows of a
// panel: row t (at dst + t * 32 bytes) gets value t of each column.
// @ts-ignore: decorator
@inline
function transpose4(src: usize, step: usize, dst: usize): void {
  const c0 = v128.load(src);
  const c1 = v128.load(src + step);
  const c2 = v128.load(src + 2 * step);
  const c3 = v128.load(src + 3 * step);
  const lo01 = v128.shuffle<f32>(c0, c1, 0, 4, 1, 5);
  const hi01 = v128.shuffle<f32>(c0, c1, 2, 6, 3, 7);
  const lo23 = v128.shuffle<f32>(c2, c3, 0, 4, 1, 5);
  const hi23 = v128.shuffle<f32>(c2, c3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5));
  v128.store(dst + 32, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7));
  v128.store(dst + 64, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5));
  v128.store(dst + 96, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline
function row<T>(cp: usize, lo: v128, hi: v128, add: bool): void {
  if (add) {
    v128.store(cp, v128.add<T>(v128.load(cp), lo));
    v128.store(cp, v128.add<T>(v128.load(cp, 16), hi), 16);
  } else {
    v128.store(cp, lo);
    v128.store(cp, hi, 16);
  }
}

function microKernel<T>(kc: i32, ap: usize, bp: usize, cp: usize, ldc: i32, add: bool): void {
  const E = <usize>sizeof<T>();
  const zero = v128.splat<T>(0);
  let c0l = zero, c0h = zero;
  let c1l = zero, c1h = zero;
  let c2l = zero, c2h = zero;
  let c3l = zero, c3h = zero;
  let c4l = zero, c4h = zero;
  let c5l = zero, c5h = zero;
  for (let l = 0; l < kc; l++) {
    const bl = v128.load(bp);
    const bh = v128.load(bp, 16);
    let av = v128.load_splat<T>(ap);
    c0l = madd<T>(av, bl, c0l); c0h = madd<T>(av, bh, c0h);
    av = v128.load_splat<T>(ap, sizeof<T>());
    c1l = madd<T>(av, bl, c1l); c1h = madd<T>(av, bh, c1h);
    av = v128.load_splat<T>(ap, 2 * sizeof<T>());
    c2l = madd<T>(av, bl, c2l); c2h = madd<T>(av, bh, c2h);
    av = v128.load_splat<T>(ap, 3 * sizeof<T>());
    c3l = madd<T>(av, bl, c3l); c3h = madd<T>(av, bh, c3h);
    av = v128.load_splat<T>(ap, 4 * sizeof<T>());
    c4l = madd<T>(av, bl, c4l); c4h = madd<T>(av, bh, c4h);
    av = v128.load_splat<T>(ap, 5 * sizeof<T>());
    c5l = madd<T>(av, bl, c5l); c5h = madd<T>(av, bh, c5h);
    ap += <usize>MR * E;
    bp += 32;
  }
  const ld = <usize>ldc * E;
  row<T>(cp, c0l, c0h, add);
  row<T>(cp + ld, c1l, c1h, add);
  row<T>(cp + 2 * ld, c2l, c2h, add);
  row<T>(cp + 3 * ld, c3l, c3h, add);
  row<T>(cp + 4 * ld, c4l, c4h, add);
  row<T>(cp + 5 * ld, c5l, c5h, add);
}

/** First byte free for the JavaScript side's buffers. */
export function heapBase(): usize {
  return __heap_base;
}
