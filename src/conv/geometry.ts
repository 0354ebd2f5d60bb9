/**
 * Conv geometry: the one place where shapes and parameters become extents.
 *
 * `resolveConv` turns a request's tensor shapes and conv parameters into a validated
 * `ConvGeometry` (layout, per-dim stride / dilation / padding, output extents) or throws a
 * `ConvGeometryError` listing every problem with its field path and the numbers involved.
 * The API uses it to validate and to size limits before touching tensor data; the workers use
 * the geometry it returns to run the kernels. Everything here is O(rank): no tensor data.
 */
import { batchHint, layoutHint } from './hints.js';
import type {
  ConvGeometry,
  ConvOperands,
  ConvParams,
  DType,
  FieldError,
  GradName,
  Layout,
  LayoutName,
  Padding,
  PaddingMode,
} from './types.js';

export class ConvGeometryError extends Error {
  readonly errors: FieldError[];
  constructor(errors: FieldError[]) {
    super(errors.map((e) => e.message).join('; '));
    this.name = 'ConvGeometryError';
    this.errors = errors;
  }
}

/** Largest extent, stride, dilation or padding accepted: keeps all index arithmetic exact. */
export const MAX_PARAM = 2 ** 31 - 1;

const LAYOUT_ALIASES: Record<Exclude<LayoutName, Layout>, { layout: Layout; rank: number }> = {
  NCW: { layout: 'channels_first', rank: 3 },
  NWC: { layout: 'channels_last', rank: 3 },
  NCHW: { layout: 'channels_first', rank: 4 },
  NHWC: { layout: 'channels_last', rank: 4 },
  NCDHW: { layout: 'channels_first', rank: 5 },
  NDHWC: { layout: 'channels_last', rank: 5 },
};

const PADDING_MODES: readonly PaddingMode[] = ['zeros', 'reflect', 'replicate', 'circular'];

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const e of shape) n *= e;
  return n;
}

export function itemSize(dtype: DType): 4 | 8 {
  return dtype === 'float32' ? 4 : 8;
}

/** Output extent of one spatial dim (may be < 1 for an invalid request). */
export function outputExtent(inExtent: number, k: number, stride: number, dilation: number, before: number, after: number): number {
  return Math.floor((inExtent + before + after - dilation * (k - 1) - 1) / stride) + 1;
}

