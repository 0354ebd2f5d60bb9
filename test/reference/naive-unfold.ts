/**
 * Naive reference unfold / fold (PyTorch F.unfold / F.fold, generalised to 1-D to 3-D),
 * written straight from the definition in float64, independent of src/ and workers/:
 *   cols[n, c * prod(k) + kOff, b] = x[n, c, i]  with  i = block(b) * stride - padding + t(kOff) * dilation
 * per spatial dim (0 where i falls in the padding), blocks and kernel offsets row-major, and
 *   fold(cols)[n, c, i] = sum of cols[n, c * prod(k) + kOff, b] over every (kOff, b) that reads i.
 */
export interface RefUnfoldGeom {
  channelsLast: boolean;
  batch: number;
  channels: number;
  spatial: number[];
  kernel: number[];
  stride: number[];
  padding: number[];
  dilation: number[];
  blocks: number[];
  imageShape: number[];
  columnsShape: number[];
}

export interface RefUnfoldParams {
  kernel_size: number | number[];
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  channelsLast?: boolean;
}

const list = (v: number | number[] | undefined, d: number, dflt: number) =>
  v === undefined ? Array<number>(d).fill(dflt) : typeof v === 'number' ? Array<number>(d).fill(v) : v.slice();
const prod = (a: number[]) => a.reduce((s, v) => s * v, 1);

/** The geometry of unfolding an image of `batch` x `channels` x `spatial`. */
export function refUnfoldGeometry(
  batch: number,
  channels: number,
  spatial: number[],
  p: RefUnfoldParams,
): RefUnfoldGeom {
  const d = spatial.length;
  const kernel = list(p.kernel_size, d, 1);
  const stride = list(p.stride, d, 1);
  const padding = list(p.padding, d, 0);
  const dilation = list(p.dilation, d, 1);
  const blocks = spatial.map(
    (s, i) => Math.floor((s + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i]) + 1,
  );
  if (blocks.some((b) => b < 1)) throw new Error('ref: no block');
  const channelsLast = p.channelsLast ?? false;
  return {
    channelsLast,
    batch,
    channels,
    spatial,
    kernel,
    stride,
    padding,
    dilation,
    blocks,
    imageShape: channelsLast ? [batch, ...spatial, channels] : [batch, channels, ...spatial],
    columnsShape: [batch, channels * prod(kernel), prod(blocks)],
  };
}

/** Row-major multi-index of `flat` over `extents`. */
function unravel(flat: number, extents: number[]): number[] {
  const out = Array<number>(extents.length);
  for (let i = extents.length - 1; i >= 0; i--) {
    out[i] = flat % extents[i];
    flat = Math.floor(flat / extents[i]);
  }
  return out;
}

/** Calls visit(columnIndex, imageIndex or -1 for padding) for every element of the columns. */
function forEachColumnElement(g: RefUnfoldGeom, visit: (ci: number, xi: number) => void): void {
  const kSize = prod(g.kernel);
  const L = prod(g.blocks);
  for (let n = 0; n < g.batch; n++)
    for (let c = 0; c < g.channels; c++)
      for (let k = 0; k < kSize; k++) {
        const t = unravel(k, g.kernel);
        for (let b = 0; b < L; b++) {
          const blk = unravel(b, g.blocks);
          const pos = blk.map((v, i) => v * g.stride[i] - g.padding[i] + t[i] * g.dilation[i]);
          const inside = pos.every((v, i) => v >= 0 && v < g.spatial[i]);
          let xi = -1;
          if (inside) {
            const spatialFlat = pos.reduce((acc, v, i) => acc * g.spatial[i] + v, 0);
            const sp = prod(g.spatial);
            xi = g.channelsLast ? (n * sp + spatialFlat) * g.channels + c : (n * g.channels + c) * sp + spatialFlat;
          }
          visit(((n * g.channels + c) * kSize + k) * L + b, xi);
        }
      }
}

export function naiveUnfold(g: RefUnfoldGeom, x: ArrayLike<number>): Float64Array {
  const cols = new Float64Array(prod(g.columnsShape));
  forEachColumnElement(g, (ci, xi) => (cols[ci] = xi < 0 ? 0 : x[xi]));
  return cols;
}

export function naiveFold(g: RefUnfoldGeom, cols: ArrayLike<number>): Float64Array {
  const x = new Float64Array(prod(g.imageShape));
  forEachColumnElement(g, (ci, xi) => {
    if (xi >= 0) x[xi] += cols[ci];
  });
  return x;
}

/** The largest number of column elements fold adds into one image element (the tolerance rule's term count). */
export function foldTerms(g: RefUnfoldGeom): number {
  const count = naiveFold(g, new Float64Array(prod(g.columnsShape)).fill(1));
  return count.reduce((m, v) => Math.max(m, v), 1);
}
