/**
 * Naive reference convolution, written straight from the definition in float64.
 *
 * Deliberately independent of src/: it resolves the contract's parameters itself (padding
 * forms, "same" = SAME_UPPER, "same_lower" = SAME_LOWER, letter aliases) and evaluates every output element as a direct
 * sum over the input channels of its group and the kernel offsets. Padded positions are mapped
 * per padding_mode (zeros -> the value 0, still a product term so that 0 * inf is NaN as in
 * PyTorch; reflect, replicate, circular as PyTorch pads).
 *
 * The backward is the exact adjoint of that same sum: each (output element, channel, kernel
 * offset) term scatters dy * w into the input position it read (so gradient reaching a padded
 * position flows back to the input position it copies) and dy * x into the weight.
 *
 * Rank 1 and 2 are handled as rank 3 with leading singleton spatial dims (in = k = out = 1).
 */

export type RefLayoutName = 'channels_first' | 'channels_last' | 'NCW' | 'NWC' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';
export type RefPadding = number | number[] | [number, number][] | 'valid' | 'same' | 'same_lower';
export type RefPaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';

export interface RefParams {
  stride?: number | number[];
  padding?: RefPadding;
  dilation?: number | number[];
  groups?: number;
  padding_mode?: RefPaddingMode;
  layout?: RefLayoutName;
}

export interface RefGeom {
  rank: number; // spatial dims: 1, 2 or 3
  channelsLast: boolean;
  mode: RefPaddingMode;
  batch: number;
  cin: number;
  cout: number;
  groups: number;
  inSp: number[];
  k: number[];
  outSp: number[];
  stride: number[];
  dilation: number[];
  before: number[];
  after: number[];
  inputShape: number[];
  weightShape: number[];
  outputShape: number[];
}

const ALIAS: Record<string, { cl: boolean; rank: number }> = {
  NCW: { cl: false, rank: 1 },
  NWC: { cl: true, rank: 1 },
  NCHW: { cl: false, rank: 2 },
  NHWC: { cl: true, rank: 2 },
  NCDHW: { cl: false, rank: 3 },
  NDHWC: { cl: true, rank: 3 },
};

function perDim(v: number | number[] | undefined, d: number, dflt: number, what: string): number[] {
  if (v === undefined) return new Array(d).fill(dflt);
  if (typeof v === 'number') return new Array(d).fill(v);
  if (v.length !== d) throw new Error(`ref: ${what} has ${v.length} entries for ${d} spatial dims`);
  return v.slice();
}

/** Resolve shapes and parameters the way the contract defines them. Throws on invalid input. */
export function refGeometry(inputShape: number[], weightShape: number[], p: RefParams = {}): RefGeom {
  const r = inputShape.length;
  if (r < 3 || r > 5 || weightShape.length !== r) throw new Error(`ref: bad ranks ${r}/${weightShape.length}`);
  const d = r - 2;
  const layout = p.layout ?? 'channels_first';
  let cl: boolean;
  if (layout === 'channels_first') cl = false;
  else if (layout === 'channels_last') cl = true;
  else {
    const a = ALIAS[layout];
    if (!a || a.rank !== d) throw new Error(`ref: layout ${layout} for ${d} spatial dims`);
    cl = a.cl;
  }
  const groups = p.groups ?? 1;
  const mode = p.padding_mode ?? 'zeros';
  const batch = inputShape[0];
  const cin = cl ? inputShape[r - 1] : inputShape[1];
  const inSp = cl ? inputShape.slice(1, r - 1) : inputShape.slice(2);
  const k = cl ? weightShape.slice(0, d) : weightShape.slice(2);
  const cinG = cl ? weightShape[d] : weightShape[1];
  const cout = cl ? weightShape[d + 1] : weightShape[0];
  if (groups < 1 || cin % groups !== 0 || cout % groups !== 0 || cinG !== cin / groups) {
    throw new Error(`ref: channels cin=${cin} cout=${cout} groups=${groups} weight cin/g=${cinG}`);
  }
  const stride = perDim(p.stride, d, 1, 'stride');
  const dilation = perDim(p.dilation, d, 1, 'dilation');
  const before: number[] = [];
  const after: number[] = [];
  const pad = p.padding ?? 0;
  for (let i = 0; i < d; i++) {
    let b: number;
    let a: number;
    if (pad === 'valid') {
      b = a = 0;
    } else if (pad === 'same' || pad === 'same_lower') {
      // ONNX: out = ceil(in / stride); an odd total's extra position goes after (SAME_UPPER) or before (SAME_LOWER)
      const out = Math.ceil(inSp[i] / stride[i]);
      const total = Math.max((out - 1) * stride[i] + dilation[i] * (k[i] - 1) + 1 - inSp[i], 0);
      const small = Math.floor(total / 2);
      [b, a] = pad === 'same' ? [small, total - small] : [total - small, small];
    } else if (typeof pad === 'number') {
      b = a = pad;
    } else {
      if (pad.length !== d) throw new Error(`ref: padding has ${pad.length} entries`);
      const e = pad[i];
      if (typeof e === 'number') b = a = e;
      else [b, a] = e;
    }
    before.push(b);
    after.push(a);
  }
  const outSp: number[] = [];
  for (let i = 0; i < d; i++) {
    const o = Math.floor((inSp[i] + before[i] + after[i] - dilation[i] * (k[i] - 1) - 1) / stride[i]) + 1;
    if (o < 1) throw new Error(`ref: output extent ${o} in dim ${i}`);
    if (mode === 'reflect' && (before[i] >= inSp[i] || after[i] >= inSp[i])) throw new Error('ref: reflect pad >= in');
    if (mode === 'circular' && (before[i] > inSp[i] || after[i] > inSp[i])) throw new Error('ref: circular pad > in');
    outSp.push(o);
  }
  const outputShape = cl ? [batch, ...outSp, cout] : [batch, cout, ...outSp];
  return {
    rank: d,
    channelsLast: cl,
    mode,
    batch,
    cin,
    cout,
    groups,
    inSp,
    k,
    outSp,
    stride,
    dilation,
    before,
    after,
    inputShape: inputShape.slice(),
    weightShape: weightShape.slice(),
    outputShape,
  };
}

