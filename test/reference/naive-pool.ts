/**
 * Naive reference pooling, written straight from the definitions in float64.
 *
 * Deliberately independent of src/ and workers/: it resolves the contract's pooling
 * parameters itself and evaluates every output element by walking its window element by
 * element. Per spatial dim, window element j < k of output o sits at o * stride - before +
 * j * dilation; it is inside when in [0, in), in the padded input when in [-before, in + after).
 *   max   over the window's inside elements, in row-major window order, starting from -inf at
 *         the first inside element; an element replaces the maximum when it is greater or NaN
 *         (PyTorch's MaxPoolKernel.cpp). Its index is its flat spatial position, row-major or
 *         with storage_order 1 column-major (ONNX MaxPool), -1 when the window has no inside element. The backward adds dy to that element.
 *   avg   the sum of the inside elements divided by divisor_override, else by the number of
 *         window elements in the padded input (count_include_pad, PyTorch's AvgPoolKernel.cpp
 *         clips the window to in + padding) or inside the input; the backward adds
 *         dy / divisor to every inside element.
 *   lp    S = sum of x^p over the inside elements, y = S^(1/p) (PyTorch's lp_pool:
 *         (sign(T) relu(|T|) k)^(1/p) with T = avg_pool(x^p), for whole windows); the backward
 *         is the chain rule, dy S^(1/p - 1) x^(p-1) per inside element (0 where S = 0, where
 *         PyTorch's relu passes none). With lp_abs, ONNX LpPool's |x|^p for x^p, and
 *         |x|^(p-1) sign(x) for x^(p-1), 0 at x = 0 (sign(0) = 0).
 * Output extents: PyTorch's pooling_output_shape (floor, or ceil without a last window that
 * starts in the right padding); "same" / "same_lower" as ONNX SAME_UPPER / SAME_LOWER.
 * Rank 1 and 2 are handled as rank 3 with leading singleton spatial dims.
 */
import type { RefLayoutName, RefResult } from './naive-conv.js';

export type RefPoolMode = 'max' | 'avg' | 'lp';

export interface RefPoolParams {
  mode: RefPoolMode;
  kernel_size: number | number[];
  stride?: number | number[];
  padding?: number | number[] | [number, number][] | 'valid' | 'same' | 'same_lower';
  dilation?: number | number[];
  ceil_mode?: boolean;
  count_include_pad?: boolean;
  divisor_override?: number | null;
  p?: number;
  lp_abs?: boolean;
  return_indices?: boolean;
  storage_order?: number;
  layout?: RefLayoutName;
}

export interface RefPoolGeom {
  mode: RefPoolMode;
  countIncludePad: boolean;
  divisorOverride: number | null;
  p: number;
  /** Lp: sum |x|^p (ONNX LpPool) instead of x^p. */
  lpAbs: boolean;
  /** Indices: 0 row-major, 1 column-major (ONNX storage_order). */
  storageOrder: number;
  channelsLast: boolean;
  batch: number;
  channels: number;
  /** Per spatial dim, padded to 3 with leading 1s (and stride 1, padding 0, dilation 1). */
  in3: number[];
  k3: number[];
  out3: number[];
  stride3: number[];
  before3: number[];
  after3: number[];
  dil3: number[];
  inputShape: number[];
  outputShape: number[];
}

const CHANNELS_LAST = new Set(['channels_last', 'NWC', 'NHWC', 'NDHWC']);

function list(v: number | number[] | undefined, d: number, dflt: number[]): number[] {
  if (v === undefined) return dflt.slice();
  if (typeof v === 'number') return new Array<number>(d).fill(v);
  if (v.length !== d) throw new Error(`ref: ${v.length} values for ${d} spatial dims`);
  return v.slice();
}

const pad3 = (v: number[], fill: number) => [...new Array<number>(3 - v.length).fill(fill), ...v];

