/**
 * Naive reference pooling, written straight from PyTorch's definition in float64.
 *
 * Deliberately independent of src/ and workers/: it resolves the contract's pooling
 * parameters itself and evaluates every output element by walking its window, as PyTorch's
 * CPU kernels (MaxPoolKernel.cpp, AvgPoolKernel.cpp, ceil_mode=False) do:
 *   max   over the window's elements inside the input, in row-major window order, starting
 *         from -inf at the first inside element; an element replaces the maximum when it is
 *         greater or NaN. The backward adds dy to that element (none when the window has no
 *         element inside the input).
 *   avg   the sum of the inside elements divided by the window size clipped to the padded
 *         input (count_include_pad) or by the number of inside elements; the backward adds
 *         dy / divisor to every inside element.
 * Rank 1 and 2 are handled as rank 3 with leading singleton spatial dims.
 */
import type { RefLayoutName, RefResult } from './naive-conv.js';

export type RefPoolMode = 'max' | 'avg';

export interface RefPoolParams {
  mode: RefPoolMode;
  kernel_size: number | number[];
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  count_include_pad?: boolean;
  layout?: RefLayoutName;
}

export interface RefPoolGeom {
  mode: RefPoolMode;
  countIncludePad: boolean;
  channelsLast: boolean;
  batch: number;
  channels: number;
  /** Per spatial dim, padded to 3 with leading 1s (and stride 1, padding 0, dilation 1). */
  in3: number[];
  k3: number[];
  out3: number[];
  stride3: number[];
  pad3: number[];
  dil3: number[];
  inputShape: number[];
  outputShape: number[];
}

const CHANNELS_LAST = new Set(['channels_last', 'NWC', 'NHWC', 'NDHWC']);

function list(v: number | number[] | undefined, d: number, dflt: number[]): number[] {
  if (v === undefined) return dflt.slice();
  if (typeof v === 'number') return new Array(d).fill(v);
  if (v.length !== d) throw new Error(`ref: ${v.length} values for ${d} spatial dims`);
  return v.slice();
}

const pad3 = (v: number[], fill: number) => [...new Array(3 - v.length).fill(fill), ...v];

