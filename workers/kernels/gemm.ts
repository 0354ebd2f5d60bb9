/**
 * GEMM: C (+)= A · B with A [m × k] and B [k × n] read through arbitrary row / column strides
 * (so transposes and layout changes cost nothing) and C a dense row-major Float64Array tile.
 *
 * Structure (Goto / BLIS): the k dimension is cut into KC-deep slices and n into NC-wide
 * blocks; each B block is packed into NR-wide column panels and each MC-tall A block into
 * MR-tall row panels, laid out in the order the micro-kernel reads them. The micro-kernel keeps
 * an MR × NR tile of C in 16 local variables and streams both panels sequentially.
 *
 * Numerics: packing widens float32 operands to float64 exactly, products and sums are float64,
 * and C is float64; the caller rounds once when it stores C into a float32 tensor. So a float32
 * convolution is accumulated in double precision and rounded once per output element.
 *
 * Monomorphism: the micro-kernel only ever sees Float64Arrays. The packing routines read the
 * callers' operands, which are Float32Array or Float64Array (two element kinds per load site).
 */
import type { Real } from '../../src/shared/tensor.js';
import { scratch } from './workspace.js';

/** A 2-D view into a typed array: element (i, j) is data[offset + i * rowStride + j * colStride]. */
export interface MatrixView {
  data: Real;
  offset: number;
  rowStride: number;
  colStride: number;
}

const MR = 4;
const NR = 4;
/** Depth of a packed slice: MR × KC of A (32 KiB) stays in L1/L2 while a panel of B streams. */
const KC = 256;
/** Rows of A packed at once: MC × KC × 8 = 256 KiB, an L2-sized block. */
const MC = 128;
/** Columns of B packed at once: KC × NC × 8 = 4 MiB, shared-cache sized. */
const NC = 2048;

/** Bytes of packing scratch the GEMM may hold (counted by the conv tile budget). */
export const GEMM_SCRATCH_BYTES = (MC * KC + KC * NC) * 8;

/** Scratch for a partial (edge) tile of the micro-kernel. */
const edgeTile = new Float64Array(MR * NR);

/**
 * C[i, j] = (accumulate ? C[i, j] : 0) + sum_l A[i, l] * B[l, j] for i < m, j < n, where
 * C[i, j] is c[cOffset + i * ldc + j].
 */
