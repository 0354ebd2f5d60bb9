/**
 * Transposed convolution (PyTorch conv_transpose{1,2,3}d forward) as the grad_input pass of
 * the forward convolution with the same parameters (src/shared/geometry/transpose.ts builds its
 * geometry): the transposed convolution's input plays that convolution's grad_output, its
 * weight is that convolution's weight as it is, and grad_input (col2im(W^T · dY) per image
 * and group, or the direct depthwise kernels, on the chosen engine) is the output. The bias is
 * then added per output channel.
 */
import type { BatchRange, Real } from '../../src/shared/tensor.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import { convBackward } from './conv.js';
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

/** y[n, c, ...] += bias[c] over the images of `batch`, y shaped like g.inputShape. */
function addChannelBias(g: ConvGeometry, y: Real, bias: Real, [start, end]: BatchRange): void {
  const channels = g.inChannels;
  let spatial = 1;
  for (const e of g.inSpatial) spatial *= e;
  if (g.layout === 'channels_first') {
    for (let n = start; n < end; n++) {
      for (let c = 0; c < channels; c++) {
        const b = bias[c];
        for (let i = (n * channels + c) * spatial, e = i + spatial; i < e; i++) y[i] += b;
      }
    }
  } else {
    for (let i = start * spatial * channels, e = end * spatial * channels; i < e; i += channels) {
      for (let c = 0; c < channels; c++) y[i + c] += bias[c];
    }
  }
}
