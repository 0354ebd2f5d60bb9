/**
 * Pooling geometry (docs/api.md, "Pooling"): max / average / power-average (lp) pooling as a
 * convolution whose im2col columns are the pooling windows.
 *
 * `resolvePooling` validates a pooling request's shapes and parameters and lowers it to a
 * `ConvGeometry` of a depthwise convolution: groups = channels, one input channel per group,
 * kernel = the window, zeros padding (before / after per dim). The kernels run the ordinary
 * im2col / col2im traversal on it (workers/kernels/pooling.ts): one channel's columns are its
 * windows, in row-major window order. O(rank): no tensor data.
 *
 * The rules, PyTorch's where it has the field and ONNX's where PyTorch is narrower:
 *   - stride defaults to kernel_size; dilation applies to every mode (ONNX AveragePool and
 *     LpPool have dilations, PyTorch's avg / lp pooling has none);
 *   - padding is symmetric (PyTorch), [before, after] per dim, "valid", or "same" /
 *     "same_lower" (ONNX auto_pad SAME_UPPER / SAME_LOWER: out = ceil(in / stride), the odd
 *     pixel of padding after / before); each side at most dilation * (kernel_size - 1), so every
 *     window's span overlaps the input (PyTorch stops at kernel_size // 2);
 *   - ceil_mode rounds the output extent up, dropping a last window that would start in the
 *     right padding (PyTorch's pooling_output_shape; ONNX since opset 19 says the same);
 *   - count_include_pad and divisor_override are avg's, p and lp_abs are lp's, return_indices is max's;
 *     storage_order (ONNX MaxPool's) orders the indices, so it needs max and return_indices;
 *     a flag at its off value (false, null, 0) is accepted with any mode.
 */
import { itemSize, numel, type TensorMeta, type WireDType } from '../tensor.js';
import {
  checkGradOutput,
  GeometryError,
  isInt,
  layoutFamily,
  MAX_PARAM,
  openRequest,
  outputExtent,
  perDim,
  Problems,
  resolveLayout,
  samePadding,
  type LayoutName,
  type OperandShapes,
  TOUCH_FLOPS,
  type Work,
} from './common.js';
import { explicitPadding, type ConvGeometry } from './conv.js';
import { batchHint } from './hints.js';

export type PoolingMode = 'max' | 'avg' | 'lp';

export type PoolingPadding = number | number[] | [number, number][] | 'valid' | 'same' | 'same_lower';

/** The contract's pooling parameters, as received (defaults not yet applied). */
export interface PoolingParams {
  mode: PoolingMode;
  kernel_size: number | number[];
  /** Default: kernel_size. */
  stride?: number | number[];
  padding?: PoolingPadding;
  dilation?: number | number[];
  /** Default false. */
  ceil_mode?: boolean;
  /** Avg only; default true. */
  count_include_pad?: boolean;
  /** Avg only; default null (no override). */
  divisor_override?: number | null;
  /** Lp only: the power; default 2. */
  p?: number;
  /** Lp only: sum |x|^p (ONNX LpPool) instead of x^p (PyTorch lp_pool); default false. */
  lp_abs?: boolean;
  /** Max only: also answer the flat spatial index of each maximum; default false. */
  return_indices?: boolean;
  /** Max with return_indices only: 0 row-major (default), 1 column-major spatial indices (ONNX MaxPool). */
  storage_order?: number;
  layout?: LayoutName;
}

export interface PoolingOperands {
  input: TensorMeta;
  grad_output?: TensorMeta;
}

/** What the kernels need besides the window geometry. Plain data. */
export interface PoolingSettings {
  mode: PoolingMode;
  /** Avg: divide by the window clipped to the padded input (true) or by its elements inside the input (false). */
  countIncludePad: boolean;
  /** Avg: divide every window by this instead. */
  divisorOverride: number | null;
  /** Lp: the power p of (sum x^p)^(1/p). */
  p: number;
  /** Lp: sum |x|^p (ONNX LpPool) instead of x^p (PyTorch lp_pool). */
  lpAbs: boolean;
  /** Max indices: 0 row-major over the channel's spatial extents (PyTorch), 1 column-major (ONNX storage_order 1). */
  storageOrder: 0 | 1;
}

