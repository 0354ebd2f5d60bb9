/**
 * Depthwise convolution (C_in / groups = 1, any channel multiplier) without im2col: for each
 * image and input channel, the padded input volume is staged once (padding by index mapping,
 * any layout and padding mode, see im2col.ts), then the engine's direct correlation
 * (direct.ts) runs once per output channel of that group. grad_input folds the padded
 * gradient back onto the input positions each padded position copies (scatterLine), the
 * adjoint of the staging.
 *
 * Memory: the staged volumes (padded span, its gradient, one image of the input and of the
 * output on an engine that stages them) must fit the tile budget; the plan (plan.ts) chooses
 * this algorithm only then, and sizes its buffers.
 */
import type { Real } from '../../src/shared/tensor.js';
import type { KernelEngine } from '../engines/engine.js';
import { copyStrided } from './copy.js';
import type { DirectDims } from './direct.js';
import { gatherLine, scatterLine, sourceIndex, type Line } from './im2col.js';
import type { ConvDims } from './lowering.js';
import { densePlanes, volume, type ConvPlan } from './plan.js';
import { imagesOf, writeBack, type Images } from './staging.js';

/** Calls visit(line, at) for each W line of the padded volume of the channel at `channel` of `x`. */
function forEachPaddedLine(
  p: ConvDims,
  d: DirectDims,
  channel: number,
  visit: (line: Line | null, at: number) => void,
): void {
  const [spanD, spanH, spanW] = d.span;
  const [inD, inH, inW] = p.inExt;
  const [padD, padH, padW] = p.padBefore;
  const [xD, xH, xW] = p.xSpatial;
  for (let a = 0; a < spanD; a++) {
    const sd = sourceIndex(a - padD, inD, p.paddingMode);
    for (let b = 0; b < spanH; b++) {
      const sh = sourceIndex(b - padH, inH, p.paddingMode);
      const at = (a * spanH + b) * spanW;
      if (sd < 0 || sh < 0) visit(null, at);
      else
        visit(
          {
            lineBase: channel + sd * xD + sh * xH,
            w0: -padW,
            step: 1,
            count: spanW,
            extent: inW,
            stride: xW,
            mode: p.paddingMode,
          },
          at,
        );
    }
  }
}

/**
 * Stages channel c of the image at xs as the padded volume xp. Zeros padding of a channel
 * stored densely (channels_first, or one channel) is the engine's padZeros (one copy per
 * row); every other case maps each padded line through the padding mode (gatherLine).
 */
function stagePadded(p: ConvDims, d: DirectDims, xs: Images, c: number, xp: Real, engine: KernelEngine): void {
  const channel = xs.at + c * p.xC;
  if (zerosDense(p)) {
    engine.direct.padZeros(xs.data, channel, xp, p.inExt, p.padBefore, d);
  } else {
    forEachPaddedLine(p, d, channel, (line, at) =>
      line ? gatherLine(xs.data, line, xp, at) : xp.fill(0, at, at + d.span[2]),
    );
  }
}

/** Whether a channel is stored densely (channels_first, or one channel) and padded with zeros: staged by padZeros. */
function zerosDense(p: ConvDims): boolean {
  const [, inH, inW] = p.inExt;
  return p.paddingMode === 'zeros' && p.xSpatial[2] === 1 && p.xSpatial[1] === inW && p.xSpatial[0] === inH * inW;
}

/**
 * Channel c of the image at dxs += the padded gradient dxp folded back: the adjoint of
 * stagePadded (unpadZeros, or each padded line scattered through the padding mode).
 */
function unstagePadded(p: ConvDims, d: DirectDims, dxp: Real, dxs: Images, c: number, engine: KernelEngine): void {
  const channel = dxs.at + c * p.xC;
  if (zerosDense(p)) engine.direct.unpadZeros(dxp, dxs.data, channel, p.inExt, p.padBefore, d);
  else forEachPaddedLine(p, d, channel, (line, at) => line && scatterLine(dxp, at, line, dxs.data));
}

/** Output channel co's taps, dense [kD, kH, kW], from the weight matrix W[co, row] (row = tap for C_in/groups = 1). */
function gatherTaps(p: ConvDims, w: Real, co: number, wk: Real): void {
  for (let t = 0; t < p.kSize; t++) wk[t] = w[co * p.wCo + t * p.rowPerOffset * p.wRow];
}