/** TensorFlow / ONNX SAME_UPPER: out = ceil(in / stride), the odd pixel of padding goes after. */
export function samePadding(inExtent: number, k: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(inExtent / stride);
  const total = Math.max((out - 1) * stride + dilation * (k - 1) + 1 - inExtent, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Collects problems so a request learns all of them at once, not one per round trip. */
export class Problems {
  readonly list: FieldError[] = [];
  add(path: string, message: string): void {
    this.list.push({ path, message });
  }
  get any(): boolean {
    return this.list.length > 0;
  }
  /** Adds `hint` (if any) to the message of the problem at `index`. */
  hint(index: number, hint: string | null): void {
    const e = this.list[index];
    if (hint && e) this.list[index] = { path: e.path, message: `${e.message}; ${hint}` };
  }
}

/** The layout a layout field names, whatever the rank (resolveLayout checks that): what hints describe shapes in. */
export function layoutFamily(name: unknown): Layout {
  if (name === 'channels_last') return 'channels_last';
  const alias = typeof name === 'string' ? LAYOUT_ALIASES[name as keyof typeof LAYOUT_ALIASES] : undefined;
  return alias?.layout ?? 'channels_first';
}

export function resolveLayout(name: LayoutName | undefined, rank: number, p: Problems): Layout {
  if (name === undefined || name === 'channels_first' || name === 'channels_last') return name ?? 'channels_first';
  const alias = LAYOUT_ALIASES[name];
  if (!alias) {
    p.add('layout', `layout ${JSON.stringify(name)} is not one of channels_first, channels_last, ${Object.keys(LAYOUT_ALIASES).join(', ')}`);
    return 'channels_first';
  }
  if (alias.rank !== rank) p.add('layout', `layout ${name} is for rank-${alias.rank} tensors but input has rank ${rank}`);
  return alias.layout;
}

/**
 * An int or int[d] parameter (stride, dilation; for pooling and transposed convolution also
 * kernel_size, padding, output_padding) as one value per spatial dim, each in [min, MAX_PARAM].
 * Absent or invalid values read as `fallback` (after the problem is recorded).
 */
export function perDim(
  field: string,
  value: number | number[] | undefined,
  d: number,
  p: Problems,
  { min = 1, fallback = 1, op = 'the convolution' }: { min?: number; fallback?: number; op?: string } = {},
): number[] {
  if (value === undefined) return Array(d).fill(fallback);
  const values = typeof value === 'number' ? Array(d).fill(value) : value;
  if (!Array.isArray(values) || values.length !== d) {
    p.add(field, `${field} has ${Array.isArray(values) ? values.length : 'no'} values but ${op} has ${d} spatial dims`);
    return Array(d).fill(fallback);
  }
  values.forEach((v, i) => {
    const path = typeof value === 'number' ? field : `${field}[${i}]`;
    if (!isInt(v) || v < min || v > MAX_PARAM) p.add(path, `${path} is ${v}; it must be an integer from ${min} to ${MAX_PARAM}`);
  });
  return values.map((v) => (isInt(v) && v >= min && v <= MAX_PARAM ? v : fallback));
}

/** Every padding form of the contract, as [before, after] per spatial dim (before SAME). */
function explicitPadding(padding: Padding | undefined, d: number, p: Problems): [number, number][] | 'same' {
  if (padding === undefined || padding === 'valid') return Array.from({ length: d }, () => [0, 0]);
  if (padding === 'same') return 'same';
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
    p.add('padding', `padding ${JSON.stringify(padding)} is not an int, int[${d}], [[before, after]] x ${d}, "valid" or "same"`);
    return Array.from({ length: d }, () => [0, 0]);
  }
  if (padding.length !== d) {
    p.add('padding', `padding has ${padding.length} entries but the convolution has ${d} spatial dims`);
    return Array.from({ length: d }, () => [0, 0]);
  }
  return padding.map((entry, i): [number, number] => {
    if (Array.isArray(entry)) {
      if (entry.length !== 2) {
        p.add(`padding[${i}]`, `padding[${i}] has ${entry.length} values; a pair is [before, after]`);
        return [0, 0];
      }
      return [checkPad(entry[0], `padding[${i}][0]`), checkPad(entry[1], `padding[${i}][1]`)];
    }
    const v = checkPad(entry, `padding[${i}]`);
    return [v, v];
  });
}

export function checkShape(name: string, shape: unknown, p: Problems): shape is number[] {
  if (!Array.isArray(shape)) {
    p.add(`${name}.shape`, `${name}.shape must be an array of extents`);
    return false;
  }
  let ok = true;
  shape.forEach((e, i) => {
    if (!isInt(e) || e < 1 || e > MAX_PARAM) {
      p.add(`${name}.shape[${i}]`, `${name}.shape[${i}] is ${JSON.stringify(e)}; every extent must be an integer from 1 to ${MAX_PARAM}`);
      ok = false;
    }
  });
  return ok;
}

/**
 * Validates a conv request's shapes and parameters and resolves its geometry.
 * Throws ConvGeometryError with every problem found.
 */
export function resolveConv(operands: ConvOperands, params: ConvParams): ConvGeometry {
  return resolveConvChecked(operands, params, true);
}

/** Whether the request resolves: what a layout hint is checked with (no hints of its own). */
function convResolves(operands: ConvOperands, params: ConvParams): boolean {
  try {
    resolveConvChecked(operands, params, false);
    return true;
  } catch (err) {
    if (err instanceof ConvGeometryError) return false;
    throw err;
  }
}

function resolveConvChecked(operands: ConvOperands, params: ConvParams, hints: boolean): ConvGeometry {
  const p = new Problems();
  const { input, weight, bias, grad_output } = operands;
  const dtype = input.dtype;
  for (const [name, t] of Object.entries(operands)) {
    if (t && t.dtype !== dtype) p.add(`${name}.dtype`, `${name}.dtype is ${t.dtype} but input.dtype is ${dtype}; all operands share one dtype`);
  }

  const rank = input.shape.length;
  // one sample without its batch dimension: the weight's rank says what the input's should be
  const missingBatch = () => batchHint(input.shape, weight.shape.length, layoutFamily(params.layout), 'convolution');
  if (rank < 3 || rank > 5) {
    p.add('input.shape', `input.shape has rank ${rank} ([${input.shape.join(', ')}]); a convolution needs rank 3, 4 or 5 (batch, channels and 1-3 spatial dims)`);
    p.hint(p.list.length - 1, missingBatch());
    throw new ConvGeometryError(p.list);
  }
  const inputOk = checkShape('input', input.shape, p);
  const weightOk = checkShape('weight', weight.shape, p);
  if (weight.shape.length !== rank) {
    p.add('weight.shape', `weight.shape has rank ${weight.shape.length} but input has rank ${rank} ([${input.shape.join(', ')}])`);
    p.hint(p.list.length - 1, missingBatch());
  }
  const d = rank - 2;
  const layout = resolveLayout(params.layout, rank, p);
  const stride = perDim('stride', params.stride, d, p);
  const dilation = perDim('dilation', params.dilation, d, p);
  const pads = explicitPadding(params.padding, d, p);
  const paddingMode = params.padding_mode ?? 'zeros';
  if (!PADDING_MODES.includes(paddingMode)) {
    p.add('padding_mode', `padding_mode ${JSON.stringify(paddingMode)} is not one of ${PADDING_MODES.join(', ')}`);
  }
  const groups = params.groups ?? 1;
  if (!isInt(groups) || groups < 1 || groups > MAX_PARAM) p.add('groups', `groups is ${groups}; it must be an integer >= 1`);
  if (!inputOk || !weightOk || p.any) throw new ConvGeometryError(p.list);

  const channelsLast = layout === 'channels_last';
  const batch = input.shape[0];
  const inChannels = channelsLast ? input.shape[rank - 1] : input.shape[1];
  const inSpatial = channelsLast ? input.shape.slice(1, rank - 1) : input.shape.slice(2);
  // channels_first weight [C_out, C_in/groups, *k]; channels_last weight [*k, C_in/groups, C_out]
  const outChannels = channelsLast ? weight.shape[rank - 1] : weight.shape[0];
  const weightInAxis = channelsLast ? rank - 2 : 1;
  const kernel = channelsLast ? weight.shape.slice(0, d) : weight.shape.slice(2);

  // input channels that fit neither the weight nor groups: perhaps the tensors are of the other layout
  let channelProblem = -1;
  if (inChannels % groups !== 0) {
    channelProblem = p.list.length;
    p.add('groups', `groups ${groups} does not divide the ${inChannels} input channels (input.shape[${channelsLast ? rank - 1 : 1}])`);
  }
  if (outChannels % groups !== 0) p.add('groups', `groups ${groups} does not divide the ${outChannels} output channels (weight.shape[${channelsLast ? rank - 1 : 0}])`);
  if (inChannels % groups === 0 && weight.shape[weightInAxis] !== inChannels / groups) {
    channelProblem = p.list.length;
    p.add(`weight.shape[${weightInAxis}]`, `weight.shape[${weightInAxis}] is ${weight.shape[weightInAxis]} but input has ${inChannels} channels / groups ${groups} = ${inChannels / groups}`);
  }
  if (hints && channelProblem >= 0) {
    p.hint(channelProblem, layoutHint(operands, layout, 'conv', (ops, l) => convResolves(ops, { ...params, layout: l })));
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outChannels)) {
    p.add('bias.shape', `bias.shape is [${bias.shape.join(', ')}] but must be [${outChannels}] (the output channels)`);
  }

  const padBefore: number[] = [];
  const padAfter: number[] = [];
  const outSpatial: number[] = [];
  const inAxis = (i: number) => (channelsLast ? 1 + i : 2 + i);
  for (let i = 0; i < d; i++) {
    const [before, after] = pads === 'same' ? samePadding(inSpatial[i], kernel[i], stride[i], dilation[i]) : pads[i];
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
      p.add(path, `padding_mode reflect needs padding < input extent: spatial dim ${i} pads ${before} before and ${after} after but input.shape[${inAxis(i)}] is ${inSpatial[i]}`);
    }
    if (paddingMode === 'circular' && (before > inSpatial[i] || after > inSpatial[i])) {
      p.add(path, `padding_mode circular needs padding <= input extent: spatial dim ${i} pads ${before} before and ${after} after but input.shape[${inAxis(i)}] is ${inSpatial[i]}`);
    }
  }

  const outputShape = channelsLast ? [batch, ...outSpatial, outChannels] : [batch, outChannels, ...outSpatial];
  if (grad_output && !sameShape(grad_output.shape, outputShape)) {
    p.add('grad_output.shape', `grad_output.shape is [${grad_output.shape.join(', ')}] but the forward output is [${outputShape.join(', ')}]`);
  }
  if (p.any) throw new ConvGeometryError(p.list);

  return {
    dtype,
    layout,
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

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export interface ConvWork {
  /** Multiply-adds x 2, the usual FLOP count. */
  flops: number;
  outputElements: number;
  outputBytes: number;
}

/**
 * Work and output size of a request, from its geometry alone, so that limits are checked
 * before any allocation. Forward when `grads` is undefined, else backward for those grads.
 * FLOPs of forward, grad_input and grad_weight are each 2 * N * C_out * prod(out) *
 * (C_in / groups) * prod(k); grad_bias is N * C_out * prod(out) additions.
 */
export function convWork(g: ConvGeometry, grads?: readonly GradName[]): ConvWork {
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
  return { flops, outputElements, outputBytes: outputElements * itemSize(g.dtype) };
}
