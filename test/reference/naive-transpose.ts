/**
 * Naive reference transposed convolution (PyTorch conv_transpose{1,2,3}d forward), written
 * straight from its definition in float64, independent of src/, workers/ and naive-conv.ts:
 * every input element x[n, ci, j] scatters x * w[ci, co, t] into output position
 *   i = j * stride - before + t * dilation     (per spatial dim)
 * of every output channel co of its group, when 0 <= i < out, with
 *   out = (in - 1) * stride - before - after + dilation * (k - 1) + output_padding + 1
 * (before = after = padding for an int padding),
 * then the bias is added. `output_size` and ONNX's auto_pad set `out` and `before` instead,
 * straight from their texts: PyTorch's ConvTranspose*d.forward(x, output_size) takes
 * output_padding = output_size - out (without output_padding), which must be below stride or
 * dilation; ONNX ConvTranspose's SAME_UPPER ("same") / SAME_LOWER ("same_lower") make
 * out = output_shape, or in * stride without one, from total_padding = (in - 1) * stride +
 * output_padding + (k - 1) * dilation + 1 - out, clamped at 0 as onnxruntime does, with
 * pads[start] = total / 2 (SAME_UPPER) or total - total / 2 (SAME_LOWER), integer halves. Weight [C_in, C_out/groups, *k] (channels_first) or
 * [*k, C_out/groups, C_in] (channels_last).
 */
import type { RefLayoutName, RefResult } from './naive-conv.js';

export interface RefTransposeParams {
  stride?: number | number[];
  /** An int or int[d] pads both sides; [before, after] per dim each side; "valid" none; "same" / "same_lower" ONNX's auto_pad. */
  padding?: number | number[] | [number, number][] | 'valid' | 'same' | 'same_lower';
  output_padding?: number | number[];
  /** Spatial extents, or the whole output shape (PyTorch takes its last d entries). */
  output_size?: number | number[];
  dilation?: number | number[];
  groups?: number;
  layout?: RefLayoutName;
}

export interface RefTransposeGeom {
  channelsLast: boolean;
  batch: number;
  cin: number;
  cout: number;
  groups: number;
  in3: number[];
  k3: number[];
  out3: number[];
  stride3: number[];
  pad3: number[];
  dil3: number[];
  inputShape: number[];
  weightShape: number[];
  outputShape: number[];
}

const CHANNELS_LAST = new Set(['channels_last', 'NWC', 'NHWC', 'NDHWC']);

function list(v: number | number[] | undefined, d: number, dflt: number): number[] {
  if (v === undefined) return new Array(d).fill(dflt);
  if (typeof v === 'number') return new Array(d).fill(v);
  if (v.length !== d) throw new Error(`ref: ${v.length} values for ${d} spatial dims`);
  return v.slice();
}

const pad3 = (v: number[], fill: number) => [...new Array(3 - v.length).fill(fill), ...v];

