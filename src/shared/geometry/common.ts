/**
 * Geometry common to every operation: the one place where shapes and parameters become
 * extents. Each operation's resolver (conv.ts, pooling.ts, transpose.ts) turns a request's
 * tensor shapes and parameters into validated geometry or throws a `GeometryError` listing
 * every problem with its field path and the numbers involved. The API uses it to validate and
 * to size limits before touching tensor data; the workers run the kernels from the geometry it
 * returns. Everything here is O(rank): no tensor data.
 */
import { computeDType, type DType, type TensorMeta } from '../tensor.js';

/** One problem with a request, named by its field path (e.g. `weight.shape[1]`). */
export interface FieldError {
  path: string;
  message: string;
}

export class GeometryError extends Error {
  readonly errors: FieldError[];
  constructor(errors: FieldError[]) {
    super(errors.map((e) => e.message).join('; '));
    this.name = 'GeometryError';
    this.errors = errors;
  }
}

/** The padding modes, in the order the wasm kernels number them (workers/wasm/im2col.ts). */
export const PADDING_MODES = ['zeros', 'reflect', 'replicate', 'circular'] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];

export type Layout = 'channels_first' | 'channels_last';
/** Every layout field value: the two layouts, then their letter aliases (which also fix the rank). */
export const LAYOUT_NAMES = [
  'channels_first',
  'channels_last',
  'NCW',
  'NWC',
  'NCHW',
  'NHWC',
  'NCDHW',
  'NDHWC',
] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

/**
 * Every weight_layout value of a convolution: the "OI" family ([C_out, C_in/groups, *k], PyTorch's
 * at any layout) and the "IO" family ([*k, C_in/groups, C_out], TensorFlow's HWIO), one name per
 * rank (each fixes it).
 */
export const WEIGHT_LAYOUT_NAMES = ['OIW', 'OIHW', 'OIDHW', 'WIO', 'HWIO', 'DHWIO'] as const;
export type WeightLayoutName = (typeof WEIGHT_LAYOUT_NAMES)[number];

/** The weight_layout name of a family at a rank: channels_first is OI*, channels_last *IO. */
export function weightLayoutName(family: Layout, rank: number): WeightLayoutName {
  const names: Record<Layout, WeightLayoutName[]> = {
    channels_first: ['OIW', 'OIHW', 'OIDHW'],
    channels_last: ['WIO', 'HWIO', 'DHWIO'],
  };
  return names[family][rank - 3];
}

/**
 * The weight's layout family (channels_first: OI*, channels_last: *IO): that of `name`, or by
 * default that of the data `layout`. Records a problem when `name` is for another rank.
 */
