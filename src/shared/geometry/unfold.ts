/**
 * unfold / fold geometry (PyTorch F.unfold / F.fold, generalised from 2-D to 1-D to 3-D as
 * the convolution is): unfold (im2col) copies every kernel window of an image into a column,
 * fold (col2im) adds columns back into an image, and each is the other's adjoint.
 *
 * Both resolve to the geometry of the one unfold they involve, a `ConvGeometry` whose
 * inputShape is the image ([N, C, *spatial] or [N, *spatial, C]) and whose outputShape is
 * the columns [N, C × prod(k), L]: row c × prod(k) + kernel offset (row-major over the kernel),
 * column = the block (window) index, row-major over the L = prod(blocks) blocks, with per
 * spatial dim
 *   blocks = floor((spatial + 2 × padding − dilation × (k − 1) − 1) / stride) + 1.
 * inChannels is C, outChannels the C × prod(k) rows, groups 1; there is no weight.
 * O(rank): no tensor data.
 */
import { computeDType, itemSize, numel, type DType, type TensorMeta } from '../tensor.js';
import {
  checkShape,
  GeometryError,
  openRequest,
  outputExtent,
  perDim,
  Problems,
  resolveLayout,
  type Layout,
  type LayoutName,
  type OperandShapes,
  TOUCH_FLOPS,
  type Work,
} from './common.js';
import type { ConvGeometry } from './conv.js';

/** The contract's unfold parameters, as received (defaults not yet applied). */
export interface UnfoldParams {
  kernel_size: number | number[];
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  layout?: LayoutName;
}

/** fold's: unfold's plus the image's spatial extents. */
export interface FoldParams extends UnfoldParams {
  output_size: number | number[];
}

interface Windows {
  kernel: number[];
  stride: number[];
  padding: number[];
  dilation: number[];
}

function windows(params: UnfoldParams, d: number, p: Problems, op: string): Windows {
  return {
    kernel: perDim('kernel_size', params.kernel_size, d, p, { op }),
    stride: perDim('stride', params.stride, d, p, { op }),
    padding: perDim('padding', params.padding, d, p, { min: 0, fallback: 0, op }),
    dilation: perDim('dilation', params.dilation, d, p, { op }),
  };
}

/** The blocks per spatial dim of an image of `spatial` extents; a problem at `path(i)` for a dim with none. */
function blocksOf(spatial: number[], w: Windows, p: Problems, path: (i: number) => string): number[] {
  return spatial.map((extent, i) => {
    const b = outputExtent(extent, w.kernel[i], w.stride[i], w.dilation[i], w.padding[i], w.padding[i]);
    if (b < 1) {
      const at = path(i);
      p.add(
        at,
        `${at} is ${extent} but ${extent} + 2 * padding ${w.padding[i]} is smaller than the dilated kernel ${w.dilation[i]} * (${w.kernel[i]} - 1) + 1 = ${w.dilation[i] * (w.kernel[i] - 1) + 1}: spatial dim ${i} has no block`,
      );
    }
    return b;
  });
}

function geometry(
  dtype: DType,
  layout: Layout,
  batch: number,
  channels: number,
  spatial: number[],
  w: Windows,
  blocks: number[],
): ConvGeometry {
  const rows = channels * numel(w.kernel);
  return {
    dtype,
    layout,
    paddingMode: 'zeros',
    batch,
    inChannels: channels,
    outChannels: rows,
    groups: 1,
    inSpatial: spatial,
    kernel: w.kernel,
    outSpatial: blocks,
    stride: w.stride,
    dilation: w.dilation,
    padBefore: [...w.padding],
    padAfter: [...w.padding],
    inputShape: layout === 'channels_last' ? [batch, ...spatial, channels] : [batch, channels, ...spatial],
    weightShape: [],
    outputShape: [batch, rows, numel(blocks)],
  };
}

