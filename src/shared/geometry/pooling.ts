/**
 * Pooling geometry (api-contract.md, "Pooling"): max / average pooling as a convolution whose
 * im2col columns are the pooling windows.
 *
 * `resolvePooling` validates a pooling request's shapes and parameters (PyTorch's rules:
 * padding <= kernel_size / 2, stride defaulting to kernel_size, dilation for max only,
 * count_include_pad for avg only) and lowers it to a `ConvGeometry` of a depthwise
 * convolution: groups = channels, one input channel per group, kernel = the window, zeros
 * padding. The kernels run the ordinary im2col / col2im traversal on it (workers/kernels/
 * pooling.ts): one channel's columns are its windows, in row-major window order.
 * O(rank): no tensor data.
 */
import { itemSize, numel, type TensorMeta } from '../tensor.js';
import {
  checkGradOutput,
  GeometryError,
  layoutFamily,
  openRequest,
  outputExtent,
  perDim,
  Problems,
  resolveLayout,
  type LayoutName,
  type OperandShapes,
  type Work,
} from './common.js';
import type { ConvGeometry } from './conv.js';
import { batchHint } from './hints.js';

export type PoolingMode = 'max' | 'avg';

/** The contract's pooling parameters, as received (defaults not yet applied). */
export interface PoolingParams {
  mode: PoolingMode;
  kernel_size: number | number[];
  /** Default: kernel_size. */
  stride?: number | number[];
  padding?: number | number[];
  /** Max only. */
  dilation?: number | number[];
  /** Avg only; default true. */
  count_include_pad?: boolean;
  layout?: LayoutName;
}

export interface PoolingOperands {
  input: TensorMeta;
  grad_output?: TensorMeta;
}

/** What the kernels need besides the window geometry. Plain data. */
export interface PoolingSettings {
  mode: PoolingMode;
  /** Avg: divide by the whole window (true) or by its non-padded elements (false). */
  countIncludePad: boolean;
}

export interface PoolingGeometry extends PoolingSettings {
  /**
   * The windows as a depthwise convolution over the input: inChannels = outChannels = groups
   * = C, kernel = kernel_size, padBefore = padAfter = padding, zeros padding mode. Its
   * inputShape / outputShape are the pooling input and output shapes.
   */
  window: ConvGeometry;
}

const MODES: readonly PoolingMode[] = ['max', 'avg'];

