/**
 * Convolution geometry: `resolveConv` turns a conv request's tensor shapes and parameters into
 * a validated `ConvGeometry` (layout, per-dim stride / dilation / padding, output extents), the
 * geometry every kernel runs from (pooling and conv_transpose lower to one too), or throws a
 * `GeometryError` listing every problem. O(rank): no tensor data.
 */
import type { DType, TensorMeta } from '../tensor.js';
import { itemSize, numel } from '../tensor.js';
import {
  checkGradOutput,
  GeometryError,
  isInt,
  layoutFamily,
  MAX_PARAM,
  outputExtent,
  openRequest,
  PADDING_MODES,
  perDim,
  Problems,
  resolveLayout,
  resolves,
  resolveWeightLayout,
  sameLowerPadding,
  samePadding,
  weightLayoutName,
  type Layout,
  type LayoutName,
  type OperandShapes,
  type PaddingMode,
  type WeightLayoutName,
  type Work,
} from './common.js';
import { batchHint, layoutHint, weightLayoutHint } from './hints.js';

export type Padding = number | number[] | [number, number][] | 'valid' | 'same' | 'same_lower';
export type GradName = 'input' | 'weight' | 'bias';

/** The contract's conv parameters, as received (defaults not yet applied). */
export interface ConvParams {
  stride?: number | number[];
  padding?: Padding;
  dilation?: number | number[];
  groups?: number;
  padding_mode?: PaddingMode;
  layout?: LayoutName;
  /** Default: the layout's own (OI* channels_first, *IO channels_last). */
  weight_layout?: WeightLayoutName;
}

/** The tensors of a conv request, by contract field name. */
export interface ConvOperands {
  input: TensorMeta;
  weight: TensorMeta;
  bias?: TensorMeta;
  grad_output?: TensorMeta;
}

/**
 * Everything a kernel needs, resolved and validated. Plain data (structured-clonable), so it
 * travels to a worker as is. Spatial arrays have one entry per spatial dim (1, 2 or 3).
 */
export interface ConvGeometry {
  dtype: DType;
  layout: Layout;
  /**
   * The weight's layout family when weight_layout makes it differ from `layout`'s own
   * (channels_first: [C_out, C_in/groups, *k], channels_last: [*k, C_in/groups, C_out]); the
   * kernels read the weight in `layout`'s, so the worker permutes it (and grad_weight back).
   */
  weightLayout?: Layout;
  paddingMode: PaddingMode;
  batch: number;
  inChannels: number;
  outChannels: number;
  groups: number;
  inSpatial: number[];
  kernel: number[];
  outSpatial: number[];
  stride: number[];
  dilation: number[];
  padBefore: number[];
  padAfter: number[];
  /** Shapes in the request's layout. */
  inputShape: number[];
  weightShape: number[];
  outputShape: number[];
}

/** Every padding form of the contract, as [before, after] per spatial dim (before SAME_UPPER / SAME_LOWER); `op` names the operation in messages. */
export function explicitPadding(
  padding: Padding | undefined,
  d: number,
  p: Problems,
  op = 'the convolution',
): [number, number][] | 'same' | 'same_lower' {
  if (padding === undefined || padding === 'valid') return Array.from({ length: d }, () => [0, 0]);
  if (padding === 'same' || padding === 'same_lower') return padding;
  const checkPad = (v: unknown, path: string): number => {
    if (!isInt(v) || v < 0 || v > MAX_PARAM) {
      p.add(path, `${path} is ${JSON.stringify(v)}; it must be an integer from 0 to ${MAX_PARAM}`);
      return 0;
    }
    return v;
  };
  if (typeof padding === 'number') {
    const v = checkPad(padding, 'padding');
    return Array.from({ length: d }, () => [v, v]);
  }
  if (!Array.isArray(padding)) {
    p.add(
      'padding',
      `padding ${JSON.stringify(padding)} is not an int, int[${d}], [[before, after]] x ${d}, "valid", "same" or "same_lower"`,
    );
    return Array.from({ length: d }, () => [0, 0]);
  }
  if (padding.length !== d) {
    p.add('padding', `padding has ${padding.length} entries but ${op} has ${d} spatial dims`);
    return Array.from({ length: d }, () => [0, 0]);
  }
  return padding.map((entry, i): [number, number] => {
    if (Array.isArray(entry)) {
      // The schema types a pair; a body that skipped it (hostile input) may carry any length.
      const length = (entry as unknown[]).length;
      if (length !== 2) {
        p.add(`padding[${i}]`, `padding[${i}] has ${length} values; a pair is [before, after]`);
        return [0, 0];
      }
      return [checkPad(entry[0], `padding[${i}][0]`), checkPad(entry[1], `padding[${i}][1]`)];
    }
    const v = checkPad(entry, `padding[${i}]`);
    return [v, v];
  });
}

