/**
 * Transposed convolution geometry (api-contract.md, "Transposed convolution"): PyTorch's
 * conv_transpose{1,2,3}d forward is the grad_input of the forward convolution with the same
 * weight, stride, padding, dilation and groups, whose *input* has the transposed
 * convolution's output extents and whose *output* is the transposed convolution's input.
 *
 * `resolveTranspose` validates a conv_transpose request (in its own field names) and returns
 * that convolution's `ConvGeometry`. The transposed weight layout is exactly the forward
 * weight layout of that convolution:
 *   channels_first  [C_in, C_out/groups, *k]  =  conv weight [conv C_out, conv C_in/groups, *k]
 *   channels_last   [*k, C_out/groups, C_in]  =  conv weight [*k, conv C_in/groups, conv C_out]
 * Per spatial dim, out = (in - 1) * stride - before - after + dilation * (k - 1) + output_padding + 1
 * (before = after = padding for PyTorch's int padding, ONNX's pads otherwise), and the
 * convolution pads `before` before and `after - output_padding` after (the last
 * output_padding positions are reached by no window; a negative "after" only trims), so that
 * its output extent is exactly `in`.
 *
 * Two ways to ask for an output extent instead (`transposePads`):
 *   - PyTorch's `output_size` with an int or per-side padding: the output_padding that makes it,
 *     out - min where min is the extent above without output_padding (ConvTranspose*d.forward).
 *   - ONNX's auto_pad, `"same"` (SAME_UPPER) or `"same_lower"`: the target is output_size when
 *     given (ONNX output_shape), else in * stride; the total padding
 *     full - target, full = (in - 1) * stride + dilation * (k - 1) + output_padding + 1, is split
 *     with the odd one after ("same") or before ("same_lower"). A target above full pads nothing
 *     and leaves zeros at the end, as onnxruntime does (ComputeTotalPad clamps at 0).
 * `"valid"` is padding 0. O(rank): no tensor data.
 */
import { itemSize, numel, type TensorMeta } from '../tensor.js';
import {
  checkGradOutput,
  GeometryError,
  isInt,
  layoutFamily,
  MAX_PARAM,
  openRequest,
  perDim,
  Problems,
  resolveLayout,
  resolves,
  type LayoutName,
  type OperandShapes,
  type Work,
} from './common.js';
import { convWork, explicitPadding, type ConvGeometry, type GradName, type Padding } from './conv.js';
import { batchHint, layoutHint } from './hints.js';

/** The contract's conv_transpose parameters, as received (defaults not yet applied). */
export interface TransposeParams {
  stride?: number | number[];
  /** An int or int[d] (PyTorch's, both sides), [before, after] per spatial dim (ONNX pads), or ONNX's auto_pad. */
  padding?: Padding;
  output_padding?: number | number[];
  /** The output's spatial extents (or its whole shape): PyTorch's output_size, ONNX's output_shape. */
  output_size?: number | number[];
  dilation?: number | number[];
  groups?: number;
  layout?: LayoutName;
}

export interface TransposeOperands {
  input: TensorMeta;
  weight: TensorMeta;
  bias?: TensorMeta;
  /** Backward only: the gradient w.r.t. the transposed convolution's output, shaped like it. */
  grad_output?: TensorMeta;
}

/** Extent of one spatial dim of a transposed convolution's output (may be < 1 for an invalid request). */
export function transposeExtent(
  inExtent: number,
  k: number,
  stride: number,
  dilation: number,
  before: number,
  after: number,
  outputPadding: number,
): number {
  return (inExtent - 1) * stride - before - after + dilation * (k - 1) + outputPadding + 1;
}

/** One spatial dim of a transposed convolution, what `transposePads` needs of it. */
interface TransposeDim {
  in: number;
  k: number;
  stride: number;
  dilation: number;
  outputPadding: number;
}

/**
 * The padding [before, after] and output_padding of one spatial dim (module comment): from the
 * explicit padding and output_padding, or `target` (output_size) as PyTorch derives
 * output_padding from it, or ONNX's auto_pad split of full - target. A string when `target`
 * cannot be reached with an explicit padding: the message, without the field name.
 */
