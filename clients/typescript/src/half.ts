/**
 * float16 (IEEE-754 binary16) and bfloat16 (the top 16 bits of a binary32) as the client sends
 * and reads them: float32 values rounded once to the dtype's bits, to nearest with ties to even
 * (IEEE 754 roundTiesToEven: subnormals kept, overflow to infinity, NaN kept a NaN), and bits
 * widened back to float32 (exact). Written out in bit arithmetic, since Node 20 has no
 * Float16Array.
 */
export type HalfDType = 'float16' | 'bfloat16';

export const isHalf = (dtype: string): dtype is HalfDType => dtype === 'float16' || dtype === 'bfloat16';

/** binary32 bits -> binary16 bits, to nearest, ties to even. */
function float16Bits(bits: number, value: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return sign | 0x7e00; // NaN
  if (magnitude >= 0x477ff000) return sign | 0x7c00; // from 65520 (65504 + half its ulp) up: infinity
  if (magnitude < 0x38800000) {
    // below 2^-14: a multiple of float16's smallest subnormal 2^-24, rounded half to even (exact in binary64)
    const scaled = Math.abs(value) * 2 ** 24;
    let n = Math.floor(scaled);
    const rest = scaled - n;
    if (rest > 0.5 || (rest === 0.5 && n % 2 === 1)) n++;
    return sign | n; // n = 0x400 is the smallest normal, as it should be
  }
  // normal: rebias the exponent (127 -> 15), keep 10 of the 23 fraction bits, round on the 13 dropped;
  // a carry out of the fraction moves into the exponent, as rounding up to the next binade should
  const kept = (((magnitude >>> 23) - 112) << 10) | ((magnitude >>> 13) & 0x3ff);
  const dropped = magnitude & 0x1fff;
  return sign | (kept + (dropped > 0x1000 || (dropped === 0x1000 && (kept & 1) === 1) ? 1 : 0));
}

/** binary32 bits -> bfloat16 bits: the top half, rounded to nearest even on the half dropped (NaN mapped first: it would carry into infinity). */
function bfloat16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** float32 `values` -> the little-endian 2-byte elements of `dtype`, each rounded once (float64 values are first rounded to float32). */
export function toHalf(dtype: HalfDType, values: Float32Array | Float64Array): Uint16Array {
  const wide = Float32Array.from(values);
  const bits = new Uint32Array(wide.buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = dtype === 'float16' ? float16Bits(bits[i], wide[i]) : bfloat16Bits(bits[i]);
  return out;
}

/** The value of binary16 bits. */
function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** 2-byte elements of `dtype` -> their float32 values (exact). */
export function fromHalf(dtype: HalfDType, bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  if (dtype === 'bfloat16') {
    const wide = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16; // a bfloat16 is the top half of its float32
  } else {
    for (let i = 0; i < bits.length; i++) out[i] = float16Value(bits[i]);
  }
  return out;
}

/** Each of `values` rounded to `dtype`, as float32 values: what convd computes a float16 or bfloat16 tensor with. */
export const roundToHalf = (dtype: HalfDType, values: Float32Array | Float64Array): Float32Array =>
  fromHalf(dtype, toHalf(dtype, values));