/**
 * Validates a conv request's shapes and parameters and resolves its geometry.
 * Throws GeometryError with every problem found.
 */
export function resolveConv(operands: ConvOperands, params: ConvParams): ConvGeometry {
  return resolveConvChecked(operands, params, true);
}

function resolveConvChecked(operands: ConvOperands, params: ConvParams, hints: boolean): ConvGeometry {
  const p = new Problems();
  const { input, weight, bias, grad_output } = operands;
  // one sample without its batch dimension: the weight's rank says what the input's should be
  const missingBatch = () => batchHint(input.shape, weight.shape.length, layoutFamily(params.layout), 'convolution');
  const { dtype, rank, shapesOk } = openRequest(p, operands, 'a convolution', missingBatch);
  const d = rank - 2;
  const layout = resolveLayout(params.layout, rank, p);
  const weightLayout = resolveWeightLayout(params.weight_layout, layout, rank, p);
  const stride = perDim('stride', params.stride, d, p);
  const dilation = perDim('dilation', params.dilation, d, p);
  const pads = explicitPadding(params.padding, d, p);
  const paddingMode = params.padding_mode ?? 'zeros';
  if (!PADDING_MODES.includes(paddingMode)) {
    p.add('padding_mode', `padding_mode ${JSON.stringify(paddingMode)} is not one of ${PADDING_MODES.join(', ')}`);
  }
  const groups = params.groups ?? 1;
  if (!isInt(groups) || groups < 1 || groups > MAX_PARAM)
    p.add('groups', `groups is ${groups}; it must be an integer >= 1`);
  if (!shapesOk || p.any) throw new GeometryError(p.list);

  const channelsLast = layout === 'channels_last';
  const batch = input.shape[0];
  const inChannels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const inSpatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  // weight [C_out, C_in/groups, *k] (OI*, channels_first's) or [*k, C_in/groups, C_out] (*IO, channels_last's)
  const weightLast = weightLayout === 'channels_last';
  const outAxis = weightLast ? rank - 1 : 0;
  const outChannels = weight.shape[outAxis];
  const weightInAxis = weightLast ? rank - 2 : 1;
  const kernel = weightLast ? weight.shape.slice(0, d) : weight.shape.slice(2);

  // input channels that fit neither the weight nor groups: perhaps the tensors are of the other layout
  let channelProblem = -1;
  if (inChannels % groups !== 0) {
    channelProblem = p.list.length;
    p.add(
      'groups',
      `groups ${groups} does not divide the ${inChannels} input channels (input.shape[${channelsLast ? rank - 1 : 1}])`,
    );
  }
  if (outChannels % groups !== 0)
    p.add('groups', `groups ${groups} does not divide the ${outChannels} output channels (weight.shape[${outAxis}])`);
  if (inChannels % groups === 0 && weight.shape[weightInAxis] !== inChannels / groups) {
    channelProblem = p.list.length;
    p.add(
      `weight.shape[${weightInAxis}]`,
      `weight.shape[${weightInAxis}] is ${weight.shape[weightInAxis]} but input has ${inChannels} channels / groups ${groups} = ${inChannels / groups}`,
    );
  }
  if (hints && channelProblem >= 0) {
    p.hint(
      channelProblem,
      layoutHint(operands, layout, 'conv', (ops, l) =>
        resolves(() => resolveConvChecked(ops, { ...params, layout: l }, false)),
      ) ??
        weightLayoutHint(rank, weightLayout, (family) =>
          resolves(() =>
            resolveConvChecked(operands, { ...params, weight_layout: weightLayoutName(family, rank) }, false),
          ),
        ),
    );
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outChannels)) {
    p.add('bias.shape', `bias.shape is [${bias.shape.join(', ')}] but must be [${outChannels}] (the output channels)`);
  }

  const padBefore: number[] = [];
  const padAfter: number[] = [];
  const outSpatial: number[] = [];
  const inAxis = (i: number) => (channelsLast ? 1 + i : 2 + i);
  for (let i = 0; i < d; i++) {
    const [before, after] =
      pads === 'same'
        ? samePadding(inSpatial[i], kernel[i], stride[i], dilation[i])
        : pads === 'same_lower'
          ? sameLowerPadding(inSpatial[i], kernel[i], stride[i], dilation[i])
          : pads[i];
    padBefore.push(before);
    padAfter.push(after);
    const out = outputExtent(inSpatial[i], kernel[i], stride[i], dilation[i], before, after);
    outSpatial.push(out);
    if (out < 1) {
      p.add(
        `input.shape[${inAxis(i)}]`,
        `output extent of spatial dim ${i} is ${out} < 1: input ${inSpatial[i]} + padding ${before} + ${after} is smaller than the dilated kernel ${dilation[i]} * (${kernel[i]} - 1) + 1 = ${dilation[i] * (kernel[i] - 1) + 1}`,
      );
    }
    const path = Array.isArray(params.padding) ? `padding[${i}]` : 'padding';
    if (paddingMode === 'reflect' && (before >= inSpatial[i] || after >= inSpatial[i])) {
      p.add(
        path,
        `padding_mode reflect needs padding < input extent: spatial dim ${i} pads ${before} before and ${after} after but input.shape[${inAxis(i)}] is ${inSpatial[i]}`,
      );
    }
    if (paddingMode === 'circular' && (before > inSpatial[i] || after > inSpatial[i])) {
      p.add(
        path,
        `padding_mode circular needs padding <= input extent: spatial dim ${i} pads ${before} before and ${after} after but input.shape[${inAxis(i)}] is ${inSpatial[i]}`,
      );
    }
  }

  const outputShape = channelsLast ? [batch, ...outSpatial, outChannels] : [batch, outChannels, ...outSpatial];
  checkGradOutput(grad_output, outputShape, p);
  if (p.any) throw new GeometryError(p.list);

  return {
    dtype,
    layout,
    ...(weightLayout !== layout ? { weightLayout } : {}),
    paddingMode,
    batch,
    inChannels,
    outChannels,
    groups,
    inSpatial,
    kernel,
    outSpatial,
    stride,
    dilation,
    padBefore,
    padAfter,
    inputShape: [...input.shape],
    weightShape: [...weight.shape],
    outputShape,
  };
}

