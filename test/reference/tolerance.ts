/**
 * The conformance tolerance rule (test/fixtures/conformance/README.md), one implementation for every
 * kernel test:
 *
 *   |got - ref| <= gamma_n * abs_bound + eps * |ref| + n * eta,   gamma_n = n*eps / (1 - n*eps)
 *
 * eps = 2^-24 (float32) / 2^-53 (float64), eta = the smallest subnormal of the dtype. A NaN or
 * infinite reference must be matched exactly (NaN by NaN, +inf by +inf, -inf by -inf).
 *
 * float16 and bfloat16 are computed in float32 and rounded once: the float32 bound, plus that
 * rounding, at most u_h * |got| (round to nearest: |fl(y) - y| <= u_h |fl(y)|) or half the
 * smallest subnormal eta_h / 2 where the result is subnormal (docs/api.md, Numerical accuracy).
 */
import { FORMAT, type Half } from './half.js';

export type Dt = 'float32' | 'float64' | Half;
type Computed = 'float32' | 'float64';

export const EPS: Record<Computed, number> = { float32: 2 ** -24, float64: 2 ** -53 };
export const ETA: Record<Computed, number> = { float32: 2 ** -149, float64: Number.MIN_VALUE };

export function gamma(n: number, eps: number): number {
  return (n * eps) / (1 - n * eps);
}

export interface ToleranceOptions {
  /**
   * The kernel ran on inputs rounded from float64 to `dtype` while ref / abs_bound belong to
   * the unrounded inputs. Each product of two rounded factors moves by at most (2eps + eps^2)
   * of its absolute value and the abs-bound of the rounded inputs grows by at most (1+eps)^2, so
   * the bound becomes [gamma_n (1+eps)^2 + (2eps + eps^2)(1+eps)] * abs_bound + eps*|ref| + n*eta.
   */
  roundedInputs?: boolean;
  /**
   * The reference itself was summed in float64 (the naive reference), so it carries up to
   * gamma_n(2^-53) * abs_bound of its own rounding error: add that (with a little slack).
   */
  float64Reference?: boolean;
}

export interface Worst {
  index: number;
  got: number;
  ref: number;
  tol: number;
  err: number;
}

export interface CloseReport {
  ok: boolean;
  failures: number;
  worst: Worst | null;
  message: string;
}

function sameNonFinite(got: number, ref: number): boolean {
  if (Number.isNaN(ref)) return Number.isNaN(got);
  return got === ref; // +-Infinity
}

/**
 * Compare every element; report the worst one (largest err / tol, a mismatch of a non-finite
 * value or a non-finite result where a finite one was expected counts as worst).
 */
export function checkClose(
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  absBound: ArrayLike<number>,
  nTerms: number,
  dtype: Dt,
  opts: ToleranceOptions = {},
): CloseReport {
  if (got.length !== ref.length || absBound.length !== ref.length) {
    return {
      ok: false,
      failures: Math.max(got.length, ref.length),
      worst: null,
      message: `length mismatch: got ${got.length}, ref ${ref.length}, abs_bound ${absBound.length}`,
    };
  }
  const half = dtype === 'float16' || dtype === 'bfloat16' ? FORMAT[dtype] : null;
  const computed: Computed = half ? 'float32' : (dtype as Computed);
  const eps = EPS[computed];
  const n = nTerms;
  let aFactor = gamma(n, eps);
  if (opts.roundedInputs) aFactor = aFactor * (1 + eps) ** 2 + (2 * eps + eps * eps) * (1 + eps);
  if (opts.float64Reference) aFactor += 2 * gamma(n, EPS.float64);
  const floor = n * ETA[computed];
  let failures = 0;
  let worst: Worst | null = null;
  let worstScore = -1;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const g = got[i];
    let tol: number;
    let err: number;
    let bad: boolean;
    let score: number;
    if (!Number.isFinite(r)) {
      tol = 0;
      err = sameNonFinite(g, r) ? 0 : Infinity;
      bad = err !== 0;
      score = bad ? Infinity : 0;
    } else {
      tol = aFactor * absBound[i] + eps * Math.abs(r) + floor;
      if (half) tol += half.u * Math.abs(g) + half.eta / 2;
      err = Math.abs(g - r);
      bad = !(err <= tol); // NaN-safe
      score = Number.isNaN(err) ? Infinity : err === 0 ? 0 : tol === 0 ? Infinity : err / tol;
    }
    if (bad) failures++;
    if (score > worstScore) {
      worstScore = score;
      worst = { index: i, got: g, ref: r, tol, err };
    }
  }
  const w = worst;
  const detail = w
    ? `worst at index ${w.index}: got ${w.got}, ref ${w.ref}, |err| ${w.err}, tolerance ${w.tol} (n=${n}, ${dtype})`
    : 'empty';
  return {
    ok: failures === 0,
    failures,
    worst,
    message: failures === 0 ? `ok; ${detail}` : `${failures} of ${ref.length} elements out of tolerance; ${detail}`,
  };
}