export function gemm(
  m: number,
  n: number,
  k: number,
  a: MatrixView,
  b: MatrixView,
  c: Float64Array,
  cOffset: number,
  ldc: number,
  accumulate: boolean,
): void {
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!accumulate) for (let i = 0; i < m; i++) c.fill(0, cOffset + i * ldc, cOffset + i * ldc + n);
    return;
  }
  const aPack = scratch('gemm.a', MC * KC);
  const bPack = scratch('gemm.b', KC * NC);
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packB(b, pc, jc, kc, nc, bPack);
      const add = accumulate || pc > 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        packA(a, ic, pc, mc, kc, aPack);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = Math.min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = Math.min(MR, mc - ir);
            const cIndex = cOffset + (ic + ir) * ldc + jc + jr;
            if (mr === MR && nr === NR) {
              microKernel(kc, aPack, ir * kc, bPack, jr * kc, c, cIndex, ldc, add);
            } else {
              // Edge tile: compute the full MR × NR into scratch, then add the valid part.
              microKernel(kc, aPack, ir * kc, bPack, jr * kc, edgeTile, 0, NR, false);
              for (let i = 0; i < mr; i++) {
                for (let j = 0; j < nr; j++) {
                  const t = edgeTile[i * NR + j];
                  c[cIndex + i * ldc + j] = add ? c[cIndex + i * ldc + j] + t : t;
                }
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Packs A[i0 .. i0+mc, p0 .. p0+kc] as MR-tall row panels: panel r holds, for each l, the MR
 * values A[i0 + r*MR .. + MR, p0 + l] contiguously; rows past mc are zero.
 */
function packA(a: MatrixView, i0: number, p0: number, mc: number, kc: number, out: Float64Array): void {
  const { data, rowStride, colStride } = a;
  for (let ir = 0; ir < mc; ir += MR) {
    const panel = ir * kc;
    for (let r = 0; r < MR; r++) {
      if (ir + r < mc) {
        let src = a.offset + (i0 + ir + r) * rowStride + p0 * colStride;
        for (let l = 0, dst = panel + r; l < kc; l++, dst += MR, src += colStride) out[dst] = data[src];
      } else {
        for (let l = 0, dst = panel + r; l < kc; l++, dst += MR) out[dst] = 0;
      }
    }
  }
}

/**
 * Packs B[p0 .. p0+kc, j0 .. j0+nc] as NR-wide column panels: panel q holds, for each l, the
 * NR values B[p0 + l, j0 + q*NR .. + NR] contiguously; columns past nc are zero.
 */
function packB(b: MatrixView, p0: number, j0: number, kc: number, nc: number, out: Float64Array): void {
  const { data, rowStride, colStride } = b;
  for (let jr = 0; jr < nc; jr += NR) {
    const panel = jr * kc;
    const width = Math.min(NR, nc - jr);
    for (let l = 0; l < kc; l++) {
      const src = b.offset + (p0 + l) * rowStride + (j0 + jr) * colStride;
      const dst = panel + l * NR;
      let j = 0;
      for (; j < width; j++) out[dst + j] = data[src + j * colStride];
      for (; j < NR; j++) out[dst + j] = 0;
    }
  }
}

/**
 * C[4 × 4 at cIndex, row stride ldc] (+)= Apanel (4 × kc) · Bpanel (kc × 4), accumulated in
 * 16 locals so the inner loop is 8 loads and 16 multiply-adds per step of k.
 */
function microKernel(
  kc: number,
  ap: Float64Array,
  ai: number,
  bp: Float64Array,
  bi: number,
  c: Float64Array,
  cIndex: number,
  ldc: number,
  accumulate: boolean,
): void {
  let c00 = 0,
    c01 = 0,
    c02 = 0,
    c03 = 0;
  let c10 = 0,
    c11 = 0,
    c12 = 0,
    c13 = 0;
  let c20 = 0,
    c21 = 0,
    c22 = 0,
    c23 = 0;
  let c30 = 0,
    c31 = 0,
    c32 = 0,
    c33 = 0;
  for (let l = 0; l < kc; l++, ai += MR, bi += NR) {
    const a0 = ap[ai],
      a1 = ap[ai + 1],
      a2 = ap[ai + 2],
      a3 = ap[ai + 3];
    const b0 = bp[bi],
      b1 = bp[bi + 1],
      b2 = bp[bi + 2],
      b3 = bp[bi + 3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c02 += a0 * b2;
    c03 += a0 * b3;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c12 += a1 * b2;
    c13 += a1 * b3;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c22 += a2 * b2;
    c23 += a2 * b3;
    c30 += a3 * b0;
    c31 += a3 * b1;
    c32 += a3 * b2;
    c33 += a3 * b3;
  }
  const r0 = cIndex,
    r1 = r0 + ldc,
    r2 = r1 + ldc,
    r3 = r2 + ldc;
  if (accumulate) {
    c[r0] += c00;
    c[r0 + 1] += c01;
    c[r0 + 2] += c02;
    c[r0 + 3] += c03;
    c[r1] += c10;
    c[r1 + 1] += c11;
    c[r1 + 2] += c12;
    c[r1 + 3] += c13;
    c[r2] += c20;
    c[r2 + 1] += c21;
    c[r2 + 2] += c22;
    c[r2 + 3] += c23;
    c[r3] += c30;
    c[r3 + 1] += c31;
    c[r3 + 2] += c32;
    c[r3 + 3] += c33;
  } else {
    c[r0] = c00;
    c[r0 + 1] = c01;
    c[r0 + 2] = c02;
    c[r0 + 3] = c03;
    c[r1] = c10;
    c[r1 + 1] = c11;
    c[r1 + 2] = c12;
    c[r1 + 3] = c13;
    c[r2] = c20;
    c[r2 + 1] = c21;
    c[r2 + 2] = c22;
    c[r2 + 3] = c23;
    c[r3] = c30;
    c[r3 + 1] = c31;
    c[r3 + 2] = c32;
    c[r3 + 3] = c33;
  }
}