/** Validates an unfold request (input: the image) and returns its geometry; throws GeometryError listing every problem. */
export function resolveUnfold(operands: { input: TensorMeta }, params: UnfoldParams): ConvGeometry {
  const p = new Problems();
  const { input } = operands;
  const { dtype, rank, shapesOk } = openRequest(p, operands, 'unfold', () => null);
  const d = rank - 2;
  const layout = resolveLayout(params.layout, rank, p);
  const w = windows(params, d, p, 'the unfold');
  if (!shapesOk || p.any) throw new GeometryError(p.list);
  const channelsLast = layout === 'channels_last';
  const channels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const spatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  const blocks = blocksOf(spatial, w, p, (i) => `input.shape[${channelsLast ? 1 + i : 2 + i}]`);
  if (p.any) throw new GeometryError(p.list);
  return geometry(dtype, layout, input.shape[0], channels, spatial, w, blocks);
}

/**
 * Validates a fold request (input: the columns [N, C × prod(k), L]) and returns the geometry of
 * the unfold it is the adjoint of. The number of spatial dims is output_size's length; an int
 * output_size is 2-D, as in PyTorch. Throws GeometryError listing every problem.
 */
export function resolveFold(operands: { input: TensorMeta }, params: FoldParams): ConvGeometry {
  const p = new Problems();
  const { input } = operands;
  if (input.shape.length !== 3) {
    p.add(
      'input.shape',
      `input.shape has rank ${input.shape.length} ([${input.shape.join(', ')}]); fold needs rank 3: [N, C * prod(kernel_size), L]`,
    );
    throw new GeometryError(p.list);
  }
  const shapesOk = checkShape('input', input.shape, p, { batch: true });
  const d = Array.isArray(params.output_size) ? params.output_size.length : 2;
  if (d < 1 || d > 3) p.add('output_size', `output_size has ${d} values; fold has 1, 2 or 3 spatial dims`);
  const op = 'the fold (output_size)';
  const outputSize = perDim('output_size', params.output_size, d, p, { op });
  const layout = resolveLayout(params.layout, d + 2, p);
  const w = windows(params, d, p, op);
  if (!shapesOk || p.any) throw new GeometryError(p.list);

  const [batch, rows, columns] = input.shape;
  const kernelSize = numel(w.kernel);
  if (rows % kernelSize !== 0) {
    p.add(
      'input.shape[1]',
      `input.shape[1] is ${rows} but must be C * prod(kernel_size) = C * ${kernelSize} for a channel count C`,
    );
  }
  const blocks = blocksOf(outputSize, w, p, (i) =>
    Array.isArray(params.output_size) ? `output_size[${i}]` : 'output_size',
  );
  if (!p.any && numel(blocks) !== columns) {
    p.add(
      'input.shape[2]',
      `input.shape[2] is ${columns} but output_size [${outputSize.join(', ')}] has ${blocks.join(' * ')} = ${numel(blocks)} blocks of kernel_size [${w.kernel.join(', ')}] (stride, padding and dilation as given)`,
    );
  }
  if (p.any) throw new GeometryError(p.list);
  return geometry(computeDType(input.dtype), layout, batch, rows / kernelSize, outputSize, w, blocks);
}

/** unfold's tensors: its input is the image, its output the columns. */
export function unfoldShapes(g: ConvGeometry): OperandShapes {
  return { input: g.inputShape, output: g.outputShape };
}

/** fold's tensors: its input is the columns, its output the image. */
export function foldShapes(g: ConvGeometry): OperandShapes {
  return { input: g.outputShape, output: g.inputShape };
}

/**
 * Work and output size of an unfold or a fold: one copy (unfold) or one addition (fold) per
 * element of the columns [N, C × prod(k), L], counted as one FLOP each; the output is the
 * columns for unfold, the image for fold.
 */
export function unfoldWork(g: ConvGeometry, op: 'unfold' | 'fold'): Work {
  const outputElements = numel(op === 'unfold' ? g.outputShape : g.inputShape);
  const flops = numel(g.outputShape);
  // memory-bound: each column element is a touch (a copy or an addition), not a GEMM FLOP
  return {
    flops,
    splitFlops: flops * TOUCH_FLOPS,
    outputElements,
    outputBytes: outputElements * itemSize(g.dtype),
    workspaceBytes: 0,
  };
}