export function transposePads(
  dim: TransposeDim,
  padding: [number, number] | 'same' | 'same_lower',
  target: number | undefined,
): { before: number; after: number; outputPadding: number } | string {
  const full = transposeExtent(dim.in, dim.k, dim.stride, dim.dilation, 0, 0, dim.outputPadding);
  if (padding === 'same' || padding === 'same_lower') {
    const total = Math.max(0, full - (target ?? dim.in * dim.stride));
    const half = Math.floor(total / 2);
    const before = padding === 'same' ? half : total - half;
    // a target above full: no padding, and target - full zeros after ("after" is negative)
    const after = full - (target ?? dim.in * dim.stride) - before;
    return { before, after, outputPadding: dim.outputPadding };
  }
  const [before, after] = padding;
  if (target === undefined) return { before, after, outputPadding: dim.outputPadding };
  const min = transposeExtent(dim.in, dim.k, dim.stride, dim.dilation, before, after, 0);
  const max = min + Math.max(dim.stride, dim.dilation) - 1;
  const derived = target - min;
  if (target < min || target > max)
    return `is ${target} but must be from ${min} to ${max}: the output_padding it sets, from 0 to max(stride ${dim.stride}, dilation ${dim.dilation}) - 1, added to ${min}`;
  if (dim.outputPadding !== 0 && dim.outputPadding !== derived)
    return `is ${target}, which sets output_padding ${derived}, but output_padding is ${dim.outputPadding}; send one of the two`;
  return { before, after, outputPadding: derived };
}

/**
 * The spatial extents of `output_size`: an int for every dim, one per dim, or the whole output
 * shape ([N, C_out, *spatial] or [N, *spatial, C_out], as PyTorch takes `output_size`), whose
 * batch and channel entries must then be the output's. Problems go to `p`.
 */
function outputSizes(
  value: number | number[] | undefined,
  d: number,
  expected: { batch: number; channels: number; channelsLast: boolean },
  p: Problems,
): ({ target: number; path: string } | undefined)[] {
  const none = Array<undefined>(d).fill(undefined);
  if (value === undefined) return none;
  const values = typeof value === 'number' ? Array<number>(d).fill(value) : value;
  if (!Array.isArray(values) || (values.length !== d && values.length !== d + 2)) {
    p.add(
      'output_size',
      `output_size has ${Array.isArray(values) ? values.length : 'no'} values but the transposed convolution has ${d} spatial dims (give ${d}, or the whole output shape of ${d + 2})`,
    );
    return none;
  }
  const offset = values.length === d ? 0 : expected.channelsLast ? 1 : 2;
  if (values.length === d + 2) {
    const channelAt = expected.channelsLast ? d + 1 : 1;
    if (values[0] !== expected.batch)
      p.add('output_size[0]', `output_size[0] is ${values[0]} but the output's batch is ${expected.batch}`);
    if (values[channelAt] !== expected.channels)
      p.add(
        `output_size[${channelAt}]`,
        `output_size[${channelAt}] is ${values[channelAt]} but the output has ${expected.channels} channels`,
      );
  }
  return Array.from({ length: d }, (_, i) => {
    const v = values[offset + i];
    const path = typeof value === 'number' ? 'output_size' : `output_size[${offset + i}]`;
    if (isInt(v) && v >= 1 && v <= MAX_PARAM) return { target: v, path };
    p.add(path, `${path} is ${JSON.stringify(v)}; it must be an integer from 1 to ${MAX_PARAM}`);
    return undefined;
  });
}

/**
 * Validates a conv_transpose request and returns the geometry of the convolution whose
 * grad_input it is: its inputShape is the transposed convolution's output shape, its
 * outputShape the transposed convolution's input shape, its inChannels the output channels
 * (bias is [inChannels]). Throws GeometryError listing every problem.
 */
