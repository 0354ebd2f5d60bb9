/**
 * A ConvGeometry lowered to what the loops need: every convolution becomes a 3-D one (1-D and
 * 2-D get leading spatial dims of extent 1), and both layouts become element strides, so one
 * code path serves conv1d/2d/3d in channels_first and channels_last without transposing.
 *
 * The im2col matrix of one group has K = (C_in / groups) * kD * kH * kW rows. Its row order
 * follows the weight's memory order so that the weight is a plain strided matrix W[co, row]:
 *   channels_first weight [C_out, C_in/g, kD, kH, kW]: row = ci * kSize + kOff  (W row stride K, col stride 1)
 *   channels_last  weight [kD, kH, kW, C_in/g, C_out]: row = kOff * C_in/g + ci (W row stride 1, col stride C_out)
 * with kOff = (kd * kH + kh) * kW + kw.
 */
import type { PaddingMode } from '../../src/shared/geometry/common.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import type { MatrixView } from './gemm.js';

/** The lowered convolution (what the wasm kernels read as their int32 plan record, engines/wasm.ts). */
export interface ConvDims {
  paddingMode: PaddingMode;
  /** The images this call computes: n in [batchStart, batchEnd). */
  batchStart: number;
  batchEnd: number;
  groups: number;
  cinG: number;
  coutG: number;
  /** Spatial extents, kernel, output, stride, dilation, padding-before; index 0 = D, 1 = H, 2 = W. */
  inExt: [number, number, number];
  kExt: [number, number, number];
  outExt: [number, number, number];
  stride: [number, number, number];
  dilation: [number, number, number];
  padBefore: [number, number, number];
  /** Output positions per image and kernel offsets per channel. */
  positions: number;
  kSize: number;
  /** im2col rows per group. */
  K: number;
  /** Input element strides: batch, channel, D, H, W. */
  xN: number;
  xC: number;
  xSpatial: [number, number, number];
  /** Output element strides: batch, channel, flattened output position. */
  yN: number;
  yC: number;
  yP: number;
  /** im2col row index = ci * rowPerChannel + kOff * rowPerOffset. */
  rowPerChannel: number;
  rowPerOffset: number;
  /** Weight as W[co, row] over all C_out: element offset co * wCo + row * wRow. */
  wCo: number;
  wRow: number;
}

export function to3(v: number[], fill: number): [number, number, number] {
  const padded = [...Array<number>(3 - v.length).fill(fill), ...v];
  return [padded[0], padded[1], padded[2]];
}

export function lowerConv(g: ConvGeometry, batch: BatchRange = [0, g.batch]): ConvDims {
  const [batchStart, batchEnd] = batch;
  if (!(
    Number.isInteger(batchStart) &&
    Number.isInteger(batchEnd) &&
    0 <= batchStart &&
    batchStart <= batchEnd &&
    batchEnd <= g.batch
  )) {
    throw new RangeError(`batch range [${batchStart}, ${batchEnd}) is not within the ${g.batch} images`);
  }
  const cinG = g.inChannels / g.groups;
  const coutG = g.outChannels / g.groups;
  const inExt = to3(g.inSpatial, 1);
  const kExt = to3(g.kernel, 1);
  const outExt = to3(g.outSpatial, 1);
  const inSize = inExt[0] * inExt[1] * inExt[2];
  const positions = outExt[0] * outExt[1] * outExt[2];
  const kSize = kExt[0] * kExt[1] * kExt[2];
  const K = cinG * kSize;
  const channelsLast = g.layout === 'channels_last';
  const c = g.inChannels;
  return {
    paddingMode: g.paddingMode,
    batchStart,
    batchEnd,
    groups: g.groups,
    cinG,
    coutG,
    inExt,
    kExt,
    outExt,
    stride: to3(g.stride, 1),
    dilation: to3(g.dilation, 1),
    padBefore: to3(g.padBefore, 0),
    positions,
    kSize,
    K,
    xN: c * inSize,
    xC: channelsLast ? 1 : inSize,
    xSpatial: channelsLast ? [inExt[1] * inExt[2] * c, inExt[2] * c, c] : [inExt[1] * inExt[2], inExt[2], 1],
    yN: g.outChannels * positions,
    yC: channelsLast ? 1 : positions,
    yP: channelsLast ? g.outChannels : 1,
    rowPerChannel: channelsLast ? 1 : kSize,
    rowPerOffset: channelsLast ? cinG : 1,
    wCo: channelsLast ? 1 : K,
    wRow: channelsLast ? g.outChannels : 1,
  };
}

/** Group g's weight as the GEMM matrix W_g [C_out/groups × K]. */
export function weightMatrix(p: ConvDims, w: Real, group: number): MatrixView {
  return { data: w, offset: group * p.coutG * p.wCo, rowStride: p.wCo, colStride: p.wRow };
}

/** Group g's weight transposed, W_g^T [K × C_out/groups]. */
export function weightMatrixT(p: ConvDims, w: Real, group: number): MatrixView {
  return { data: w, offset: group * p.coutG * p.wCo, rowStride: p.wRow, colStride: p.wCo };
}

/** Output-shaped tensor (y or dy) of image n, group g, positions from p0: [C_out/groups × positions]. */
export function outputMatrix(p: ConvDims, y: Real, n: number, group: number, p0: number): MatrixView {
  return { data: y, offset: n * p.yN + group * p.coutG * p.yC + p0 * p.yP, rowStride: p.yC, colStride: p.yP };
}
