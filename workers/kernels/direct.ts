/**
 * Direct 3-D correlation of one channel on a dense, already padded volume: the depthwise path
 * (C_in / groups = 1), where a GEMM would have one row and a handful of columns.
 *
 * With xp the padded input volume (padding applied by index mapping when it is staged, see
 * depthwise.ts), taps t = (kd, kh, kw) and output positions o = (od, oh, ow):
 *   forward      out[o]                      = sum_t wk[t] * xp[o * stride + t * dilation]
 *   grad_input   dxp[o * stride + t * dil]  += wk[t] * dy[o]         (adjoint of forward in xp)
 *   grad_weight  dwk[t]                     += sum_o dy[o] * xp[o * stride + t * dilation]
 * Volumes are row-major [D, H, W]. These TypeScript loops are the reference twins of the
 * WebAssembly SIMD ones in workers/wasm/direct.ts; the engine picks one (engine.ts).
 */
import type { Real } from '../../src/conv/types.js';

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
   * xp = `plane` (one channel, dense [inD, inH, inW]) inside a zero border: the staging of
   * zeros padding, one copy per row (other padding modes are staged line by line, depthwise.ts).
   */
  padZeros(plane: Real, xp: Real, inExt: readonly number[], padBefore: readonly number[], d: DirectDims): void;
  forward(xp: Real, wk: Real, out: Real, d: DirectDims): void;
  gradInput(dy: Real, wk: Real, dxp: Real, d: DirectDims): void;
  gradWeight(dy: Real, xp: Real, dwk: Real, d: DirectDims): void;
}

/**
 * Calls visit(o, x, t) for every (output position, input position, tap) triple of the
 * correlation, where o, x and t are flat indices into out/dy, xp/dxp and wk/dwk.
 */
function forEachTap(d: DirectDims, visit: (o: number, x: number, t: number) => void): void {
  const [, spanH, spanW] = d.span;
  const [oD, oH, oW] = d.out;
  const [kD, kH, kW] = d.k;
  const [sD, sH, sW] = d.stride;
  const [dD, dH, dW] = d.dilation;
  for (let od = 0, o = 0; od < oD; od++) {
    for (let oh = 0; oh < oH; oh++) {
      for (let ow = 0; ow < oW; ow++, o++) {
        for (let kd = 0, t = 0; kd < kD; kd++) {
          for (let kh = 0; kh < kH; kh++) {
            const row = ((od * sD + kd * dD) * spanH + oh * sH + kh * dH) * spanW + ow * sW;
            for (let kw = 0; kw < kW; kw++, t++) visit(o, row + kw * dW, t);
          }
        }
      }
    }
  }
}

export const tsDirect: DirectKernels = {
  padZeros(plane, xp, [inD, inH, inW], [padD, padH, padW], d) {
    const [spanD, spanH, spanW] = d.span;
    xp.fill(0, 0, spanD * spanH * spanW);
    const w0 = Math.max(padW, 0);
    const w1 = Math.min(spanW, padW + inW);
    if (w1 <= w0) return;
    for (let a = Math.max(padD, 0); a < Math.min(spanD, padD + inD); a++) {
      for (let b = Math.max(padH, 0); b < Math.min(spanH, padH + inH); b++) {
        const src = ((a - padD) * inH + (b - padH)) * inW + (w0 - padW);
        xp.set(plane.subarray(src, src + w1 - w0), (a * spanH + b) * spanW + w0);
      }
    }
  },
  forward(xp, wk, out, d) {
    out.fill(0, 0, d.out[0] * d.out[1] * d.out[2]);
    forEachTap(d, (o, x, t) => {
      out[o] += wk[t] * xp[x];
    });
  },
  gradInput(dy, wk, dxp, d) {
    forEachTap(d, (o, x, t) => {
      dxp[x] += wk[t] * dy[o];
    });
  },
  gradWeight(dy, xp, dwk, d) {
    forEachTap(d, (o, x, t) => {
      dwk[t] += dy[o] * xp[x];
    });
  },
};
