/**
 * Direct 3-D correlation of one channel on a dense, already padded volume: the depthwise path
 * (C_in / groups = 1), where a GEMM would have one row and a handful of columns.
 *
 * With xp the padded input volume (padding applied by index mapping when it is staged, see
 * depthwise.ts), taps t = (kd, kh, kw) and output positions o = (od, oh, ow):
 *   forward      out[o]                      = sum_t wk[t] * xp[o * stride + t * dilation] + bias
 *   grad_input   dxp[o * stride + t * dil]  += wk[t] * dy[o]         (adjoint of forward in xp)
 *   grad_weight  dwk[t]                     += sum_o dy[o] * xp[o * stride + t * dilation]
 * Volumes are row-major [D, H, W]; out, dy and dwk start at an element offset of their array
 * (the plane of one channel inside a staged image, the taps of one channel). These TypeScript loops are the reference twins of the
 * WebAssembly SIMD ones in workers/wasm/direct.ts; the engine picks one (workers/engines/).
 */
import type { Real } from '../../src/shared/tensor.js';

/** Extents of one direct correlation: padded input span, output, taps, stride, dilation. */
export interface DirectDims {
  span: [number, number, number];
  out: [number, number, number];
  k: [number, number, number];
  stride: [number, number, number];
  dilation: [number, number, number];
}

export interface DirectKernels {
  /**
   * xp = the plane at src[srcAt..] (one channel, dense [inD, inH, inW]) inside a zero border:
   * the staging of zeros padding, one copy per row (other padding modes are staged line by
   * line, depthwise.ts).
   */
  padZeros(
    src: Real,
    srcAt: number,
    xp: Real,
    inExt: readonly number[],
    padBefore: readonly number[],
    d: DirectDims,
  ): void;
  /** The plane at dst[dstAt..] += the input-sized interior of xp: the adjoint of padZeros. */
  unpadZeros(
    xp: Real,
    dst: Real,
    dstAt: number,
    inExt: readonly number[],
    padBefore: readonly number[],
    d: DirectDims,
  ): void;
  forward(xp: Real, wk: Real, bias: number, out: Real, outAt: number, d: DirectDims): void;
  gradInput(dy: Real, dyAt: number, wk: Real, dxp: Real, d: DirectDims): void;
  gradWeight(dy: Real, dyAt: number, xp: Real, dwk: Real, dwkAt: number, d: DirectDims): void;
}

/**
 * Calls visit(o, x, t) once per (output row, tap): o is the flat index of the row's first
 * output in out/dy, x that of the input element it meets through tap t in xp/dxp; along the
 * row, output o + i meets input x + i * stride W. The kernels' inner loops run along the row.
 */
function forEachTapRow(d: DirectDims, visit: (o: number, x: number, t: number) => void): void {
  const [, spanH, spanW] = d.span;
  const [oD, oH, oW] = d.out;
  const [kD, kH, kW] = d.k;
  const [sD, sH] = d.stride;
  const [dD, dH, dW] = d.dilation;
  for (let od = 0, o = 0; od < oD; od++) {
    for (let oh = 0; oh < oH; oh++, o += oW) {
      for (let kd = 0, t = 0; kd < kD; kd++) {
        for (let kh = 0; kh < kH; kh++) {
          const row = ((od * sD + kd * dD) * spanH + oh * sH + kh * dH) * spanW;
          for (let kw = 0; kw < kW; kw++, t++) visit(o, row + kw * dW, t);
        }
      }
    }
  }
}

export const tsDirect: DirectKernels = {
  padZeros(src, srcAt, xp, [inD, inH, inW], [padD, padH, padW], d) {
    const [spanD, spanH, spanW] = d.span;
    xp.fill(0, 0, spanD * spanH * spanW);
    const w0 = Math.max(padW, 0);
    const w1 = Math.min(spanW, padW + inW);
    if (w1 <= w0) return;
    for (let a = Math.max(padD, 0); a < Math.min(spanD, padD + inD); a++) {
      for (let b = Math.max(padH, 0); b < Math.min(spanH, padH + inH); b++) {
        const from = srcAt + ((a - padD) * inH + (b - padH)) * inW + (w0 - padW);
        xp.set(src.subarray(from, from + w1 - w0), (a * spanH + b) * spanW + w0);
      }
    }
  },
  unpadZeros(xp, dst, dstAt, [inD, inH, inW], [padD, padH, padW], d) {
    const [spanD, spanH, spanW] = d.span;
    const w0 = Math.max(padW, 0);
    const w1 = Math.min(spanW, padW + inW);
    for (let a = Math.max(padD, 0); a < Math.min(spanD, padD + inD); a++) {
      for (let b = Math.max(padH, 0); b < Math.min(spanH, padH + inH); b++) {
        const to = dstAt + ((a - padD) * inH + (b - padH)) * inW - padW;
        for (let w = w0, from = (a * spanH + b) * spanW; w < w1; w++) dst[to + w] += xp[from + w];
      }
    }
  },
  forward(xp, wk, bias, out, outAt, d) {
    const [oW, sW] = [d.out[2], d.stride[2]];
    const end = outAt + d.out[0] * d.out[1] * oW;
    out.fill(0, outAt, end);
    forEachTapRow(d, (o, x, t) => {
      const w = wk[t];
      for (let i = outAt + o, e = i + oW; i < e; i++, x += sW) out[i] += w * xp[x];
    });
    if (bias !== 0) for (let i = outAt; i < end; i++) out[i] += bias;
  },
  gradInput(dy, dyAt, wk, dxp, d) {
    const [oW, sW] = [d.out[2], d.stride[2]];
    forEachTapRow(d, (o, x, t) => {
      const w = wk[t];
      for (let i = dyAt + o, e = i + oW; i < e; i++, x += sW) dxp[x] += w * dy[i];
    });
  },
  gradWeight(dy, dyAt, xp, dwk, dwkAt, d) {
    const [oW, sW] = [d.out[2], d.stride[2]];
    forEachTapRow(d, (o, x, t) => {
      let sum = 0;
      for (let i = dyAt + o, e = i + oW; i < e; i++, x += sW) sum += dy[i] * xp[x];
      dwk[dwkAt + t] += sum;
    });
  },
};
