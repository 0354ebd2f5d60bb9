// AssemblyScript: direct 3-D correlation of one channel on a dense, already padded volume
// (the depthwise path; see workers/kernels/direct.ts for the TypeScript twin and the math).
// Volumes are row-major [D, H, W]; xp spans [spanD, spanH, spanW], out/dy [oD, oH, oW],
// taps wk [kD, kH, kW]. Output positions are vectorised four at a time along W when the W
// stride is 1; other strides run the same loops scalar.

import { madd } from './simd';

// @ts-ignore: decorator
@inline
function xIndex(spanH: i32, spanW: i32, a: i32, b: i32, c: i32): usize {
  return <usize>(((a * spanH + b) * spanW + c) * 4);
}

/** out[o] = sum over taps t of wk[t] * xp[o * stride + t * dilation], + bias. */
export function directForward(
  xp: usize, wk: usize, bias: f32, out: usize, spanH: i32, spanW: i32,
  oD: i32, oH: i32, oW: i32, kD: i32, kH: i32, kW: i32,
  sD: i32, sH: i32, sW: i32, dD: i32, dH: i32, dW: i32,
): void {
  const tapStep = <usize>(dW * 4);
  const b = f32x4.splat(bias);
  for (let od = 0; od < oD; od++) {
    for (let oh = 0; oh < oH; oh++) {
      const orow = out + <usize>(((od * oH + oh) * oW) * 4);
      // The padded input row that tap row (kd, kh) = (0, 0) reads for this output row.
      const row0 = xp + xIndex(spanH, spanW, od * sD, oh * sH, 0);
      let ow = 0;
      if (sW == 1) {
        // Sixteen, then eight outputs at a time: each tap's weight is broadcast once for four
        // (two) vectors.
        for (; ow + 16 <= oW; ow += 16) {
          const zero = f32x4.splat(0);
          let v0 = zero, v1 = zero, v2 = zero, v3 = zero;
          let tap = wk;
          for (let kd = 0; kd < kD; kd++) {
            for (let kh = 0; kh < kH; kh++) {
              let x = row0 + xIndex(spanH, spanW, kd * dD, kh * dH, ow);
              for (let kw = 0; kw < kW; kw++) {
                const w = v128.load32_splat(tap);
                v0 = madd<f32>(w, v128.load(x), v0);
                v1 = madd<f32>(w, v128.load(x, 16), v1);
                v2 = madd<f32>(w, v128.load(x, 32), v2);
                v3 = madd<f32>(w, v128.load(x, 48), v3);
                tap += 4;
                x += tapStep;
              }
            }
          }
          const o = orow + <usize>(ow * 4);
          v128.store(o, f32x4.add(v0, b));
          v128.store(o, f32x4.add(v1, b), 16);
          v128.store(o, f32x4.add(v2, b), 32);
          v128.store(o, f32x4.add(v3, b), 48);
        }
        for (; ow + 8 <= oW; ow += 8) {
          let lo = f32x4.splat(0);
          let hi = f32x4.splat(0);
          let tap = wk;
          for (let kd = 0; kd < kD; kd++) {
            for (let kh = 0; kh < kH; kh++) {
              let x = row0 + xIndex(spanH, spanW, kd * dD, kh * dH, ow);
              for (let kw = 0; kw < kW; kw++) {
                const w = v128.load32_splat(tap);
                lo = madd<f32>(w, v128.load(x), lo);
                hi = madd<f32>(w, v128.load(x, 16), hi);
                tap += 4;
                x += tapStep;
              }
            }
          }
          v128.store(orow + <usize>(ow * 4), f32x4.add(lo, b));
          v128.store(orow + <usize>(ow * 4), f32x4.add(hi, b), 16);
        }
        for (; ow + 4 <= oW; ow += 4) {
          let acc = f32x4.splat(0);
          let tap = wk;
          for (let kd = 0; kd < kD; kd++) {
            for (let kh = 0; kh < kH; kh++) {
              let x = row0 + xIndex(spanH, spanW, kd * dD, kh * dH, ow);
              for (let kw = 0; kw < kW; kw++) {
                acc = madd<f32>(v128.load32_splat(tap), v128.load(x), acc);
                tap += 4;
                x += tapStep;
              }
            }
          }
          v128.store(orow + <usize>(ow * 4), f32x4.add(acc, b));
        }
      }
      for (; ow < oW; ow++) {
        let acc: f32 = 0;
        let tap = wk;
        for (let kd = 0; kd < kD; kd++) {
          for (let kh = 0; kh < kH; kh++) {
            let x = row0 + xIndex(spanH, spanW, kd * dD, kh * dH, ow * sW);
            for (let kw = 0; kw < kW; kw++) {
              acc += load<f32>(tap) * load<f32>(x);
              tap += 4;
              x += tapStep;
            }
          }
        }
        store<f32>(orow + <usize>(ow * 4), acc + bias);
      }
    }
  }
}