export function refTransposeGeometry(
  inputShape: number[],
  weightShape: number[],
  p: RefTransposeParams = {},
): RefTransposeGeom {
  const r = inputShape.length;
  if (r < 3 || r > 5 || weightShape.length !== r) throw new Error('ref: bad ranks');
  const d = r - 2;
  const cl = CHANNELS_LAST.has(p.layout ?? 'channels_first');
  const groups = p.groups ?? 1;
  const cin = cl ? inputShape[r - 1] : inputShape[1];
  const wIn = cl ? weightShape[r - 1] : weightShape[0];
  const coutG = cl ? weightShape[r - 2] : weightShape[1];
  if (wIn !== cin || cin % groups !== 0) throw new Error('ref: channels');
  const k = cl ? weightShape.slice(0, d) : weightShape.slice(2);
  const stride = list(p.stride, d, 1);
  const auto = p.padding === 'same' || p.padding === 'same_lower' ? p.padding : null;
  const explicit = typeof p.padding === 'string' ? 0 : p.padding;
  const pairs: [number, number][] =
    explicit === undefined || typeof explicit === 'number'
      ? new Array(d).fill([explicit ?? 0, explicit ?? 0])
      : explicit.map((e): [number, number] => (typeof e === 'number' ? [e, e] : e));
  if (pairs.length !== d) throw new Error('ref: padding');
  const opad = list(p.output_padding, d, 0);
  const dil = list(p.dilation, d, 1);
  const inSp = cl ? inputShape.slice(1, r - 1) : inputShape.slice(2);
  const sizes =
    p.output_size === undefined
      ? undefined
      : typeof p.output_size === 'number'
        ? new Array(d).fill(p.output_size)
        : p.output_size;
  const wanted = sizes && (sizes.length === d ? sizes : cl ? sizes.slice(1, d + 1) : sizes.slice(2));
  const pad: number[] = [];
  const outSp = inSp.map((n, i) => {
    const span = dil[i] * (k[i] - 1) + 1;
    if (auto) {
      const out = wanted ? wanted[i] : n * stride[i];
      const total = Math.max(0, (n - 1) * stride[i] + opad[i] + span - out);
      pad.push(auto === 'same' ? Math.floor(total / 2) : total - Math.floor(total / 2));
      return out;
    }
    pad.push(pairs[i][0]);
    const min = (n - 1) * stride[i] - pairs[i][0] - pairs[i][1] + span;
    const op = wanted ? wanted[i] - min : opad[i];
    if (op < 0 || (op >= stride[i] && op >= dil[i])) throw new Error('ref: output_padding');
    const o = min + op;
    if (o < 1) throw new Error(`ref: output extent ${o}`);
    return o;
  });
  const batch = inputShape[0];
  const cout = coutG * groups;
  return {
    channelsLast: cl,
    batch,
    cin,
    cout,
    groups,
    in3: pad3(inSp, 1),
    k3: pad3(k, 1),
    out3: pad3(outSp, 1),
    stride3: pad3(stride, 1),
    pad3: pad3(pad, 0),
    dil3: pad3(dil, 1),
    inputShape: inputShape.slice(),
    weightShape: weightShape.slice(),
    outputShape: cl ? [batch, ...outSp, cout] : [batch, cout, ...outSp],
  };
}

type Num = ArrayLike<number>;
const prod = (a: number[]) => a.reduce((s, v) => s * v, 1);

/**
 * Calls visit(xi, wi, yi) for every product x[xi] * w[wi] the definition adds into y[yi]:
 * input element x[n, ci, j] meets tap w[ci, co, t] at output position
 * i = j * stride - padding + t * dilation of every output channel co of its group.
 */
function forEachTerm(g: RefTransposeGeom, visit: (xi: number, wi: number, yi: number) => void): void {
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  const { in3, k3, out3 } = g;
  const xAt = g.channelsLast
    ? (n: number, c: number, a: number, b: number, e: number) =>
        (((n * in3[0] + a) * in3[1] + b) * in3[2] + e) * g.cin + c
    : (n: number, c: number, a: number, b: number, e: number) =>
        (((n * g.cin + c) * in3[0] + a) * in3[1] + b) * in3[2] + e;
  const yAt = outputIndex(g);
  // weight [C_in, C_out/g, k0, k1, k2] or [k0, k1, k2, C_out/g, C_in]
  const wAt = g.channelsLast
    ? (ci: number, co: number, a: number, b: number, e: number) =>
        (((a * k3[1] + b) * k3[2] + e) * coutG + co) * g.cin + ci
    : (ci: number, co: number, a: number, b: number, e: number) =>
        (((ci * coutG + co) * k3[0] + a) * k3[1] + b) * k3[2] + e;
  for (let n = 0; n < g.batch; n++)
    for (let ci = 0; ci < g.cin; ci++) {
      const grp = Math.floor(ci / cinG);
      for (let j0 = 0; j0 < in3[0]; j0++)
        for (let j1 = 0; j1 < in3[1]; j1++)
          for (let j2 = 0; j2 < in3[2]; j2++) {
            const xi = xAt(n, ci, j0, j1, j2);
            for (let t0 = 0; t0 < k3[0]; t0++) {
              const i0 = j0 * g.stride3[0] - g.pad3[0] + t0 * g.dil3[0];
              if (i0 < 0 || i0 >= out3[0]) continue;
              for (let t1 = 0; t1 < k3[1]; t1++) {
                const i1 = j1 * g.stride3[1] - g.pad3[1] + t1 * g.dil3[1];
                if (i1 < 0 || i1 >= out3[1]) continue;
                for (let t2 = 0; t2 < k3[2]; t2++) {
                  const i2 = j2 * g.stride3[2] - g.pad3[2] + t2 * g.dil3[2];
                  if (i2 < 0 || i2 >= out3[2]) continue;
                  for (let co = 0; co < coutG; co++)
                    visit(xi, wAt(ci, co, t0, t1, t2), yAt(n, grp * coutG + co, i0, i1, i2));
                }
              }
            }
          }
    }
}