export interface PoolingGeometry extends PoolingSettings {
  /**
   * The windows as a depthwise convolution over the input: inChannels = outChannels = groups
   * = C, kernel = kernel_size, padBefore / padAfter the resolved padding, zeros padding mode.
   * Its inputShape / outputShape are the pooling input and output shapes.
   */
  window: ConvGeometry;
  /** Max: the forward also answers `indices`. */
  returnIndices: boolean;
}

const MODES: readonly PoolingMode[] = ['max', 'avg', 'lp'];
const MODE_NAMES: Record<PoolingMode, string> = { max: 'max', avg: 'average', lp: 'lp' };

/** Per answer dtype: the integers it holds exactly, 0 to 2^(significand bits). */
const EXACT_INTEGERS: Record<WireDType, number> = {
  float64: 2 ** 53,
  float32: 2 ** 24,
  float16: 2 ** 11,
  bfloat16: 2 ** 8,
};

/** Indices travel in the input's dtype, which must hold every spatial position of a channel exactly. */
export function checkIndicesExact(dtype: WireDType, inSpatial: number[], p: Problems): void {
  const exact = EXACT_INTEGERS[dtype];
  if (numel(inSpatial) > exact) {
    p.add(
      'return_indices',
      `return_indices answers indices in the input dtype: ${dtype} holds them exactly up to ${exact} positions per channel but input has ${numel(inSpatial)}; send float64`,
    );
  }
}

/** [before, after] per dim from every padding form; SAME pads are resolved once extents are known. */
function poolingPads(
  padding: PoolingPadding | undefined,
  d: number,
  p: Problems,
  same: (i: number) => [number, number],
): [number, number][] {
  if (padding === 'same') return Array.from({ length: d }, (_, i) => same(i));
  // SAME_LOWER puts the odd pixel before: SAME_UPPER's pair swapped
  if (padding === 'same_lower') return Array.from({ length: d }, (_, i) => same(i).reverse() as [number, number]);
  return explicitPadding(padding, d, p, 'the pooling') as [number, number][];
}

/**
 * The mode and the fields that belong to one mode (accepted with another only at their off
 * values), and their value ranges; adaptive pooling (adaptive-pooling.ts) checks its own with it.
 */
