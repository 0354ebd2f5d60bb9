/**
 * What the bench times: an implementation prepares one (problem, op) outside the clock,
 * then its `run` is timed; `result` gives the op's output in the problem's layout (convd's
 * request layout: NCHW / OIHW channels_first, NHWC / HWIO channels_last) for the correctness
 * check. Ours is here; the peers are in bench/peers/.
 */
import { convBackward, convForward } from '../workers/kernels/conv.js';
import { engineFor, type EngineName } from '../workers/engines/index.js';
import type { ConvGeometry } from '../src/shared/geometry/conv.js';
import type { DType, Real } from '../src/shared/tensor.js';
import type { Op, Problem } from './shapes.js';

export type ImplName =
  'ours-ts' | 'ours-wasm' | 'ours-native' | 'tfjs-cpu' | 'tfjs-wasm' | 'ort' | 'ort-const' | 'torch';
export const IMPL_ORDER: ImplName[] = [
  'ours-ts',
  'ours-wasm',
  'ours-native',
  'tfjs-cpu',
  'tfjs-wasm',
  'ort',
  'ort-const',
  'torch',
];

export interface Prepared {
  /**
   * One op, its result read back to JavaScript (what a caller of the library would wait for).
   * An implementation in another process times the op itself and resolves to its seconds,
   * which the bench takes instead of its own clock (that would count the pipe).
   */
  run(): void | number | Promise<void | number>;
  /** The op's output in the problem's layout (grad_weight: the weight's). */
  result(): Promise<Real>;
  dispose(): void | Promise<void>;
}

export interface Impl {
  name: ImplName;
  /** Package and version, e.g. `@tensorflow/tfjs-backend-wasm 4.22.0`. */
  version: string;
  /** How it is configured (threads, layout, which kernel runs each op). */
  notes: string;
  /** The tensor layout it runs a geometry in (NCHW or NHWC). */
  layout(g: ConvGeometry): string;
  /** Why it cannot run this op, or null when it can. */
  unsupported(g: ConvGeometry, op: Op): string | null;
  prepare(p: Problem, op: Op): Promise<Prepared>;
  /** Ends what the implementation started (a peer process), once the bench is done with it. */
  close?(): void;
}

export function ours(kernel: EngineName, version: string): Impl {
  const engine = (dtype: DType) => {
    const e = engineFor(dtype, kernel);
    if (e.name !== kernel) throw new Error(`kernel ${kernel} is not available for ${dtype} (got ${e.name})`);
    return e;
  };
  return {
    name: `ours-${kernel}`,
    version: `convd ${version}`,
    notes: {
      ts: 'TypeScript kernels, float64 accumulation (the reference path), 1 thread',
      wasm: `WebAssembly kernels (AssemblyScript, ${engine('float32').isa}), products and sums in the dtype, 1 thread`,
      native: `native addon (${engine('float32').isa}; oneDNN where it plans the call, else im2col + BLAS), products and sums in the dtype, 1 thread`,
    }[kernel],
    layout: (g) => (g.layout === 'channels_last' ? 'NHWC' : 'NCHW'),
    unsupported: () => null,
    prepare(p, op) {
      const { g, x, w, dy } = p;
      const e = engine(g.dtype);
      const like = (a: Real) => (a instanceof Float64Array ? new Float64Array(a.length) : new Float32Array(a.length));
      let run: () => void;
      let out: Real;
      if (op === 'forward') {
        out = like(dy);
        run = () => convForward(g, x, w, null, out, e);
      } else if (op === 'grad_input') {
        out = like(x);
        run = () => convBackward(g, x, w, dy, { input: out }, e);
      } else {
        out = like(w);
        run = () => convBackward(g, x, w, dy, { weight: out }, e);
      }
      return Promise.resolve({
        run,
        result: () => {
          run();
          return Promise.resolve(out.slice());
        },
        dispose: () => {},
      });
    },
  };
}

/** [N, C, H, W] -> [N, H, W, C] */
export function nchwToNhwc(a: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) out[(b * hw + i) * c + ch] = a[src + i];
    }
  }
  return out;
}

/** [N, H, W, C] -> [N, C, H, W], given the NCHW shape */
export function nhwcToNchw(a: Float32Array, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const dst = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) out[dst + i] = a[(b * hw + i) * c + ch];
    }
  }
  return out;
}

/** [O, I, KH, KW] -> [KH, KW, I, O] (tfjs filters; for depthwise [C*m, 1, KH, KW] this is [KH, KW, C, m]) */
export function oihwToHwio(a: Float32Array, [o, i, kh, kw]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  const k = kh * kw;
  for (let oc = 0; oc < o; oc++) {
    for (let ic = 0; ic < i; ic++) {
      for (let p = 0; p < k; p++) out[(p * i + ic) * o + oc] = a[(oc * i + ic) * k + p];
    }
  }
  return out;
}

/** [KH, KW, I, O] -> [O, I, KH, KW], given the OIHW shape */
export function hwioToOihw(a: Float32Array, [o, i, kh, kw]: readonly number[]): Float32Array {
  const out = new Float32Array(a.length);
  const k = kh * kw;
  for (let oc = 0; oc < o; oc++) {
    for (let ic = 0; ic < i; ic++) {
      for (let p = 0; p < k; p++) out[(oc * i + ic) * k + p] = a[(p * i + ic) * o + oc];
    }
  }
  return out;
}