function outputIndex(g: RefTransposeGeom): (n: number, c: number, a: number, b: number, e: number) => number {
  const { out3 } = g;
  return g.channelsLast
    ? (n, c, a, b, e) => (((n * out3[0] + a) * out3[1] + b) * out3[2] + e) * g.cout + c
    : (n, c, a, b, e) => (((n * g.cout + c) * out3[0] + a) * out3[1] + b) * out3[2] + e;
}

/** Calls visit(yi, c) for every output element and its channel. */
function forEachOutput(g: RefTransposeGeom, visit: (yi: number, c: number) => void): void {
  const yAt = outputIndex(g);
  const { out3 } = g;
  for (let n = 0; n < g.batch; n++)
    for (let c = 0; c < g.cout; c++)
      for (let a = 0; a < out3[0]; a++)
        for (let b = 0; b < out3[1]; b++) for (let e = 0; e < out3[2]; e++) visit(yAt(n, c, a, b, e), c);
}

/** y = conv_transpose(x, w) + bias in float64, every operand value mapped by `f` first (identity; Math.abs for the abs-bound; 1 for term counts). */
function evaluate(g: RefTransposeGeom, x: Num, w: Num, bias: Num | null, f: (v: number) => number): Float64Array {
  const y = new Float64Array(prod(g.outputShape));
  forEachTerm(g, (xi, wi, yi) => (y[yi] += f(x[xi]) * f(w[wi])));
  if (bias) forEachOutput(g, (yi, c) => (y[yi] += f(bias[c])));
  return y;
}

export function naiveTranspose(g: RefTransposeGeom, x: Num, w: Num, bias: Num | null): Float64Array {
  return evaluate(g, x, w, bias, (v) => v);
}

/** Reference with the tolerance rule's abs-bound and largest term count. */
export function referenceTranspose(g: RefTransposeGeom, x: Num, w: Num, bias: Num | null): RefResult {
  const ref = evaluate(g, x, w, bias, (v) => v);
  const absBound = evaluate(g, x, w, bias, Math.abs);
  const count = evaluate(g, x, w, bias, () => 1);
  return { ref, absBound, nTerms: largest(count) };
}

const largest = (a: Float64Array) => a.reduce((m, v) => Math.max(m, v), 1);

/** The gradients of sum(y * dy) w.r.t. x, w and bias, term by term of the definition, every value mapped by `f` first. */
function evaluateBackward(g: RefTransposeGeom, x: Num, w: Num, dy: Num, f: (v: number) => number) {
  const input = new Float64Array(prod(g.inputShape));
  const weight = new Float64Array(prod(g.weightShape));
  const bias = new Float64Array(g.cout);
  forEachTerm(g, (xi, wi, yi) => {
    input[xi] += f(dy[yi]) * f(w[wi]);
    weight[wi] += f(x[xi]) * f(dy[yi]);
  });
  forEachOutput(g, (yi, c) => (bias[c] += f(dy[yi])));
  return { input, weight, bias };
}

/** Backward reference, per gradient, with the tolerance rule's abs-bounds and term counts. */
export function referenceTransposeBackward(
  g: RefTransposeGeom,
  x: Num,
  w: Num,
  dy: Num,
): Record<'input' | 'weight' | 'bias', RefResult> {
  const ref = evaluateBackward(g, x, w, dy, (v) => v);
  const abs = evaluateBackward(g, x, w, dy, Math.abs);
  const count = evaluateBackward(g, x, w, dy, () => 1);
  const result = (k: 'input' | 'weight' | 'bias') => ({ ref: ref[k], absBound: abs[k], nTerms: largest(count[k]) });
  return { input: result('input'), weight: result('weight'), bias: result('bias') };
}