/** Resolve a pooling request; throws on anything PyTorch would refuse. */
export function refPoolGeometry(inputShape: number[], p: RefPoolParams): RefPoolGeom {
  const r = inputShape.length;
  if (r < 3 || r > 5) throw new Error(`ref: rank ${r}`);
  const d = r - 2;
  const cl = CHANNELS_LAST.has(p.layout ?? 'channels_first');
  const k = list(p.kernel_size, d, []);
  const stride = list(p.stride, d, k);
  const pad = list(p.padding, d, new Array(d).fill(0));
  const dil = list(p.dilation, d, new Array(d).fill(1));
  if (p.mode === 'avg' && dil.some((v) => v !== 1)) throw new Error('ref: avg pooling has no dilation');
  const inSp = cl ? inputShape.slice(1, r - 1) : inputShape.slice(2);
  const outSp = inSp.map((n, i) => {
    if (pad[i] > Math.floor(k[i] / 2)) throw new Error('ref: padding > kernel_size / 2');
    const o = Math.floor((n + 2 * pad[i] - dil[i] * (k[i] - 1) - 1) / stride[i]) + 1;
    if (o < 1) throw new Error(`ref: output extent ${o}`);
    return o;
  });
  const batch = inputShape[0];
  const channels = cl ? inputShape[r - 1] : inputShape[1];
  return {
    mode: p.mode,
    countIncludePad: p.count_include_pad ?? true,
    channelsLast: cl,
    batch,
    channels,
    in3: pad3(inSp, 1),
    k3: pad3(k, 1),
    out3: pad3(outSp, 1),
    stride3: pad3(stride, 1),
    pad3: pad3(pad, 0),
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

interface Window {
  /** Output element index. */
  yi: number;
  /** Input indices of the window's elements inside the input, in row-major window order. */
  inside: number[];
  /** PyTorch's divisor for avg pooling. */
  divisor: number;
}

function forEachWindow(g: RefPoolGeom, visit: (w: Window) => void): void {
  const xAt = indexer(g, g.in3);
  const yAt = indexer(g, g.out3);
  for (let n = 0; n < g.batch; n++) {
    for (let c = 0; c < g.channels; c++) {
      for (let o0 = 0; o0 < g.out3[0]; o0++)
        for (let o1 = 0; o1 < g.out3[1]; o1++)
          for (let o2 = 0; o2 < g.out3[2]; o2++) {
            const o = [o0, o1, o2];
            let poolSize = 1;
            let insideCount = 1;
            for (let a = 0; a < 3; a++) {
              // PyTorch avg_pool: hstart = o*s - pad, hend = min(hstart + k, in + pad), then clipped to [0, in)
              const start = o[a] * g.stride3[a] - g.pad3[a];
              const end = Math.min(start + g.k3[a], g.in3[a] + g.pad3[a]);
              poolSize *= end - start;
              insideCount *= Math.min(end, g.in3[a]) - Math.max(start, 0);
            }
            const inside: number[] = [];
            for (let k0 = 0; k0 < g.k3[0]; k0++) {
              const i0 = o0 * g.stride3[0] - g.pad3[0] + k0 * g.dil3[0];
              for (let k1 = 0; k1 < g.k3[1]; k1++) {
                const i1 = o1 * g.stride3[1] - g.pad3[1] + k1 * g.dil3[1];
                for (let k2 = 0; k2 < g.k3[2]; k2++) {
                  const i2 = o2 * g.stride3[2] - g.pad3[2] + k2 * g.dil3[2];
                  if (i0 < 0 || i0 >= g.in3[0] || i1 < 0 || i1 >= g.in3[1] || i2 < 0 || i2 >= g.in3[2]) continue;
                  inside.push(xAt(n, c, i0, i1, i2));
                }
              }
            }
            visit({ yi: yAt(n, c, o0, o1, o2), inside, divisor: g.countIncludePad ? poolSize : insideCount });
          }
    }
  }
}

type Num = ArrayLike<number>;

/** PyTorch's max: [value, input index or -1]. */
function windowMax(x: Num, inside: number[]): [number, number] {
  let max = -Infinity;
  let arg = inside.length > 0 ? inside[0] : -1;
  for (const i of inside) {
    const v = x[i];
    if (v > max || Number.isNaN(v)) {
      max = v;
      arg = i;
    }
  }
  return [max, arg];
}

const prod = (a: number[]) => a.reduce((s, v) => s * v, 1);

/** Forward with the tolerance rule's abs-bound and term count (max: exact, abs-bound 0). */
export function referencePoolForward(g: RefPoolGeom, x: Num): RefResult {
  const n = prod(g.outputShape);
  const ref = new Float64Array(n);
  const absBound = new Float64Array(n);
  let nTerms = 1;
  forEachWindow(g, ({ yi, inside, divisor }) => {
    if (g.mode === 'max') {
      ref[yi] = windowMax(x, inside)[0];
      return;
    }
    let sum = 0;
    let abs = 0;
    for (const i of inside) {
      sum += x[i];
      abs += Math.abs(x[i]);
    }
    ref[yi] = sum / divisor;
    absBound[yi] = abs / divisor;
    nTerms = Math.max(nTerms, inside.length + 1);
  });
  return { ref, absBound, nTerms };
}

/** grad_input of sum(pool(x) * dy), with abs-bound and term count. */
export function referencePoolBackward(g: RefPoolGeom, x: Num, dy: Num): RefResult {
  const n = prod(g.inputShape);
  const ref = new Float64Array(n);
  const absBound = new Float64Array(n);
  const terms = new Float64Array(n);
  forEachWindow(g, ({ yi, inside, divisor }) => {
    if (g.mode === 'max') {
      const arg = windowMax(x, inside)[1];
      if (arg < 0) return;
      ref[arg] += dy[yi];
      absBound[arg] += Math.abs(dy[yi]);
      terms[arg] += 1;
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