/** Output-shaped plane co of the image at ys as a dense [positions] array. */
function gatherPlane(p: ConvDims, ys: Images, co: number, out: Real): void {
  copyStrided(ys.data, ys.at + co * p.yC, p.yP, out, 0, 1, p.positions);
}

export function depthwiseForward(p: ConvPlan, x: Real, w: Real, bias: Real | null, y: Real): void {
  const { engine, direct: d } = p;
  const buf = engine.buffers(p.buffers.forward);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    const xs = imagesOf(engine, x, [n, n + 1], p.xN, buf.image);
    const ys = densePlanes(p) ? imagesOf(engine, y, [n, n + 1], p.yN, buf.out, false) : null;
    for (let c = 0; c < p.groups; c++) {
      stagePadded(p, d, xs, c, buf.xp, engine);
      for (let j = 0; j < p.coutG; j++) {
        const co = c * p.coutG + j;
        gatherTaps(p, w, co, buf.wk);
        const b = bias ? bias[co] : 0;
        if (ys) {
          engine.direct.forward(buf.xp, buf.wk, b, ys.data, ys.at + co * p.yC, d);
        } else {
          engine.direct.forward(buf.xp, buf.wk, b, buf.out, 0, d);
          copyStrided(buf.out, 0, 1, y, n * p.yN + co * p.yC, p.yP, p.positions);
        }
      }
    }
    if (ys) writeBack(ys, y, [n, n + 1], p.yN);
  }
}

export function depthwiseGradWeight(p: ConvPlan, x: Real, dy: Real, dw: Real): void {
  const { engine, direct: d } = p;
  const cout = p.groups * p.coutG;
  const buf = engine.buffers(p.buffers.gradWeight);
  buf.acc.fill(0, 0, cout * p.kSize);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    const xs = imagesOf(engine, x, [n, n + 1], p.xN, buf.image);
    const dys = densePlanes(p) ? imagesOf(engine, dy, [n, n + 1], p.yN, buf.dy) : { data: dy, at: n * p.yN };
    for (let c = 0; c < p.groups; c++) {
      stagePadded(p, d, xs, c, buf.xp, engine);
      for (let j = 0; j < p.coutG; j++) {
        const co = c * p.coutG + j;
        if (densePlanes(p)) {
          engine.direct.gradWeight(dys.data, dys.at + co * p.yC, buf.xp, buf.acc, co * p.kSize, d);
        } else {
          gatherPlane(p, dys, co, buf.dy);
          engine.direct.gradWeight(buf.dy, 0, buf.xp, buf.acc, co * p.kSize, d);
        }
      }
    }
  }
  for (let co = 0; co < cout; co++) {
    for (let t = 0; t < p.kSize; t++) dw[co * p.wCo + t * p.rowPerOffset * p.wRow] = buf.acc[co * p.kSize + t];
  }
}

export function depthwiseGradInput(p: ConvPlan, w: Real, dy: Real, dx: Real): void {
  const { engine, direct: d } = p;
  const buf = engine.buffers(p.buffers.gradInput);
  for (let n = p.batchStart; n < p.batchEnd; n++) {
    const dys = densePlanes(p) ? imagesOf(engine, dy, [n, n + 1], p.yN, buf.dy) : { data: dy, at: n * p.yN };
    const dxs = imagesOf(engine, dx, [n, n + 1], p.xN, buf.image, false);
    dxs.data.fill(0, dxs.at, dxs.at + p.xN);
    for (let c = 0; c < p.groups; c++) {
      buf.dxp.fill(0, 0, volume(d.span));
      for (let j = 0; j < p.coutG; j++) {
        const co = c * p.coutG + j;
        gatherTaps(p, w, co, buf.wk);
        if (densePlanes(p)) {
          engine.direct.gradInput(dys.data, dys.at + co * p.yC, buf.wk, buf.dxp, d);
        } else {
          gatherPlane(p, dys, co, buf.dy);
          engine.direct.gradInput(buf.dy, 0, buf.wk, buf.dxp, d);
        }
      }
      unstagePadded(p, d, buf.dxp, dxs, c, engine);
    }
    writeBack(dxs, dx, [n, n + 1], p.xN);
  }
}