export function resolveTranspose(operands: TransposeOperands, params: TransposeParams): ConvGeometry {
  return resolveTransposeChecked(operands, params, true);
}

function resolveTransposeChecked(operands: TransposeOperands, params: TransposeParams, hints: boolean): ConvGeometry {
  const p = new Problems();
  const { input, weight, bias } = operands;
  // one sample without its batch dimension: the weight's rank says what the input's should be
  const missingBatch = () =>
    batchHint(input.shape, weight.shape.length, layoutFamily(params.layout), 'transposed convolution');
  const { dtype, rank, shapesOk } = openRequest(p, operands, 'a transposed convolution', missingBatch);
  const d = rank - 2;
  const op = 'the transposed convolution';
  const layout = resolveLayout(params.layout, rank, p);
  const stride = perDim('stride', params.stride, d, p, { op });
  const dilation = perDim('dilation', params.dilation, d, p, { op });
  const pairs = explicitPadding(params.padding, d, p, op);
  const outputPadding = perDim('output_padding', params.output_padding, d, p, { min: 0, fallback: 0, op });
  const groups = params.groups ?? 1;
  if (!isInt(groups) || groups < 1 || groups > MAX_PARAM)
    p.add('groups', `groups is ${groups}; it must be an integer >= 1`);
  outputPadding.forEach((v, i) => {
    if (v < stride[i] || v < dilation[i]) return;
    const path = Array.isArray(params.output_padding) ? `output_padding[${i}]` : 'output_padding';
    p.add(
      path,
      `${path} is ${v} but must be smaller than stride ${stride[i]} or dilation ${dilation[i]} (spatial dim ${i})`,
    );
  });
  if (!shapesOk || p.any) throw new GeometryError(p.list);

  const channelsLast = layout === 'channels_last';
  const batch = input.shape[0];
  const inChannels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const inSpatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  // channels_first weight [C_in, C_out/groups, *k]; channels_last [*k, C_out/groups, C_in]
  const weightInAxis = channelsLast ? rank - 1 : 0;
  const weightOutAxis = channelsLast ? rank - 2 : 1;
  const kernel = channelsLast ? weight.shape.slice(0, d) : weight.shape.slice(2);
  const outChannels = weight.shape[weightOutAxis] * groups;
  // input channels that fit neither the weight nor groups: perhaps the tensors are of the other layout
  let channelProblem = -1;
  if (weight.shape[weightInAxis] !== inChannels) {
    channelProblem = p.list.length;
    p.add(
      `weight.shape[${weightInAxis}]`,
      `weight.shape[${weightInAxis}] is ${weight.shape[weightInAxis]} but input has ${inChannels} channels (a transposed convolution's weight is ${channelsLast ? '[*k, C_out/groups, C_in]' : '[C_in, C_out/groups, *k]'})`,
    );
  }
  if (inChannels % groups !== 0) {
    if (channelProblem < 0) channelProblem = p.list.length;
    p.add(
      'groups',
      `groups ${groups} does not divide the ${inChannels} input channels (input.shape[${channelsLast ? rank - 1 : 1}])`,
    );
  }
  if (hints && channelProblem >= 0) {
    p.hint(
      channelProblem,
      layoutHint(operands, layout, 'transpose', (ops, l) =>
        resolves(() => resolveTransposeChecked(ops, { ...params, layout: l }, false)),
      ),
    );
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outChannels)) {
    p.add(
      'bias.shape',
      `bias.shape is [${bias.shape.join(', ')}] but must be [${outChannels}] (the output channels: weight.shape[${weightOutAxis}] ${weight.shape[weightOutAxis]} * groups ${groups})`,
    );
  }

  const targets = outputSizes(params.output_size, d, { batch, channels: outChannels, channelsLast }, p);
  const outSpatial: number[] = [];
  const padBefore: number[] = [];
  const padAfter: number[] = [];
  for (let i = 0; i < d; i++) {
    const dim = {
      in: inSpatial[i],
      k: kernel[i],
      stride: stride[i],
      dilation: dilation[i],
      outputPadding: outputPadding[i],
    };
    const target = targets[i];
    const pads = transposePads(dim, typeof pairs === 'string' ? pairs : pairs[i], target?.target);
    if (typeof pads === 'string') {
      p.add(target!.path, `${target!.path} ${pads} (spatial dim ${i})`);
      continue;
    }
    const { before, after } = pads;
    const out = transposeExtent(dim.in, dim.k, dim.stride, dim.dilation, before, after, pads.outputPadding);
    outSpatial.push(out);
    padBefore.push(before);
    padAfter.push(after - pads.outputPadding);
    const padTerms = before === after ? `2 * padding ${before}` : `padding ${before} - ${after}`;
    const formula = `(input ${inSpatial[i]} - 1) * stride ${stride[i]} - ${padTerms} + dilation ${dilation[i]} * (kernel ${kernel[i]} - 1) + output_padding ${pads.outputPadding} + 1`;
    if (out < 1) {
      const path = Array.isArray(params.padding) ? `padding[${i}]` : 'padding';
      p.add(path, `output extent of spatial dim ${i} is ${out} < 1: ${formula}`);
    } else if (out > MAX_PARAM) {
      p.add(
        `input.shape[${channelsLast ? 1 + i : 2 + i}]`,
        `output extent of spatial dim ${i} is ${out}, over ${MAX_PARAM}: ${formula}`,
      );
    }
  }
  if (outSpatial.length < d) throw new GeometryError(p.list);
  const transposedOutput = channelsLast ? [batch, ...outSpatial, outChannels] : [batch, outChannels, ...outSpatial];
  checkGradOutput(operands.grad_output, transposedOutput, p);
  if (p.any) throw new GeometryError(p.list);

  return {
    dtype,
    layout,
    paddingMode: 'zeros',
    batch,
    inChannels: outChannels,
    outChannels: inChannels,
    groups,
    inSpatial: outSpatial,
    kernel,
    outSpatial: [...inSpatial],
    stride,
    dilation,
    padBefore,
    padAfter,
    inputShape: transposedOutput,
    weightShape: [...weight.shape],
    outputShape: [...input.shape],
  };
}

