/**
 * Transposed convolution (PyTorch conv_transpose{1,2,3}d forward) as the grad_input pass of
 * the forward convolution with the same parameters (src/shared/geometry/transpose.ts builds its
 * geometry): the transposed convolution's input plays that convolution's grad_output, its
 * weight is that convolution's weight as it is, and grad_input (col2im(W^T · dY) per image
 * and group, or the direct depthwise kernels, on the chosen engine) is the output. The bias is
 * then added per output channel.
 *
 * Its backward is that convolution's other passes with the roles swapped. With C the
 * convolution (y = C(x', w) of an input x' shaped like the transposed output) and the
 * transposed convolution y = C^T_w(x) + b, for a loss with gradient dy w.r.t. y:
 *   grad_input  = C(dy, w)                   (C^T's adjoint is C: <C^T_w x, dy> = <x, C(dy, w)>)
 *   grad_weight = C's grad_weight at input dy and grad_output x (the same bilinear form read in w)
 *   grad_bias   = sum of dy over images and positions, per channel (the adjoint of adding b)
 */
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import { convBackward, convForward, type ConvGrads } from './conv.js';
import { engineFor, type KernelEngine } from '../engines/index.js';

/** grad_input never reads the forward input: nothing is passed in its place. */
const NO_INPUT = new Float64Array(0);

/**
 * y = conv_transpose(x, w) + bias, for the conv geometry `g` whose grad_input it is: x is
 * shaped like g.outputShape, y (preallocated, overwritten) like g.inputShape, w like
 * g.weightShape, bias [g.inChannels]. With a `batch` range only those images of y are written.
 */
export function convTranspose(
  g: ConvGeometry,
  x: Real,
  w: Real,
  bias: Real | null,
  y: Real,
  engine: KernelEngine = engineFor(g.dtype),
  batch?: BatchRange,
): void {
  convBackward(g, NO_INPUT, w, x, { input: y }, engine, batch);
  if (bias) addChannelBias(g, y, bias, batch ?? [0, g.batch]);
}

/**
 * The gradients of y = conv_transpose(x, w) + bias w.r.t. the operands present in `grads`
 * (preallocated and overwritten: grad_input shaped like x, grad_weight like w, grad_bias
 * [g.inChannels]), given dy shaped like y; see the identities above. With a `batch` range only
 * those images contribute (grad_input written for them, grad_weight and grad_bias partial sums).
 */
export function convTransposeBackward(
  g: ConvGeometry,
  x: Real,
  w: Real,
  dy: Real,
  grads: ConvGrads,
  engine: KernelEngine = engineFor(g.dtype),
  batch?: BatchRange,
): void {
  const range = batch ?? [0, g.batch];
  if (grads.input) convForward(g, dy, w, null, grads.input, engine, range);
  if (grads.weight) convBackward(g, dy, w, x, { weight: grads.weight }, engine, range);
  if (grads.bias) channelSums(g, dy, grads.bias, range);
}

/**
 * Calls `visit(c, start, end)` for each run [start, end) of elements of channel c of the images
 * of `batch` in a tensor shaped like g.inputShape (one run per image and channel channels_first,
 * one element per run channels_last).
 */
function forEachChannelRun(
  g: ConvGeometry,
  [first, last]: BatchRange,
  visit: (c: number, start: number, end: number) => void,
): void {
  const channels = g.inChannels;
  let spatial = 1;
  for (const e of g.inSpatial) spatial *= e;
  if (g.layout === 'channels_first') {
    for (let n = first; n < last; n++) {
      for (let c = 0; c < channels; c++) visit(c, (n * channels + c) * spatial, (n * channels + c + 1) * spatial);
    }
  } else {
    for (let i = first * spatial * channels, e = last * spatial * channels; i < e; i += channels) {
      for (let c = 0; c < channels; c++) visit(c, i + c, i + c + 1);
    }
  }
}

/** y[n, c, ...] += bias[c] over the images of `batch`, y shaped like g.inputShape. */
function addChannelBias(g: ConvGeometry, y: Real, bias: Real, batch: BatchRange): void {
  forEachChannelRun(g, batch, (c, start, end) => {
    const b = bias[c];
    for (let i = start; i < end; i++) y[i] += b;
  });
}

/** sums[c] = the sum of dy[n, c, ...] over the images of `batch`: the adjoint of addChannelBias. */
function channelSums(g: ConvGeometry, dy: Real, sums: Real, batch: BatchRange): void {
  const acc = new Float64Array(g.inChannels);
  forEachChannelRun(g, batch, (c, start, end) => {
    let s = 0;
    for (let i = start; i < end; i++) s += dy[i];
    acc[c] += s;
  });
  sums.set(acc);
}
