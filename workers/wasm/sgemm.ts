// AssemblyScript (compiled by `asc`, not tsc): single-precision GEMM with WebAssembly SIMD.
//
// C (+)= A · B for A [m × k] and B [k × n] read through element strides, C row-major with
// leading dimension ldc; all pointers are byte offsets into this module's memory, which the
// JavaScript side lays out (see workers/kernels/wasm-engine.ts).
//
// Same structure as the TypeScript GEMM (workers/kernels/gemm.ts): KC-deep slices of k,
// NC-wide blocks of B packed into NR-wide panels, MC-tall blocks of A packed into MR-tall panels.
// The micro-kernel holds a 6 × 8 tile of C in 12 v128 registers (f32x4), leaving 3 of the 16
// SSE/AVX registers V8 allocates for one B pair and one broadcast A value: per step of k it does
// 2 vector loads, 6 broadcast loads and 12 vector multiply-adds (96 flops; 12 FMA instructions in
// the relaxed-SIMD build, 12 multiplies + 12 adds in the plain one).
// Numerics: float32 products and sums, fused or not (see madd in simd.ts).

import { madd } from './simd';

const MR: i32 = 6;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 96;
const NC: i32 = 2048;

/** Bytes of scratch `sgemm` needs at `work`: packed A block, packed B block, one edge tile. */
export const WORK_BYTES: i32 = (MC * KC + KC * NC + MR * NR) * 4;

export function sgemm(
  m: i32, n: i32, k: i32,
  a: usize, aRs: i32, aCs: i32,
  b: usize, bRs: i32, bCs: i32,
  c: usize, ldc: i32, accumulate: bool, work: usize,
): void {
  const aPack = work;
  const bPack = work + <usize>(MC * KC * 4);
  const edge = bPack + <usize>(KC * NC * 4);
  if (k == 0) {
    if (!accumulate) for (let i = 0; i < m; i++) memory.fill(c + <usize>(i * ldc * 4), 0, <usize>(n * 4));
    return;
  }
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      packB(b, bRs, bCs, pc, jc, kc, nc, bPack);
      const add = accumulate || pc > 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        packA(a, aRs, aCs, ic, pc, mc, kc, aPack);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = bPack + <usize>(jr * kc * 4);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const ap = aPack + <usize>(ir * kc * 4);
            const cp = c + <usize>(((ic + ir) * ldc + jc + jr) * 4);
            if (mr == MR && nr == NR) {
              microKernel(kc, ap, bp, cp, ldc, add);
            } else {
              microKernel(kc, ap, bp, edge, NR, false);
              for (let i = 0; i < mr; i++) {
                for (let j = 0; j < nr; j++) {
                  const dst = cp + <usize>((i * ldc + j) * 4);
                  const t = load<f32>(edge + <usize>((i * NR + j) * 4));
                  store<f32>(dst, add ? load<f32>(dst) + t : t);
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
function packA(a: usize, rs: i32, cs: i32, i0: i32, p0: i32, mc: i32, kc: i32, out: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const panel = out + <usize>(ir * kc * 4);
    for (let r = 0; r < MR; r++) {
      let dst = panel + <usize>(r * 4);
      if (ir + r < mc) {
        let src = a + <usize>(((i0 + ir + r) * rs + p0 * cs) * 4);
        const step = <usize>(cs * 4);
        for (let l = 0; l < kc; l++) {
          store<f32>(dst, load<f32>(src));
          dst += MR * 4;
          src += step;
        }
      } else {
        for (let l = 0; l < kc; l++) {
          store<f32>(dst, 0);
          dst += MR * 4;
        }
      }
    }
  }
}

// B[p0.., j0..] as NR-wide panels: for each l, the NR values of row p0 + l; zero past nc.
function packB(b: usize, rs: i32, cs: i32, p0: i32, j0: i32, kc: i32, nc: i32, out: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const width = min(NR, nc - jr);
    let dst = out + <usize>(jr * kc * 4);
    let l = 0;
    if (rs == 1 && width == NR) {
      // B stored transposed (B^T row-major: grad_weight's im2col columns): four rows at a time,
      // each column's four values are one vector load, transposed in registers.
      const col = b + <usize>((p0 + (j0 + jr) * cs) * 4);
      const step = <usize>(cs * 4);
      for (; l + 4 <= kc; l += 4) {
        const src = col + <usize>(l * 4);
        transpose4(src, step, dst);
        transpose4(src + 4 * step, step, dst + 16);
        dst += 4 * NR * 4;
      }
    }
    for (; l < kc; l++) {
      const src = b + <usize>(((p0 + l) * rs + (j0 + jr) * cs) * 4);
      if (cs == 1 && width == NR) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
      } else {
        let j = 0;
        for (; j < width; j++) store<f32>(dst + <usize>(j * 4), load<f32>(src + <usize>(j * cs * 4)));
        for (; j < NR; j++) store<f32>(dst + <usize>(j * 4), 0);
      }
      dst += NR * 4;
    }
  }
}

// Four columns of four values (column c at src + c * step) stored as four rows of a panel:
// row t (at dst + t * NR * 4) gets value t of each column.
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
  v128.store(dst + NR * 4, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7));
  v128.store(dst + 2 * NR * 4, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5));
  v128.store(dst + 3 * NR * 4, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline
function row(cp: usize, lo: v128, hi: v128, add: bool): void {
  if (add) {
    v128.store(cp, f32x4.add(v128.load(cp), lo));
    v128.store(cp, f32x4.add(v128.load(cp, 16), hi), 16);
  } else {
    v128.store(cp, lo);
    v128.store(cp, hi, 16);
  }
}

function microKernel(kc: i32, ap: usize, bp: usize, cp: usize, ldc: i32, add: bool): void {
  let c0l = f32x4.splat(0), c0h = f32x4.splat(0);
  let c1l = f32x4.splat(0), c1h = f32x4.splat(0);
  let c2l = f32x4.splat(0), c2h = f32x4.splat(0);
  let c3l = f32x4.splat(0), c3h = f32x4.splat(0);
  let c4l = f32x4.splat(0), c4h = f32x4.splat(0);
  let c5l = f32x4.splat(0), c5h = f32x4.splat(0);
  for (let l = 0; l < kc; l++) {
    const bl = v128.load(bp);
    const bh = v128.load(bp, 16);
    let av = v128.load32_splat(ap);
    c0l = madd(av, bl, c0l); c0h = madd(av, bh, c0h);
    av = v128.load32_splat(ap, 4);
    c1l = madd(av, bl, c1l); c1h = madd(av, bh, c1h);
    av = v128.load32_splat(ap, 8);
    c2l = madd(av, bl, c2l); c2h = madd(av, bh, c2h);
    av = v128.load32_splat(ap, 12);
    c3l = madd(av, bl, c3l); c3h = madd(av, bh, c3h);
    av = v128.load32_splat(ap, 16);
    c4l = madd(av, bl, c4l); c4h = madd(av, bh, c4h);
    av = v128.load32_splat(ap, 20);
    c5l = madd(av, bl, c5l); c5h = madd(av, bh, c5h);
    ap += MR * 4;
    bp += NR * 4;
  }
  const ld = <usize>(ldc * 4);
  row(cp, c0l, c0h, add);
  row(cp + ld, c1l, c1h, add);
  row(cp + 2 * ld, c2l, c2h, add);
  row(cp + 3 * ld, c3l, c3h, add);
  row(cp + 4 * ld, c4l, c4h, add);
  row(cp + 5 * ld, c5l, c5h, add);
}

/** First byte free for the JavaScript side's buffers. */
export function heapBase(): usize {
  return __heap_base;
}