/**
 * Map padded coordinate p (0-based in the padded signal) to an input index, or -1 for a zero.
 */
export function mapPadded(p: number, before: number, n: number, mode: RefPaddingMode): number {
  const i = p - before;
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'zeros':
      return -1;
    case 'replicate':
      return i < 0 ? 0 : n - 1;
    case 'reflect':
      // PyTorch reflect: mirror without repeating the edge; pad < n so one reflection suffices.
      return i < 0 ? -i : 2 * (n - 1) - i;
    case 'circular':
      return ((i % n) + n) % n;
  }
}

interface Plan {
  g: RefGeom;
  in3: number[];
  k3: number[];
  out3: number[];
  /** per dim (3): table[o * k + kk] = input index along that dim or -1 */
  tables: Int32Array[];
  xs: { n: number; c: number; sp: number[] };
  ws: { o: number; i: number; sp: number[] };
  ys: { n: number; c: number; sp: number[] };
}

function rowMajorStrides(shape: number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

function plan(g: RefGeom): Plan {
  const pad = 3 - g.rank;
  const ones = new Array(pad).fill(1);
  const in3 = [...ones, ...g.inSp];
  const k3 = [...ones, ...g.k];
  const out3 = [...ones, ...g.outSp];
  const tables: Int32Array[] = [];
  for (let dd = 0; dd < 3; dd++) {
    const t = new Int32Array(out3[dd] * k3[dd]);
    const j = dd - pad;
    for (let o = 0; o < out3[dd]; o++) {
      for (let kk = 0; kk < k3[dd]; kk++) {
        t[o * k3[dd] + kk] =
          j < 0 ? 0 : mapPadded(o * g.stride[j] + kk * g.dilation[j], g.before[j], g.inSp[j], g.mode);
      }
    }
    tables.push(t);
  }
  const cinG = g.cin / g.groups;
  let xs, ys, ws;
  if (!g.channelsLast) {
    const xst = rowMajorStrides([g.batch, g.cin, ...in3]);
    xs = { n: xst[0], c: xst[1], sp: xst.slice(2) };
    const yst = rowMajorStrides([g.batch, g.cout, ...out3]);
    ys = { n: yst[0], c: yst[1], sp: yst.slice(2) };
    const wst = rowMajorStrides([g.cout, cinG, ...k3]);
    ws = { o: wst[0], i: wst[1], sp: wst.slice(2) };
  } else {
    const xst = rowMajorStrides([g.batch, ...in3, g.cin]);
    xs = { n: xst[0], c: xst[4], sp: xst.slice(1, 4) };
    const yst = rowMajorStrides([g.batch, ...out3, g.cout]);
    ys = { n: yst[0], c: yst[4], sp: yst.slice(1, 4) };
    const wst = rowMajorStrides([...k3, cinG, g.cout]);
    ws = { o: wst[4], i: wst[3], sp: wst.slice(0, 3) };
  }
  return { g, in3, k3, out3, tables, xs, ws, ys };
}

/** xi = -1: a zero of the zeros padding (still a product term: 0 * inf is NaN, as in PyTorch). */
type Visit = (yi: number, xi: number, wi: number) => void;

/** Enumerate every product term x[xi] * w[wi] of every output element y[yi]. */
function forEachTerm(p: Plan, visit: Visit): void {
  const { g, k3, out3, tables, xs, ws, ys } = p;
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.cout; co++) {
      const grp = Math.floor(co / coutG);
      for (let o0 = 0; o0 < out3[0]; o0++)
        for (let o1 = 0; o1 < out3[1]; o1++)
          for (let o2 = 0; o2 < out3[2]; o2++) {
            const yi = n * ys.n + co * ys.c + o0 * ys.sp[0] + o1 * ys.sp[1] + o2 * ys.sp[2];
            for (let ci = 0; ci < cinG; ci++) {
              const c = grp * cinG + ci;
              for (let k0 = 0; k0 < k3[0]; k0++) {
                const i0 = tables[0][o0 * k3[0] + k0];
                for (let k1 = 0; k1 < k3[1]; k1++) {
                  const i1 = tables[1][o1 * k3[1] + k1];
                  for (let k2 = 0; k2 < k3[2]; k2++) {
                    const i2 = tables[2][o2 * k3[2] + k2];
                    const xi =
                      i0 < 0 || i1 < 0 || i2 < 0
                        ? -1
                        : n * xs.n + c * xs.c + i0 * xs.sp[0] + i1 * xs.sp[1] + i2 * xs.sp[2];
                    const wi = co * ws.o + ci * ws.i + k0 * ws.sp[0] + k1 * ws.sp[1] + k2 * ws.sp[2];
                    visit(yi, xi, wi);
                  }
                }
              }
            }
          }
    }
  }
}