/** Validates a pooling request and resolves its geometry; throws GeometryError listing every problem. */
export function resolvePooling(operands: PoolingOperands, params: PoolingParams): PoolingGeometry {
  const p = new Problems();
  const { input, grad_output } = operands;
  // one sample without its batch dimension: a kernel_size list says how many spatial dims are meant
  const missingBatch = () =>
    Array.isArray(params.kernel_size)
      ? batchHint(input.shape, params.kernel_size.length + 2, layoutFamily(params.layout), 'pooling')
      : null;
  const { dtype, rank, shapesOk } = openRequest(p, operands, 'pooling', missingBatch);
  const d = rank - 2;
  const op = 'the pooling';
  const layout = resolveLayout(params.layout, rank, p);
  const mode = params.mode;
  if (!MODES.includes(mode)) p.add('mode', `mode ${JSON.stringify(mode)} is not one of ${MODES.join(', ')}`);
  const kernelProblem = p.list.length;
  const kernel = perDim('kernel_size', params.kernel_size, d, p, { op });
  if (p.list[kernelProblem]?.path === 'kernel_size') {
    // kernel_size may be the mistake as well as the input (unlike a weight's rank): both fixes
    const batch = missingBatch();
    p.hint(
      kernelProblem,
      batch &&
        `either give kernel_size ${d} value${d === 1 ? '' : 's'}, or for one sample without its batch dimension: ${batch}`,
    );
  }
  const stride = params.stride === undefined ? [...kernel] : perDim('stride', params.stride, d, p, { op });
  const padding = perDim('padding', params.padding, d, p, { min: 0, fallback: 0, op });
  const dilation = perDim('dilation', params.dilation, d, p, { op });
  if (mode === 'avg' && dilation.some((v) => v !== 1)) {
    p.add(
      'dilation',
      `dilation is ${JSON.stringify(params.dilation)} but average pooling has no dilation (max pooling only)`,
    );
  }
  if (mode === 'max' && params.count_include_pad !== undefined) {
    p.add(
      'count_include_pad',
      'count_include_pad applies to average pooling only; max pooling ignores padded positions',
    );
  }
  if (params.count_include_pad !== undefined && typeof params.count_include_pad !== 'boolean') {
    p.add(
      'count_include_pad',
      `count_include_pad is ${JSON.stringify(params.count_include_pad)}; it must be true or false`,
    );
  }
  // PyTorch: pad <= kernel_size / 2 (integer division), per spatial dim.
  const seen = new Set<string>();
  padding.forEach((pad, i) => {
    const half = Math.floor(kernel[i] / 2);
    if (pad <= half) return;
    const path = Array.isArray(params.padding) ? `padding[${i}]` : 'padding';
    const kPath = Array.isArray(params.kernel_size) ? `kernel_size[${i}]` : 'kernel_size';
    const message = `${path} ${pad} exceeds ${kPath}/2 = ${half}`;
    if (!seen.has(message)) p.add(path, message);
    seen.add(message);
  });
  if (!shapesOk || p.any) throw new GeometryError(p.list);

  const channelsLast = layout === 'channels_last';
  const batch = input.shape[0];
  const channels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const inSpatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  const outSpatial: number[] = [];
  for (let i = 0; i < d; i++) {
    const out = outputExtent(inSpatial[i], kernel[i], stride[i], dilation[i], padding[i], padding[i]);
    outSpatial.push(out);
    if (out < 1) {
      const axis = channelsLast ? 1 + i : 2 + i;
      p.add(
        `input.shape[${axis}]`,
        `output extent of spatial dim ${i} is ${out} < 1: input ${inSpatial[i]} + 2 * padding ${padding[i]} is smaller than the dilated window ${dilation[i]} * (${kernel[i]} - 1) + 1 = ${dilation[i] * (kernel[i] - 1) + 1}`,
      );
    }
  }
  const outputShape = channelsLast ? [batch, ...outSpatial, channels] : [batch, channels, ...outSpatial];
  checkGradOutput(grad_output, outputShape, p);
  if (p.any) throw new GeometryError(p.list);

  return {
    mode,
    countIncludePad: params.count_include_pad ?? true,
    window: {
      dtype,
      layout,
      paddingMode: 'zeros',
      batch,
      inChannels: channels,
      outChannels: channels,
      groups: channels,
      inSpatial,
      kernel,
      outSpatial,
      stride,
      dilation,
      padBefore: [...padding],
      padAfter: [...padding],
      inputShape: [...input.shape],
      weightShape: channelsLast ? [...kernel, 1, channels] : [channels, 1, ...kernel],
      outputShape,
    },
  };
}

/** A pooling's tensors: input and the pooled output (no weight, no bias). */
export function poolingShapes(g: PoolingGeometry): OperandShapes {
  return { input: g.window.inputShape, output: g.window.outputShape };
}

/**
 * Work and output size of a pooling request, from its geometry alone (limits are checked
 * before any allocation). FLOPs count one comparison (max) or addition (avg) per window
 * element of every output, forward or backward; the output is the pooled tensor (forward) or
 * grad_input, shaped like the input (backward).
 */
export function poolingWork(g: PoolingGeometry, backward: boolean): Work {
  const w = g.window;
  const flops = numel(w.outputShape) * numel(w.kernel);
  const outputElements = numel(backward ? w.inputShape : w.outputShape);
  return { flops, outputElements, outputBytes: outputElements * itemSize(w.dtype) };
}