/** A convolution's tensors: input, weight [C_out, ...], bias [C_out] and output, in the request's layout. */
export function convShapes(g: ConvGeometry): OperandShapes {
  return { input: g.inputShape, weight: g.weightShape, bias: [g.outChannels], output: g.outputShape };
}

/**
 * Work and output size of a request, from its geometry alone, so that limits are checked
 * before any allocation. Forward when `grads` is undefined, else backward for those grads.
 * FLOPs of forward, grad_input and grad_weight are each 2 * N * C_out * prod(out) *
 * (C_in / groups) * prod(k); grad_bias is N * C_out * prod(out) additions. A weight sent in the
 * other layout family (weight_layout) is permuted into a copy by every task, and so is grad_weight
 * when it is asked for: `workspaceBytes`.
 */
export function convWork(g: ConvGeometry, grads?: readonly GradName[]): Work {
  const outputPositions = g.batch * g.outChannels * numel(g.outSpatial);
  const gemmFlops = 2 * outputPositions * (g.inChannels / g.groups) * numel(g.kernel);
  let flops = 0;
  let outputElements = 0;
  if (grads === undefined) {
    flops = gemmFlops;
    outputElements = numel(g.outputShape);
  } else {
    for (const grad of new Set(grads)) {
      if (grad === 'input') {
        flops += gemmFlops;
        outputElements += numel(g.inputShape);
      } else if (grad === 'weight') {
        flops += gemmFlops;
        outputElements += numel(g.weightShape);
      } else {
        flops += outputPositions;
        outputElements += g.outChannels;
      }
    }
  }
  return {
    flops,
    splitFlops: flops,
    outputElements,
    outputBytes: outputElements * itemSize(g.dtype),
    workspaceBytes: permutedWeightBytes(g, grads),
  };
}

/**
 * Bytes of the weight copies a task of `g` makes when its weight travels in the other layout
 * family than the kernels read (workers/kernels/weight-layout.ts): the weight permuted to the
 * kernels' order (read by the forward and by every gradient), and grad_weight computed in that
 * order before it is permuted into its result. 0 in the layout's own weight order.
 */
export function permutedWeightBytes(g: ConvGeometry, grads?: readonly GradName[]): number {
  if (g.weightLayout === undefined || g.weightLayout === g.layout) return 0;
  const copies = grads?.includes('weight') ? 2 : 1;
  return copies * numel(g.weightShape) * itemSize(g.dtype);
}