function biasIndexOf(p: Plan): (yi: number) => number {
  // the channel of output flat index yi
  const { g } = p;
  if (g.channelsLast) return (yi) => yi % g.cout;
  const sp = p.out3[0] * p.out3[1] * p.out3[2];
  return (yi) => Math.floor(yi / sp) % g.cout;
}

export function prod(a: number[]): number {
  return a.reduce((s, v) => s * v, 1);
}

type Num = ArrayLike<number>;

/** y = conv(x, w) + bias, float64. */
export function naiveForward(g: RefGeom, x: Num, w: Num, bias: Num | null): Float64Array {
  const p = plan(g);
  const y = new Float64Array(prod(g.outputShape));
  forEachTerm(p, (yi, xi, wi) => {
    y[yi] += (xi < 0 ? 0 : x[xi]) * w[wi];
  });
  if (bias) {
    const ch = biasIndexOf(p);
    for (let i = 0; i < y.length; i++) y[i] += bias[ch(i)];
  }
  return y;
}

export interface RefGrads {
  input: Float64Array;
  weight: Float64Array;
  bias: Float64Array;
}

/** Adjoint of naiveForward: gradients of sum(y * dy) w.r.t. x, w and bias. */
export function naiveBackward(g: RefGeom, x: Num, w: Num, dy: Num): RefGrads {
  const p = plan(g);
  const gi = new Float64Array(prod(g.inputShape));
  const gw = new Float64Array(prod(g.weightShape));
  const gb = new Float64Array(g.cout);
  forEachTerm(p, (yi, xi, wi) => {
    const d = dy[yi];
    if (xi >= 0) gi[xi] += d * w[wi]; // a zero of the padding has no input to flow back to
    gw[wi] += d * (xi < 0 ? 0 : x[xi]);
  });
  const ch = biasIndexOf(p);
  for (let i = 0; i < dy.length; i++) gb[ch(i)] += dy[i];
  return { input: gi, weight: gw, bias: gb };
}

function absArr(a: Num): Float64Array {
  const r = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) r[i] = Math.abs(a[i]);
  return r;
}

function maxOf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

export interface RefResult {
  ref: Float64Array;
  absBound: Float64Array;
  /** largest number of products (+1 for a bias) summed into one element */
  nTerms: number;
}

/** Forward reference with the abs-bound and term count used by the tolerance rule. */
export function referenceForward(g: RefGeom, x: Num, w: Num, bias: Num | null): RefResult {
  const ref = naiveForward(g, x, w, bias);
  const absBound = naiveForward(g, absArr(x), absArr(w), bias ? absArr(bias) : null);
  const ones = (n: number) => new Float64Array(n).fill(1);
  const count = naiveForward(g, ones(x.length), ones(w.length), bias ? ones(bias.length) : null);
  return { ref, absBound, nTerms: Math.max(1, maxOf(count)) };
}

/** Backward reference, per gradient, with abs-bounds and term counts. */
export function referenceBackward(g: RefGeom, x: Num, w: Num, dy: Num): Record<'input' | 'weight' | 'bias', RefResult> {
  const ref = naiveBackward(g, x, w, dy);
  const ab = naiveBackward(g, absArr(x), absArr(w), absArr(dy));
  const ones = (n: number) => new Float64Array(n).fill(1);
  const cnt = naiveBackward(g, ones(x.length), ones(w.length), ones(dy.length));
  return {
    input: { ref: ref.input, absBound: ab.input, nTerms: Math.max(1, maxOf(cnt.input)) },
    weight: { ref: ref.weight, absBound: ab.weight, nTerms: Math.max(1, maxOf(cnt.weight)) },
    bias: { ref: ref.bias, absBound: ab.bias, nTerms: Math.max(1, maxOf(cnt.bias)) },
  };
}