/**
 * A transposed convolution's tensors in its own terms, from the geometry of the convolution
 * whose grad_input it is: its input is that convolution's output, its output that convolution's
 * input, and its bias [C_out] has one value per channel of its output (the convolution's input
 * channels).
 */
export function transposeShapes(g: ConvGeometry): OperandShapes {
  return { input: g.outputShape, weight: g.weightShape, bias: [g.inChannels], output: g.inputShape };
}

/**
 * Work and output size of a conv_transpose request: the grad_input pass of its convolution
 * (2 * N * C_in * prod(in) * C_out/groups * prod(k) FLOPs) plus one addition per output
 * element for a bias.
 */
export function transposeWork(g: ConvGeometry, bias: boolean): Work {
  const work = convWork(g, ['input']);
  const flops = work.flops + (bias ? numel(g.inputShape) : 0);
  return { ...work, flops, splitFlops: flops };
}

/**
 * Work and output size of a conv_transpose backward request for `grads`, each the pass of its
 * convolution it runs as: grad_input is that convolution's forward (2 * N * C_in * prod(in) *
 * C_out/groups * prod(k) FLOPs, an input-shaped result), grad_weight its grad_weight (as many
 * FLOPs), grad_bias one addition per element of grad_output.
 */
export function transposeBackwardWork(g: ConvGeometry, grads: readonly GradName[]): Work {
  const pass = convWork(g, ['input']).flops;
  let flops = 0;
  let outputElements = 0;
  for (const grad of new Set(grads)) {
    flops += grad === 'bias' ? numel(g.inputShape) : pass;
    outputElements += grad === 'input' ? numel(g.outputShape) : grad === 'weight' ? numel(g.weightShape) : g.inChannels;
  }
  return {
    flops,
    splitFlops: flops,
    outputElements,
    outputBytes: outputElements * itemSize(g.dtype),
    workspaceBytes: 0,
  };
}
