/**
 * The bench's problems: the reference shapes S1-S6 (written channels_first), the variants
 * they run in (dtype and layout), the small shapes every implementation is checked on, FLOP
 * counts and reduced problems for implementations too slow to time at full size.
 */
import { convWork, resolveConv } from '../src/shared/geometry/conv.js';
import type { ConvGeometry, ConvParams } from '../src/shared/geometry/conv.js';
import type { Layout } from '../src/shared/geometry/common.js';
import type { DType, Real } from '../src/shared/tensor.js';

export interface Shape {
  name: string;
  what: string;
  input: number[];
  weight: number[];
  params: ConvParams;
}

export const SHAPES: Shape[] = [
  {
    name: 'S1',
    what: 'N8 C64 56x56 -> 64 k3 s1 p1',
    input: [8, 64, 56, 56],
    weight: [64, 64, 3, 3],
    params: { padding: 1 },
  },
  {
    name: 'S2',
    what: 'N8 C3 224x224 -> 64 k7 s2 p3',
    input: [8, 3, 224, 224],
    weight: [64, 3, 7, 7],
    params: { stride: 2, padding: 3 },
  },
  { name: 'S3', what: 'N8 C256 28x28 -> 128 k1', input: [8, 256, 28, 28], weight: [128, 256, 1, 1], params: {} },
  {
    name: 'S4',
    what: 'N8 C128 56x56 depthwise k3 p1',
    input: [8, 128, 56, 56],
    weight: [128, 1, 3, 3],
    params: { groups: 128, padding: 1 },
  },
  { name: 'S5', what: 'N32 C1 28x28 -> 32 k5', input: [32, 1, 28, 28], weight: [32, 1, 5, 5], params: {} },
  {
    name: 'S6',
    what: 'N8 C256 14x14 -> 512 k3 s2 p1',
    input: [8, 256, 14, 14],
    weight: [512, 256, 3, 3],
    params: { stride: 2, padding: 1 },
  },
];

/** Small shapes on which every implementation's output is compared with ours once per run. */
export const CHECK_SHAPES: Shape[] = [
  // stride 2 with a remainder ((12 + 2 - 3) % 2 = 1): exercises ConvTranspose's output_padding
  {
    name: 'V1',
    what: 'N2 C5 12x10 -> 6 k3 s2 p1',
    input: [2, 5, 12, 10],
    weight: [6, 5, 3, 3],
    params: { stride: 2, padding: 1 },
  },
  {
    name: 'V2',
    what: 'N2 C6 9x9 depthwise k3 p1',
    input: [2, 6, 9, 9],
    weight: [6, 1, 3, 3],
    params: { groups: 6, padding: 1 },
  },
];

export type Op = 'forward' | 'grad_input' | 'grad_weight';
export const OPS: Op[] = ['forward', 'grad_input', 'grad_weight'];

/** The dtype and layout a shape runs in: every table row belongs to one. */
export interface Variant {
  dtype: DType;
  layout: Layout;
}
export const DTYPES: DType[] = ['float32', 'float64'];
export const LAYOUTS: Layout[] = ['channels_first', 'channels_last'];
export const FLOAT32_NCHW: Variant = { dtype: 'float32', layout: 'channels_first' };

export function variantName(v: Variant): string {
  return `${v.dtype} ${v.layout}`;
}

/**
 * The geometry of a shape (written channels_first: input NCHW, weight OIHW) in a variant:
 * channels_last takes convd's channels_last tensors, input NHWC and weight HWIO.
 */
export function geometry(shape: Pick<Shape, 'input' | 'weight' | 'params'>, v: Variant = FLOAT32_NCHW): ConvGeometry {
  const last = v.layout === 'channels_last';
  const [n, c, ...sp] = shape.input;
  const [o, i, ...k] = shape.weight;
  return resolveConv(
    {
      input: { dtype: v.dtype, shape: last ? [n, ...sp, c] : shape.input },
      weight: { dtype: v.dtype, shape: last ? [...k, i, o] : shape.weight },
    },
    { ...shape.params, layout: v.layout },
  );
}

/** FLOPs of one op: 2 * N * C_out * prod(out) * (C_in / groups) * prod(k) for each of the three. */
export function opFlops(g: ConvGeometry, op: Op): number {
  return convWork(g, op === 'forward' ? undefined : [op === 'grad_input' ? 'input' : 'weight']).flops;
}

export function isDepthwise(g: ConvGeometry): boolean {
  return g.groups > 1 && g.groups === g.inChannels;
}

/** One problem an implementation is timed on: a shape (maybe reduced) and its operands in the variant's dtype and layout. */
export interface Problem {
  shape: Shape;
  /** How the problem was reduced from the shape ('' for the full shape). */
  reduced: string;
  g: ConvGeometry;
  x: Real;
  w: Real;
  /** The output gradient (also the forward output buffer's shape). */
  dy: Real;
}

export function random(n: number, dtype: DType = 'float32'): Real {
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

export function problem(
  shape: Shape,
  v: Variant = FLOAT32_NCHW,
  reduced = '',
  reducedShape: Pick<Shape, 'input' | 'weight' | 'params'> = shape,
): Problem {
  const g = geometry(reducedShape, v);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return {
    shape,
    reduced,
    g,
    x: random(size(g.inputShape), v.dtype),
    w: random(size(g.weightShape), v.dtype),
    dy: random(size(g.outputShape), v.dtype),
  };
}

/** The problem's operands as float32, for the peers that take nothing else (they declare other variants unsupported). */
export function float32(p: Problem): { x: Float32Array; w: Float32Array; dy: Float32Array } {
  const { x, w, dy } = p;
  if (!(x instanceof Float32Array && w instanceof Float32Array && dy instanceof Float32Array))
    throw new Error(`${p.shape.name} is ${p.g.dtype}; this implementation runs float32 only`);
  return { x, w, dy };
}

/**
 * The full shape, then smaller versions of it for implementations too slow to time at full
 * size: batch 1, then batch 1 with an eighth of the output channels (of all channels for a
 * depthwise conv). Their GFLOP/s stand for the full shape's when the implementation's speed
 * does not depend on the problem size (scalar loops); the table marks them.
 */
export function reductions(shape: Shape): { reduced: string; shape: Pick<Shape, 'input' | 'weight' | 'params'> }[] {
  const out = [{ reduced: '', shape: shape as Pick<Shape, 'input' | 'weight' | 'params'> }];
  const [n, cin, ...inSpatial] = shape.input;
  const [cout, cinG, ...k] = shape.weight;
  if (n > 1) out.push({ reduced: 'N1', shape: { ...shape, input: [1, cin, ...inSpatial] } });
  const g = geometry(shape);
  if (isDepthwise(g)) {
    const c = Math.max(1, Math.ceil(cin / 8));
    const mult = cout / cin;
    if (c < cin)
      out.push({
        reduced: `N1 C${c}`,
        shape: { input: [1, c, ...inSpatial], weight: [c * mult, 1, ...k], params: { ...shape.params, groups: c } },
      });
  } else if (g.groups === 1) {
    const c = Math.max(1, Math.ceil(cout / 8));
    if (c < cout)
      out.push({
        reduced: `N1 C_out${c}`,
        shape: { input: [1, cin, ...inSpatial], weight: [c, cinG, ...k], params: shape.params },
      });
  }
  return out;
}
