/**
 * A convolution's weight in the other layout family than its data's (weight_layout): the
 * kernels read the weight in the data layout's own order (lowering.ts), so a weight sent as
 * [C_out, C_in/groups, *k] beside channels_last data, or as [*k, C_in/groups, C_out] beside
 * channels_first data, is permuted to that order first, and grad_weight is permuted back.
 * Element (o, i, t) (t the flattened kernel offset) is at (o * I + i) * K + t in the OI* order
 * and at (t * I + i) * O + o in the *IO order; a copy of the weight, nothing else.
 */
import type { Layout } from '../../src/shared/geometry/common.js';
import type { ConvGeometry } from '../../src/shared/geometry/conv.js';
import { numel, type Real } from '../../src/shared/tensor.js';

/** Whether the weight travels in another layout family than the kernels read. */
const relaid = (g: ConvGeometry): g is ConvGeometry & { weightLayout: Layout } =>
  g.weightLayout !== undefined && g.weightLayout !== g.layout;

/** `from` (a weight in layout family `layout`) copied into `to` in the other family's order. */
function permute(g: ConvGeometry, from: Real, layout: Layout, to: Real): void {
  const O = g.outChannels;
  const I = g.inChannels / g.groups;
  const K = numel(g.kernel);
  const oiFirst = layout === 'channels_first';
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++)
      for (let t = 0; t < K; t++) {
        const oi = (o * I + i) * K + t;
        const io = (t * I + i) * O + o;
        to[oiFirst ? io : oi] = from[oiFirst ? oi : io];
      }
}

/** The weight in the order the kernels read: `w` itself, or its permuted copy. */
export function kernelWeight(g: ConvGeometry, w: Real): Real {
  if (!relaid(g)) return w;
  const copy = new (w.constructor as new (n: number) => Real)(w.length);
  permute(g, w, g.weightLayout, copy);
  return copy;
}

/**
 * Runs `compute` with where the kernels write grad_weight (`out` itself, or a buffer in their
 * order), then permutes that buffer into `out`, the request's weight_layout.
 */
export function inKernelWeightLayout(
  g: ConvGeometry,
  out: Real | undefined,
  compute: (dw: Real | undefined) => void,
): void {
  if (!out || !relaid(g)) return compute(out);
  const dw = new (out.constructor as new (n: number) => Real)(out.length);
  compute(dw);
  permute(g, dw, g.layout, out);
}