export function checkModeFields(params: Omit<PoolingParams, 'kernel_size'>, p: Problems): void {
  const mode = params.mode;
  if (!MODES.includes(mode)) p.add('mode', `mode ${JSON.stringify(mode)} is not one of ${MODES.join(', ')}`);
  const only = (
    field: 'count_include_pad' | 'divisor_override' | 'p' | 'lp_abs' | 'return_indices' | 'storage_order',
    owner: PoolingMode,
    off: unknown[],
  ) => {
    const v = params[field];
    if (mode !== owner && v !== undefined && !off.includes(v))
      p.add(
        field,
        `${field} is ${JSON.stringify(v)} but it applies to ${MODE_NAMES[owner]} pooling only (mode is ${mode})`,
      );
  };
  only('count_include_pad', 'avg', []);
  only('divisor_override', 'avg', [null]);
  only('p', 'lp', []);
  only('lp_abs', 'lp', [false]);
  only('return_indices', 'max', [false]);
  only('storage_order', 'max', [0]);
  const order = params.storage_order;
  if (order !== undefined && order !== 0 && order !== 1)
    p.add('storage_order', `storage_order is ${JSON.stringify(order)}; it must be 0 (row-major) or 1 (column-major)`);
  else if (mode === 'max' && order === 1 && params.return_indices !== true)
    p.add(
      'storage_order',
      `storage_order is 1 but return_indices is ${JSON.stringify(params.return_indices ?? false)}: storage_order orders the indices, which only return_indices: true answers`,
    );
  for (const flag of ['ceil_mode', 'count_include_pad', 'lp_abs', 'return_indices'] as const) {
    const v = params[flag];
    if (v !== undefined && typeof v !== 'boolean')
      p.add(flag, `${flag} is ${JSON.stringify(v)}; it must be true or false`);
  }
  const divisor = params.divisor_override;
  if (divisor !== undefined && divisor !== null && (!isInt(divisor) || divisor === 0 || Math.abs(divisor) > MAX_PARAM))
    p.add('divisor_override', `divisor_override is ${JSON.stringify(divisor)}; it must be a non-zero integer or null`);
  const power = params.p;
  if (power !== undefined && !(typeof power === 'number' && power > 0 && Number.isFinite(power)))
    p.add('p', `p is ${JSON.stringify(power)}; it must be a finite number > 0`);
}

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
  const dilation = perDim('dilation', params.dilation, d, p, { op });
  checkModeFields(params, p);
  const channelsLast = layout === 'channels_last';
  const inSpatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  const pads = poolingPads(params.padding, d, p, (i) => samePadding(inSpatial[i], kernel[i], stride[i], dilation[i]));
  // each side at most the window extent less one (PyTorch: kernel_size // 2, symmetric)
  const seen = new Set<string>();
  pads.forEach((pair, i) => {
    const most = dilation[i] * (kernel[i] - 1);
    pair.forEach((pad, side) => {
      if (pad <= most) return;
      const path = !Array.isArray(params.padding)
        ? 'padding'
        : Array.isArray(params.padding[i])
          ? `padding[${i}][${side}]`
          : `padding[${i}]`;
      const kPath = Array.isArray(params.kernel_size) ? `kernel_size[${i}]` : 'kernel_size';
      const message =
        `${path} is ${pad} but ${kPath} ${kernel[i]} with dilation ${dilation[i]} allows at most ${most} ` +
        `(dilation * (kernel_size - 1): ONNX's range; PyTorch allows kernel_size // 2 = ${Math.floor(kernel[i] / 2)})`;
      if (!seen.has(message)) p.add(path, message);
      seen.add(message);
    });
  });
  if (!shapesOk || p.any) throw new GeometryError(p.list);

  const ceilMode = params.ceil_mode ?? false;
  const batch = input.shape[0];
  const channels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const outSpatial: number[] = [];
  for (let i = 0; i < d; i++) {
    const [before, after] = pads[i];
    const out = poolingExtent(inSpatial[i], kernel[i], stride[i], dilation[i], before, after, ceilMode);
    outSpatial.push(out);
    if (out < 1) {
      const axis = channelsLast ? 1 + i : 2 + i;
      p.add(
        `input.shape[${axis}]`,
        `output extent of spatial dim ${i} is ${out} < 1: input ${inSpatial[i]} + padding ${before} + ${after} is smaller than the dilated window ${dilation[i]} * (${kernel[i]} - 1) + 1 = ${dilation[i] * (kernel[i] - 1) + 1}`,
      );
    }
  }
  const returnIndices = params.return_indices ?? false;
  if (returnIndices) checkIndicesExact(input.dtype, inSpatial, p);
  const outputShape = channelsLast ? [batch, ...outSpatial, channels] : [batch, channels, ...outSpatial];
  checkGradOutput(grad_output, outputShape, p);
  if (p.any) throw new GeometryError(p.list);

  return {
    mode,
    countIncludePad: params.count_include_pad ?? true,
    divisorOverride: params.divisor_override ?? null,
    p: params.p ?? 2,
    lpAbs: params.lp_abs ?? false,
    storageOrder: params.storage_order === 1 ? 1 : 0,
    returnIndices,
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
      padBefore: pads.map((pair) => pair[0]),
      padAfter: pads.map((pair) => pair[1]),
      inputShape: [...input.shape],
      weightShape: channelsLast ? [...kernel, 1, channels] : [channels, 1, ...kernel],
      outputShape,
    },
  };
}

/**
 * Output extent of one spatial dim (PyTorch's pooling_output_shape, with [before, after]
 * padding): floor((in + before + after - dilation * (k - 1) - 1) / stride) + 1, rounded up
 * instead with ceil_mode, but then without a last window that would start in the right
 * padding, i.e. at or past in + before (may be < 1 for an invalid request).
 */
export function poolingExtent(
  inExtent: number,
  k: number,
  stride: number,
  dilation: number,
  before: number,
  after: number,
  ceilMode: boolean,
): number {
  if (!ceilMode) return outputExtent(inExtent, k, stride, dilation, before, after);
  const out = Math.ceil((inExtent + before + after - dilation * (k - 1) - 1) / stride) + 1;
  return (out - 1) * stride >= inExtent + before ? out - 1 : out;
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
  // memory-bound: each window element is a touch, not a GEMM FLOP
  const splitFlops = flops * TOUCH_FLOPS;
  return { flops, splitFlops, outputElements, outputBytes: outputElements * itemSize(w.dtype), workspaceBytes: 0 };
}
