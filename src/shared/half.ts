/**
 * The 2-byte dtypes, float16 (IEEE-754 binary16) and bfloat16 (the top half of a binary32),
 * at the wire's edges: a request's half tensors are widened to float32 (exact) before any
 * kernel sees them, and float32 results are rounded once, to nearest with ties to even, to the
 * request's dtype when they are encoded.
 *
 * float16 uses the runtime's Float16Array and Math.f16round (ECMAScript 2025: IEEE-754
 * roundTiesToEven, overflow to infinity, subnormals and NaN kept). bfloat16 has no runtime
 * type: its conversions are the bit arithmetic below.
 */

export type HalfDType = 'float16' | 'bfloat16';

export const isHalf = (dtype: string): dtype is HalfDType => dtype === 'float16' || dtype === 'bfloat16';

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** The sign and a quiet NaN: what every bfloat16 NaN becomes (as float16 NaNs do in Float16Array). */
const bfloat16NaN = (bits: number) => ((bits >>> 16) & 0x8000) | 0x7fc0;

/**
 * The bfloat16 nearest to the binary32 of bits `bits`, ties to even: the top 16 bits after
 * adding half an ulp of the result (0x7fff), plus 1 when the kept part is odd, so that an exact
 * tie carries only from an odd result. The carry propagates into the exponent, which rounds
 * the largest magnitudes to infinity and the largest subnormals to the smallest normal, as
 * IEEE-754 requires; NaN would carry into infinity, so it is mapped first.
 */
function bfloat16FromFloat32Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return bfloat16NaN(bits);
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** float32 values -> the bits of `dtype`, each rounded once to nearest, ties to even. */
export function halfBitsOf(dtype: HalfDType, values: Float32Array): Uint16Array<ArrayBuffer> {
  if (dtype === 'float16') {
    const half = new Float16Array(values.length);
    half.set(values);
    return new Uint16Array(half.buffer);
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = bfloat16FromFloat32Bits(bits[i]);
  return out;
}

/** The bits of `dtype` -> float32 values in `out` (exact: every float16 and bfloat16 is a float32). */
export function widenHalf(dtype: HalfDType, bits: Uint16Array, out: Float32Array): void {
  if (dtype === 'float16') {
    out.set(new Float16Array(bits.buffer, bits.byteOffset, bits.length));
    return;
  }
  // a bfloat16 is the top half of the float32 of the same value
  const wide = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
}

/** The values of `dtype` bits, as JSON writes them. */
export function halfValues(dtype: HalfDType, bits: Uint16Array): Float16Array | Float32Array {
  if (dtype === 'float16') return new Float16Array(bits.buffer, bits.byteOffset, bits.length);
  const out = new Float32Array(bits.length);
  widenHalf(dtype, bits, out);
  return out;
}

/**
 * `x` (a JSON number, a binary64) rounded once to the nearest value of `dtype`, ties to even.
 *
 * bfloat16: rounding to float32 first and then to bfloat16 rounds twice, which differs from
 * rounding once exactly when the float32 lands on a bfloat16 midpoint (low 16 bits 0x8000)
 * that `x` is not: then `x` lies strictly on one side of it, and the nearest bfloat16 is the
 * neighbour on that side (every bfloat16 and every midpoint is a float32, so no other case
 * can cross one).
 */
export function roundToHalf(dtype: HalfDType, x: number): number {
  if (dtype === 'float16') return Math.f16round(x);
  f32[0] = x;
  const bits = f32Bits[0];
  let rounded: number;
  if ((bits & 0xffff) === 0x8000 && f32[0] !== x) rounded = (bits >>> 16) + (Math.abs(x) > Math.abs(f32[0]) ? 1 : 0);
  else rounded = bfloat16FromFloat32Bits(bits);
  f32Bits[0] = rounded << 16;
  return f32[0];
}