/** [before, after] per dim of a padding field. */
function pads(p: RefPoolParams, inSp: number[], k: number[], stride: number[], dil: number[]): [number, number][] {
  const padding = p.padding ?? 0;
  if (padding === 'valid') return inSp.map(() => [0, 0]);
  if (padding === 'same' || padding === 'same_lower') {
    return inSp.map((n, i) => {
      const out = Math.ceil(n / stride[i]);
      const total = Math.max(0, (out - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 - n);
      const small = Math.floor(total / 2);
      return padding === 'same' ? [small, total - small] : [total - small, small];
    });
  }
  if (typeof padding === 'number') return inSp.map(() => [padding, padding]);
  if (padding.length !== inSp.length) throw new Error('ref: padding length');
  return padding.map((e) => (Array.isArray(e) ? [e[0], e[1]] : [e, e]));
}

/** Resolve a pooling request; throws on anything the contract refuses. */
export function refPoolGeometry(inputShape: number[], p: RefPoolParams): RefPoolGeom {
  const r = inputShape.length;
  if (r < 3 || r > 5) throw new Error(`ref: rank ${r}`);
  const d = r - 2;
  const cl = CHANNELS_LAST.has(p.layout ?? 'channels_first');
  const k = list(p.kernel_size, d, []);
  const stride = list(p.stride, d, k);
  const dil = list(p.dilation, d, new Array<number>(d).fill(1));
  const inSp = cl ? inputShape.slice(1, r - 1) : inputShape.slice(2);
  const pd = pads(p, inSp, k, stride, dil);
  const outSp = inSp.map((n, i) => {
    const [before, after] = pd[i];
    const extent = dil[i] * (k[i] - 1) + 1;
    if (before >= extent || after >= extent) throw new Error('ref: padding past the window');
    const span = (n + before + after - extent) / stride[i];
    let o = (p.ceil_mode ? Math.ceil(span) : Math.floor(span)) + 1;
    // PyTorch: with ceil_mode the last window must start inside the input or the left padding
    if (p.ceil_mode && (o - 1) * stride[i] >= n + before) o--;
    if (o < 1) throw new Error(`ref: output extent ${o}`);
    return o;
  });
  const batch = inputShape[0];
  const channels = cl ? inputShape[r - 1] : inputShape[1];
  return {
    mode: p.mode,
    countIncludePad: p.count_include_pad ?? true,
    divisorOverride: p.divisor_override ?? null,
    p: p.p ?? 2,
    lpAbs: p.lp_abs ?? false,
    storageOrder: p.storage_order ?? 0,
    channelsLast: cl,
    batch,
    channels,
    in3: pad3(inSp, 1),
    k3: pad3(k, 1),
    out3: pad3(outSp, 1),
    stride3: pad3(stride, 1),
    before3: pad3(
      pd.map((e) => e[0]),
      0,
    ),
    after3: pad3(
      pd.map((e) => e[1]),
      0,
    ),
    dil3: pad3(dil, 1),
    inputShape: inputShape.slice(),
    outputShape: cl ? [batch, ...outSp, channels] : [batch, channels, ...outSp],
  };
}

/** Flat index of (n, c, i0, i1, i2) in a tensor of spatial extents `sp` in the geometry's layout. */
function indexer(g: RefPoolGeom, sp: number[]): (n: number, c: number, i0: number, i1: number, i2: number) => number {
  const C = g.channels;
  if (g.channelsLast) return (n, c, i0, i1, i2) => (((n * sp[0] + i0) * sp[1] + i1) * sp[2] + i2) * C + c;
  return (n, c, i0, i1, i2) => (((n * C + c) * sp[0] + i0) * sp[1] + i1) * sp[2] + i2;
}

/**
 * The flat spatial position of (i0, i1, i2) over extents `ext`: row-major (the last dim
 * fastest: PyTorch's, ONNX storage_order 0) or column-major (the first dim fastest: ONNX
 * storage_order 1); leading dims of extent 1 add nothing either way.
 */
function flatSpatial(ext: number[], at: number[], storageOrder: number): number {
  let index = 0;
  let step = 1;
  const dims = storageOrder === 1 ? [0, 1, 2] : [2, 1, 0];
  for (const a of dims) {
    index += at[a] * step;
    step *= ext[a];
  }
  return index;
}

interface Window {
  /** Output element index. */
  yi: number;
  /** Input indices of the window's elements inside the input, in row-major window order. */
  inside: number[];
  /** Their flat spatial positions (PyTorch's indices). */
  spatial: number[];
  /** The avg divisor. */
  divisor: number;
}

function forEachWindow(g: RefPoolGeom, visit: (w: Window) => void): void {
  const xAt = indexer(g, g.in3);
  const yAt = indexer(g, g.out3);
  const inPadded = (a: number, i: number) => i >= -g.before3[a] && i < g.in3[a] + g.after3[a];
  const isInside = (a: number, i: number) => i >= 0 && i < g.in3[a];
  for (let n = 0; n < g.batch; n++) {
    for (let c = 0; c < g.channels; c++) {
      for (let o0 = 0; o0 < g.out3[0]; o0++)
        for (let o1 = 0; o1 < g.out3[1]; o1++)
          for (let o2 = 0; o2 < g.out3[2]; o2++) {
            const inside: number[] = [];
            const spatial: number[] = [];
            let padded = 0;
            for (let k0 = 0; k0 < g.k3[0]; k0++) {
              const i0 = o0 * g.stride3[0] - g.before3[0] + k0 * g.dil3[0];
              for (let k1 = 0; k1 < g.k3[1]; k1++) {
                const i1 = o1 * g.stride3[1] - g.before3[1] + k1 * g.dil3[1];
                for (let k2 = 0; k2 < g.k3[2]; k2++) {
                  const i2 = o2 * g.stride3[2] - g.before3[2] + k2 * g.dil3[2];
                  if (inPadded(0, i0) && inPadded(1, i1) && inPadded(2, i2)) padded++;
                  if (!isInside(0, i0) || !isInside(1, i1) || !isInside(2, i2)) continue;
                  inside.push(xAt(n, c, i0, i1, i2));
                  spatial.push(flatSpatial(g.in3, [i0, i1, i2], g.storageOrder));
                }
              }
            }
            const divisor = g.divisorOverride ?? (g.countIncludePad ? padded : inside.length);
            visit({ yi: yAt(n, c, o0, o1, o2), inside, spatial, divisor });
          }
    }
  }
}

type Num = ArrayLike<number>;

/** PyTorch's max: [value, position in `inside` or -1]. */
function windowMax(x: Num, inside: number[]): [number, number] {
  let max = -Infinity;
  let arg = inside.length > 0 ? 0 : -1;
  inside.forEach((i, at) => {
    const v = x[i];
    if (v > max || Number.isNaN(v)) {
      max = v;
      arg = at;
    }
  });
  return [max, arg];
}

/** The lp term of one element: x^p (PyTorch) or |x|^p (lp_abs, ONNX LpPool). */
const lpTerm = (v: number, p: number, abs: boolean) => (abs ? Math.abs(v) ** p : v ** p);

/** d(term)/dx / p: x^(p-1), or |x|^(p-1) sign(x) with lp_abs (0 at x = 0, where sign is 0). */
const lpSlope = (v: number, p: number, abs: boolean) =>
  !abs ? v ** (p - 1) : v > 0 ? v ** (p - 1) : v < 0 ? -((-v) ** (p - 1)) : Number.isNaN(v) ? NaN : 0;

const powerSum = (x: Num, inside: number[], p: number, abs: boolean) =>
  inside.reduce((s, i) => s + lpTerm(x[i], p, abs), 0);

const prod = (a: number[]) => a.reduce((s, v) => s * v, 1);

type Walk = (visit: (w: Window) => void) => void;

/** The rules of each mode over the windows `walk` visits: the forward with the tolerance rule's abs-bound and term count (max: exact, abs-bound 0), and max's indices. */
function windowForward(
  g: { mode: RefPoolMode; p: number; lpAbs: boolean },
  n: number,
  walk: Walk,
  x: Num,
): RefResult & { indices: Float64Array } {
  const ref = new Float64Array(n);
  const absBound = new Float64Array(n);
  const indices = new Float64Array(n).fill(-1);
  let nTerms = 1;
  walk(({ yi, inside, spatial, divisor }) => {
    if (g.mode === 'max') {
      const [max, arg] = windowMax(x, inside);
      ref[yi] = max;
      if (arg >= 0) indices[yi] = spatial[arg];
      return;
    }
    if (g.mode === 'lp') {
      const s = powerSum(x, inside, g.p, g.lpAbs);
      ref[yi] = Math.pow(s, 1 / g.p);
      // y's rounding error: |y| / p times the relative error of S, which is at most n eps sum |x|^p / |S|
      const magnitudes = inside.reduce((sum, i) => sum + Math.pow(Math.abs(x[i]), g.p), 0);
      absBound[yi] = s === 0 ? 0 : (Math.abs(ref[yi]) * magnitudes) / Math.abs(s);
      nTerms = Math.max(nTerms, 2 * inside.length + 2);
      return;
    }
    let sum = 0;
    let abs = 0;
    for (const i of inside) {
      sum += x[i];
      abs += Math.abs(x[i]);
    }
    ref[yi] = sum / divisor;
    absBound[yi] = Math.abs(abs / divisor);
    nTerms = Math.max(nTerms, inside.length + 1);
  });
  return { ref, absBound, nTerms, indices };
}

/** grad_input of sum(pool(x) * dy) over the windows `walk` visits, with abs-bound and term count. */
function windowBackward(
  g: { mode: RefPoolMode; p: number; lpAbs: boolean },
  n: number,
  walk: Walk,
  x: Num,
  dy: Num,
): RefResult {
  const ref = new Float64Array(n);
  const absBound = new Float64Array(n);
  const terms = new Float64Array(n);
  walk(({ yi, inside, divisor }) => {
    if (g.mode === 'max') {
      const arg = windowMax(x, inside)[1];
      if (arg < 0) return;
      ref[inside[arg]] += dy[yi];
      absBound[inside[arg]] += Math.abs(dy[yi]);
      terms[inside[arg]] += 1;
      return;
    }
    if (g.mode === 'lp') {
      const s = powerSum(x, inside, g.p, g.lpAbs);
      const scale = s === 0 ? 0 : dy[yi] * Math.pow(s, 1 / g.p - 1);
      for (const i of inside) {
        const v = scale * lpSlope(x[i], g.p, g.lpAbs);
        ref[i] += v;
        absBound[i] += Math.abs(v);
        terms[i] += 2 * inside.length + 4;
      }
      return;
    }
    for (const i of inside) {
      ref[i] += dy[yi] / divisor;
      absBound[i] += Math.abs(dy[yi] / divisor);
      terms[i] += 2; // a division and an addition
    }
  });
  let nTerms = 1;
  for (const t of terms) nTerms = Math.max(nTerms, t);
  return { ref, absBound, nTerms };
}

/** Forward of the window pooling. */
export function referencePoolForward(g: RefPoolGeom, x: Num): RefResult & { indices: Float64Array } {
  return windowForward(g, prod(g.outputShape), (visit) => forEachWindow(g, visit), x);
}

/** grad_input of sum(pool(x) * dy) of the window pooling. */
export function referencePoolBackward(g: RefPoolGeom, x: Num, dy: Num): RefResult {
  return windowBackward(g, prod(g.inputShape), (visit) => forEachWindow(g, visit), x, dy);
}

/**
 * Adaptive pooling from PyTorch's definition (AdaptiveMaxPoolKernel.cpp, AdaptiveAvgPoolKernel.cpp):
 * per spatial dim, output o of `out` pools input [floor(o * in / out), ceil((o + 1) * in / out));
 * a null output_size entry keeps the input extent. Lp over the same windows as above.
 */
export interface RefAdaptiveParams {
  mode: RefPoolMode;
  output_size: number | (number | null)[];
  p?: number;
  lp_abs?: boolean;
  return_indices?: boolean;
  storage_order?: number;
  layout?: RefLayoutName;
}

/** An adaptive pooling resolved: extents padded to 3 as RefPoolGeom's. */
export interface RefAdaptiveGeom {
  mode: RefPoolMode;
  p: number;
  lpAbs: boolean;
  storageOrder: number;
  channelsLast: boolean;
  batch: number;
  channels: number;
  in3: number[];
  out3: number[];
  inputShape: number[];
  outputShape: number[];
}

export function refAdaptiveGeometry(inputShape: number[], p: RefAdaptiveParams): RefAdaptiveGeom {
  const r = inputShape.length;
  const d = r - 2;
  const cl = CHANNELS_LAST.has(p.layout ?? 'channels_first');
  const inSp = cl ? inputShape.slice(1, r - 1) : inputShape.slice(2);
  const sizes = Array.isArray(p.output_size) ? p.output_size : new Array<number>(d).fill(p.output_size);
  if (sizes.length !== d) throw new Error('ref: output_size length');
  const outSp = sizes.map((v, i) => v ?? inSp[i]);
  const batch = inputShape[0];
  const channels = cl ? inputShape[r - 1] : inputShape[1];
  return {
    mode: p.mode,
    p: p.p ?? 2,
    lpAbs: p.lp_abs ?? false,
    storageOrder: p.storage_order ?? 0,
    channelsLast: cl,
    batch,
    channels,
    in3: pad3(inSp, 1),
    out3: pad3(outSp, 1),
    inputShape: inputShape.slice(),
    outputShape: cl ? [batch, ...outSp, channels] : [batch, channels, ...outSp],
  };
}

function forEachAdaptiveWindow(g: RefAdaptiveGeom, visit: (w: Window) => void): void {
  const asPool = { channels: g.channels, channelsLast: g.channelsLast } as RefPoolGeom;
  const xAt = indexer(asPool, g.in3);
  const yAt = indexer(asPool, g.out3);
  const range = (a: number, o: number) => {
    const start = Math.floor((o * g.in3[a]) / g.out3[a]);
    const end = Math.ceil(((o + 1) * g.in3[a]) / g.out3[a]);
    return Array.from({ length: end - start }, (_, j) => start + j);
  };
  for (let n = 0; n < g.batch; n++)
    for (let c = 0; c < g.channels; c++)
      for (let o0 = 0; o0 < g.out3[0]; o0++)
        for (let o1 = 0; o1 < g.out3[1]; o1++)
          for (let o2 = 0; o2 < g.out3[2]; o2++) {
            const inside: number[] = [];
            const spatial: number[] = [];
            for (const i0 of range(0, o0))
              for (const i1 of range(1, o1))
                for (const i2 of range(2, o2)) {
                  inside.push(xAt(n, c, i0, i1, i2));
                  spatial.push(flatSpatial(g.in3, [i0, i1, i2], g.storageOrder));
                }
            visit({ yi: yAt(n, c, o0, o1, o2), inside, spatial, divisor: inside.length });
          }
}

/** The window pooling's forward rules over the adaptive windows. */
export function referenceAdaptiveForward(g: RefAdaptiveGeom, x: Num): RefResult & { indices: Float64Array } {
  return windowForward(g, prod(g.outputShape), (visit) => forEachAdaptiveWindow(g, visit), x);
}

/** The window pooling's backward rules over the adaptive windows. */
export function referenceAdaptiveBackward(g: RefAdaptiveGeom, x: Num, dy: Num): RefResult {
  return windowBackward(g, prod(g.inputShape), (visit) => forEachAdaptiveWindow(g, visit), x, dy);
}
