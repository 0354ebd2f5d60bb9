/**
 * Adaptive pooling geometry (docs/api.md, "Adaptive and global pooling"): PyTorch's
 * adaptive_{max,avg}_pool{1,2,3}d, and lp over the same windows. The output extents are asked
 * for; per spatial dim, output o pools the input range
 *   [floor(o * in / out), ceil((o + 1) * in / out))
 * (PyTorch's start_index / end_index), never empty, overlapping when out does not divide in.
 * output_size 1 pools everything: ONNX GlobalAveragePool, GlobalMaxPool, GlobalLpPool.
 * O(rank): no tensor data.
 */
import { itemSize, numel, type DType } from '../tensor.js';
import {
  checkGradOutput,
  GeometryError,
  isInt,
  MAX_PARAM,
  openRequest,
  Problems,
  resolveLayout,
  type Layout,
  type LayoutName,
  type OperandShapes,
  TOUCH_FLOPS,
  type Work,
} from './common.js';
import { checkIndicesExact, checkModeFields, type PoolingMode, type PoolingOperands } from './pooling.js';

/** The contract's adaptive pooling parameters, as received (defaults not yet applied). */
export interface AdaptivePoolingParams {
  mode: PoolingMode;
  /** One extent for every spatial dim, or one per dim; null keeps the input's extent. */
  output_size: number | (number | null)[];
  /** Lp only; default 2. */
  p?: number;
  /** Lp only: sum |x|^p (ONNX) instead of x^p (PyTorch); default false. */
  lp_abs?: boolean;
  /** Max only; default false. */
  return_indices?: boolean;
  /** Max with return_indices only: 0 row-major (default), 1 column-major indices. */
  storage_order?: number;
  layout?: LayoutName;
}

/** What the adaptive kernels run from. Plain data. */
export interface AdaptivePoolingGeometry {
  dtype: DType;
  layout: Layout;
  mode: PoolingMode;
  /** Lp: the power p. */
  p: number;
  /** Lp: sum |x|^p (ONNX GlobalLpPool) instead of x^p (PyTorch). */
  lpAbs: boolean;
  /** Max: the forward also answers `indices`. */
  returnIndices: boolean;
  /** Max indices: 0 row-major over the channel's spatial extents (PyTorch), 1 column-major (ONNX storage_order 1). */
  storageOrder: 0 | 1;
  batch: number;
  channels: number;
  inSpatial: number[];
  outSpatial: number[];
  inputShape: number[];
  outputShape: number[];
}

/** PyTorch's window of output `o` of `out` over an input extent `n`: [start, end). */
export function adaptiveWindow(o: number, n: number, out: number): [number, number] {
  return [Math.floor((o * n) / out), Math.ceil(((o + 1) * n) / out)];
}

/** Validates an adaptive pooling request and resolves its geometry; throws GeometryError listing every problem. */
export function resolveAdaptivePooling(
  operands: PoolingOperands,
  params: AdaptivePoolingParams,
): AdaptivePoolingGeometry {
  const p = new Problems();
  const { input, grad_output } = operands;
  const { dtype, rank, shapesOk } = openRequest(p, operands, 'adaptive pooling', () => null);
  const d = rank - 2;
  const layout = resolveLayout(params.layout, rank, p);
  checkModeFields(params, p);
  const channelsLast = layout === 'channels_last';
  const inSpatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  const size = params.output_size;
  const sizes = Array.isArray(size) ? size : Array<number>(d).fill(size);
  if (sizes.length !== d) {
    p.add('output_size', `output_size has ${sizes.length} values but the pooling has ${d} spatial dims`);
  }
  const outSpatial = inSpatial.map((n, i) => {
    const v = sizes[i] ?? n;
    const path = Array.isArray(size) ? `output_size[${i}]` : 'output_size';
    if (!isInt(v) || v < 1 || v > MAX_PARAM) {
      p.add(path, `${path} is ${JSON.stringify(v)}; it must be an integer from 1 to ${MAX_PARAM} or null`);
      return 1;
    }
    return v;
  });
  if (!shapesOk || p.any) throw new GeometryError(p.list);

  const returnIndices = params.return_indices ?? false;
  if (returnIndices) checkIndicesExact(input.dtype, inSpatial, p);
  const batch = input.shape[0];
  const channels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const outputShape = channelsLast ? [batch, ...outSpatial, channels] : [batch, channels, ...outSpatial];
  checkGradOutput(grad_output, outputShape, p);
  if (p.any) throw new GeometryError(p.list);
  return {
    dtype,
    layout,
    mode: params.mode,
    p: params.p ?? 2,
    lpAbs: params.lp_abs ?? false,
    returnIndices,
    storageOrder: params.storage_order === 1 ? 1 : 0,
    batch,
    channels,
    inSpatial,
    outSpatial,
    inputShape: [...input.shape],
    outputShape,
  };
}

/** An adaptive pooling's tensors: input and the pooled output. */
export function adaptivePoolingShapes(g: AdaptivePoolingGeometry): OperandShapes {
  return { input: g.inputShape, output: g.outputShape };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Work and output size from the geometry alone: one operation per window element of every
 * output. Per dim, the window lengths of `out` outputs over `n` sum to n + out - gcd(n, out):
 * each window ends where the next starts, plus one more wherever (o + 1) * n / out is not an
 * integer (ceil and floor differ), which fails for gcd(n, out) of the o + 1 in 1..out.
 */
export function adaptivePoolingWork(g: AdaptivePoolingGeometry, backward: boolean): Work {
  let flops = g.batch * g.channels;
  g.inSpatial.forEach((n, i) => (flops *= n + g.outSpatial[i] - gcd(n, g.outSpatial[i])));
  const outputElements = numel(backward ? g.inputShape : g.outputShape);
  // memory-bound: each window element is a touch, not a GEMM FLOP
  const splitFlops = flops * TOUCH_FLOPS;
  return { flops, splitFlops, outputElements, outputBytes: outputElements * itemSize(g.dtype), workspaceBytes: 0 };
}
