/**
 * Analytic gradients against central finite differences of a loss: for every element v[i] of
 * every operand, (loss(v[i] + h) - loss(v[i] - h)) / 2h must match grads[name][i]. For the
 * losses of these tests (sum(forward(...) * R), linear in each operand) the central difference
 * is exact up to rounding.
 */
import assert from 'node:assert/strict';

const H = 2 ** -8;
const REL = 1e-6;

/** Asserts grads[name] == d loss / d operands[name] element by element; fails when every gradient is zero (a degenerate case). */
export function assertFiniteDifferences(
  operands: Record<string, Float64Array>,
  grads: Record<string, ArrayLike<number>>,
  loss: () => number,
): void {
  let nonZero = 0;
  for (const [key, v] of Object.entries(operands)) {
    const an = grads[key];
    for (let i = 0; i < v.length; i++) {
      const keep = v[i];
      v[i] = keep + H;
      const lp = loss();
      v[i] = keep - H;
      const lm = loss();
      v[i] = keep;
      const fd = (lp - lm) / (2 * H);
      const tol = REL * Math.max(1, Math.abs(fd));
      assert.ok(
        Math.abs(fd - an[i]) <= tol,
        `grad_${key}[${i}]: backward ${an[i]}, finite difference ${fd} (tol ${tol})`,
      );
      if (an[i] !== 0) nonZero++;
    }
  }
  assert.ok(nonZero > 0, 'degenerate: every gradient is zero');
}

/** sum(y * r): the loss whose gradient w.r.t. y is r. */
export function dot(y: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * r[i];
  return s;
}