export function resolveWeightLayout(
  name: WeightLayoutName | undefined,
  layout: Layout,
  rank: number,
  p: Problems,
): Layout {
  if (name === undefined) return layout;
  const index = WEIGHT_LAYOUT_NAMES.indexOf(name);
  if (index < 0) {
    p.add('weight_layout', `weight_layout ${JSON.stringify(name)} is not one of ${WEIGHT_LAYOUT_NAMES.join(', ')}`);
    return layout;
  }
  const family: Layout = index < 3 ? 'channels_first' : 'channels_last';
  if (weightLayoutName(family, rank) !== name)
    p.add(
      'weight_layout',
      `weight_layout ${name} is for rank-${(index % 3) + 3} weights but the weight has rank ${rank}; ${weightLayoutName(family, rank)} is its rank-${rank} name`,
    );
  return family;
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

/** Output extent of one spatial dim (may be < 1 for an invalid request). */
export function outputExtent(
  inExtent: number,
  k: number,
  stride: number,
  dilation: number,
  before: number,
  after: number,
): number {
  return Math.floor((inExtent + before + after - dilation * (k - 1) - 1) / stride) + 1;
}

/** TensorFlow / ONNX SAME_UPPER: out = ceil(in / stride), the odd pixel of padding goes after. */
export function samePadding(inExtent: number, k: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(inExtent / stride);
  const total = Math.max((out - 1) * stride + dilation * (k - 1) + 1 - inExtent, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** ONNX SAME_LOWER: the same total padding as SAME_UPPER (samePadding), the odd pixel before. */
export function sameLowerPadding(inExtent: number, k: number, stride: number, dilation: number): [number, number] {
  const [before, after] = samePadding(inExtent, k, stride, dilation);
  return [after, before];
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
    p.add(
      'layout',
      `layout ${JSON.stringify(name)} is not one of channels_first, channels_last, ${Object.keys(LAYOUT_ALIASES).join(', ')}`,
    );
    return 'channels_first';
  }
  if (alias.rank !== rank)
    p.add('layout', `layout ${name} is for rank-${alias.rank} tensors but input has rank ${rank}`);
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
  if (value === undefined) return Array<number>(d).fill(fallback);
  const values = typeof value === 'number' ? Array<number>(d).fill(value) : value;
  if (!Array.isArray(values) || values.length !== d) {
    p.add(field, `${field} has ${Array.isArray(values) ? values.length : 'no'} values but ${op} has ${d} spatial dims`);
    return Array<number>(d).fill(fallback);
  }
  values.forEach((v, i) => {
    const path = typeof value === 'number' ? field : `${field}[${i}]`;
    if (!isInt(v) || v < min || v > MAX_PARAM)
      p.add(path, `${path} is ${v}; it must be an integer from ${min} to ${MAX_PARAM}`);
  });
  return values.map((v) => (isInt(v) && v >= min && v <= MAX_PARAM ? v : fallback));
}

/** Every extent of `shape` is an integer from 1 to MAX_PARAM; with `batch`, the first (N) may be 0 (an empty batch). */
export function checkShape(name: string, shape: unknown, p: Problems, { batch = false } = {}): shape is number[] {
  if (!Array.isArray(shape)) {
    p.add(`${name}.shape`, `${name}.shape must be an array of extents`);
    return false;
  }
  let ok = true;
  shape.forEach((e, i) => {
    if (!isInt(e) || e < (batch && i === 0 ? 0 : 1) || e > MAX_PARAM) {
      p.add(
        `${name}.shape[${i}]`,
        `${name}.shape[${i}] is ${JSON.stringify(e)}; every extent must be an integer from 1 to ${MAX_PARAM}${batch ? ' (the batch, shape[0], from 0)' : ''}`,
      );
      ok = false;
    }
  });
  return ok;
}

/**
 * The checks every resolver opens with, in this order: each operand's dtype is input's; input's
 * rank is 3 to 5 (else it throws at once, with `missingBatch`'s hint: an operation `needs` that
 * rank); input's extents; and, when there is a weight, its extents and its rank equal to input's
 * (with the same hint). Returns the dtype the kernels compute in, the rank and whether every
 * extent is valid.
 */
export function openRequest(
  p: Problems,
  operands: { input: TensorMeta; weight?: TensorMeta },
  needs: string,
  missingBatch: () => string | null,
): { dtype: DType; rank: number; shapesOk: boolean } {
  const { input, weight } = operands;
  for (const [name, t] of Object.entries(operands as Record<string, TensorMeta | undefined>)) {
    if (t && t.dtype !== input.dtype)
      p.add(
        `${name}.dtype`,
        `${name}.dtype is ${t.dtype} but input.dtype is ${input.dtype}; all operands share one dtype`,
      );
  }
  const rank = input.shape.length;
  if (rank < 3 || rank > 5) {
    p.add(
      'input.shape',
      `input.shape has rank ${rank} ([${input.shape.join(', ')}]); ${needs} needs rank 3, 4 or 5 (batch, channels and 1-3 spatial dims)`,
    );
    p.hint(p.list.length - 1, missingBatch());
    throw new GeometryError(p.list);
  }
  let shapesOk = checkShape('input', input.shape, p, { batch: true });
  if (weight) {
    shapesOk = checkShape('weight', weight.shape, p) && shapesOk;
    if (weight.shape.length !== rank) {
      p.add(
        'weight.shape',
        `weight.shape has rank ${weight.shape.length} but input has rank ${rank} ([${input.shape.join(', ')}])`,
      );
      p.hint(p.list.length - 1, missingBatch());
    }
  }
  return { dtype: computeDType(input.dtype), rank, shapesOk };
}

/** Whether `attempt` resolves, i.e. throws no GeometryError (what a layout hint is checked with). */
export function resolves(attempt: () => unknown): boolean {
  try {
    attempt();
    return true;
  } catch (err) {
    if (err instanceof GeometryError) return false;
    throw err;
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A backward request's grad_output must have the forward output's shape. */
export function checkGradOutput(gradOutput: TensorMeta | undefined, outputShape: readonly number[], p: Problems): void {
  if (gradOutput && !sameShape(gradOutput.shape, outputShape)) {
    p.add(
      'grad_output.shape',
      `grad_output.shape is [${gradOutput.shape.join(', ')}] but the forward output is [${outputShape.join(', ')}]`,
    );
  }
}

/** The shapes of an operation's tensors in its own field names: what its output and gradients are shaped like. */
export interface OperandShapes {
  input: number[];
  output: number[];
  weight?: number[];
  bias?: number[];
}

/** Work and output size of a request, from its geometry alone (limits are checked before any allocation). */
export interface Work {
  /** Multiply-adds x 2, the usual FLOP count; for pooling, unfold and fold, their element touches (one each). */
  flops: number;
  /**
   * What the split threshold (CONVD_SPLIT_MIN_FLOPS, src/split.ts) weighs the request as, in
   * FLOPs of a convolution: `flops` for the operations that run on the GEMM engines, and
   * TOUCH_FLOPS per element touch for those whose time is their memory traffic.
   */
  splitFlops: number;
  outputElements: number;
  outputBytes: number;
  /**
   * Bytes each task of the request allocates beyond its results and the thread's own scratch:
   * a convolution's weight sent in the other layout family (weight_layout) is permuted into a
   * copy, and so is its grad_weight (workers/kernels/weight-layout.ts). 0 for everything else.
   */
  workspaceBytes: number;
}

/**
 * What one element touch of pooling, unfold or fold (a read, compare or add in the scalar
 * TypeScript loops, with its share of the im2col gather) counts as against the split threshold,
 * which was chosen for convolutions (docs/performance.md). On one thread a touch takes 2-6 ns
 * (fold fastest, max pool backward slowest), a convolution FLOP 0.05 ns on the WebAssembly
 * engine the threshold was set on (0.015 ns on native). Counted as one FLOP, the default 1e7
 * would let a pooling run 20-60 ms on one thread before splitting, and an unfold or fold (at most
 * CONVD_MAX_TENSOR_ELEMENTS columns) would split only within a factor 1.7 of the tensor limit.
 * Split over two threads, max pooling and unfold of 74k touches lost or broke even (0.82-1.15x),
 * of 295k gained 1.0-1.6x, of 1.2M and more 1.2-1.8x: at 50 FLOPs a touch the default threshold
 * is 2e5 touches, between the two.
 */
export const TOUCH_FLOPS = 50;