/** dxp[o * stride + t * dilation] += wk[t] * dy[o] (dxp zeroed by the caller). */
export function directGradInput(
  dy: usize, wk: usize, dxp: usize, spanH: i32, spanW: i32,
  oD: i32, oH: i32, oW: i32, kD: i32, kH: i32, kW: i32,
  sD: i32, sH: i32, sW: i32, dD: i32, dH: i32, dW: i32,
): void {
  for (let od = 0; od < oD; od++) {
    for (let oh = 0; oh < oH; oh++) {
      const grow = dy + <usize>(((od * oH + oh) * oW) * 4);
      let tap = wk;
      for (let kd = 0; kd < kD; kd++) {
        for (let kh = 0; kh < kH; kh++) {
          const xrow = dxp + xIndex(spanH, spanW, od * sD + kd * dD, oh * sH + kh * dH, 0);
          for (let kw = 0; kw < kW; kw++) {
            const w = load<f32>(tap);
            const base = xrow + <usize>(kw * dW * 4);
            let ow = 0;
            if (sW == 1) {
              const wv = f32x4.splat(w);
              for (; ow + 4 <= oW; ow += 4) {
                const at = base + <usize>(ow * 4);
                v128.store(at, madd<f32>(wv, v128.load(grow + <usize>(ow * 4)), v128.load(at)));
              }
            }
            for (; ow < oW; ow++) {
              const at = base + <usize>(ow * sW * 4);
              store<f32>(at, load<f32>(at) + w * load<f32>(grow + <usize>(ow * 4)));
            }
            tap += 4;
          }
        }
      }
    }
  }
}

/** dwk[t] += sum over o of dy[o] * xp[o * stride + t * dilation]. */
export function directGradWeight(
  dy: usize, xp: usize, dwk: usize, spanH: i32, spanW: i32,
  oD: i32, oH: i32, oW: i32, kD: i32, kH: i32, kW: i32,
  sD: i32, sH: i32, sW: i32, dD: i32, dH: i32, dW: i32,
): void {
  let tap = dwk;
  for (let kd = 0; kd < kD; kd++) {
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        let accv = f32x4.splat(0);
        let acc: f32 = 0;
        for (let od = 0; od < oD; od++) {
          for (let oh = 0; oh < oH; oh++) {
            const grow = dy + <usize>(((od * oH + oh) * oW) * 4);
            const xrow = xp + xIndex(spanH, spanW, od * sD + kd * dD, oh * sH + kh * dH, kw * dW);
            let ow = 0;
            if (sW == 1) {
              for (; ow + 4 <= oW; ow += 4) {
                accv = madd<f32>(v128.load(grow + <usize>(ow * 4)), v128.load(xrow + <usize>(ow * 4)), accv);
              }
            }
            for (; ow < oW; ow++) acc += load<f32>(grow + <usize>(ow * 4)) * load<f32>(xrow + <usize>(ow * sW * 4));
          }
        }
        acc += f32x4.extract_lane(accv, 0) + f32x4.extract_lane(accv, 1) + f32x4.extract_lane(accv, 2) + f32x4.extract_lane(accv, 3);
        store<f32>(tap, load<f32>(tap) + acc);
        tap += 4;
      }
    }
  }
}

/**
 * xp = the dense input volume `src` [inD, inH, inW] inside a zero border: xp[a, b, c] =
 * src[a - padD, b - padH, c - padW] where that is inside the input, else 0 (zeros padding).
 * xp spans [spanD, spanH, spanW]; pads may cut the input short at the far end.
 */
export function padZeros(
  src: usize, xp: usize, inD: i32, inH: i32, inW: i32,
  spanD: i32, spanH: i32, spanW: i32, padD: i32, padH: i32, padW: i32,
): void {
  memory.fill(xp, 0, <usize>(spanD * spanH * spanW * 4));
  const w0 = max(padW, 0);
  const w1 = min(spanW, padW + inW);
  if (w1 <= w0) return;
  const bytes = <usize>((w1 - w0) * 4);
  for (let a = max(padD, 0); a < min(spanD, padD + inD); a++) {
    for (let b = max(padH, 0); b < min(spanH, padH + inH); b++) {
      memory.copy(xIndex(spanH, spanW, a, b, w0) + xp, src + <usize>((((a - padD) * inH + (b - padH)) * inW + (w0 - padW)) * 4), bytes);
    }
  }
}

/**
 * dst [inD, inH, inW] += the input-sized interior of the padded volume xp: the adjoint of
 * padZeros (gradient that reached padding positions is dropped, as zeros padding reads none).
 */
export function unpadZeros(
  xp: usize, dst: usize, inD: i32, inH: i32, inW: i32,
  spanD: i32, spanH: i32, spanW: i32, padD: i32, padH: i32, padW: i32,
): void {
  const w0 = max(padW, 0);
  const w1 = min(spanW, padW + inW);
  if (w1 <= w0) return;
  const count = w1 - w0;
  for (let a = max(padD, 0); a < min(spanD, padD + inD); a++) {
    for (let b = max(padH, 0); b < min(spanH, padH + inH); b++) {
      const from = xIndex(spanH, spanW, a, b, w0) + xp;
      const to = dst + <usize>((((a - padD) * inH + (b - padH)) * inW + (w0 - padW)) * 4);
      let i = 0;
      for (; i + 4 <= count; i += 4) {
        const at = <usize>(i * 4);
        v128.store(to + at, f32x4.add(v128.load(to + at), v128.load(from + at)));
      }
      for (; i < count; i++) {
        const at = <usize>(i * 4);
        store<f32>(to + at, load<f32>(to + at) + load<f32>(from + at));
      }
    }
  }
}
