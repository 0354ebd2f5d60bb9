/**
 * float16 and bfloat16 from their definitions (IEEE 754-2019 §3.3 binary16; bfloat16: binary32's
 * sign and 8-bit exponent with a 7-bit fraction), with no bit tricks and no runtime conversion,
 * as an oracle for the service's conversions (src/shared/half.ts) and answers.
 *
 *   value:    (-1)^s × 2^(e − bias) × (1 + f / 2^t)   for 0 < e < max; subnormal (e = 0) 2^(1 − bias) × f / 2^t
 *   rounding: the nearest representable value to x; a tie goes to the one with an even fraction;
 *             |x| >= 2^emax × (2 − 2^−t) + half its ulp (the first value past the largest finite
 *             one, were the exponent unbounded, and beyond) rounds to infinity.
 */
export type Half = 'float16' | 'bfloat16';

/** Exponent and fraction widths, the exponent bias, the unit roundoff and the smallest subnormal. */
export const FORMAT: Record<
  Half,
  { exponentBits: number; fractionBits: number; bias: number; u: number; eta: number }
> = {
  float16: { exponentBits: 5, fractionBits: 10, bias: 15, u: 2 ** -11, eta: 2 ** -24 },
  bfloat16: { exponentBits: 8, fractionBits: 7, bias: 127, u: 2 ** -8, eta: 2 ** -133 },
};

/** The value of the 16 bits `bits` of `dtype`. */
export function halfValue(dtype: Half, bits: number): number {
  const { exponentBits, fractionBits, bias } = FORMAT[dtype];
  const sign = bits >> 15 ? -1 : 1;
  const e = (bits >> fractionBits) & ((1 << exponentBits) - 1);
  const f = bits & ((1 << fractionBits) - 1);
  if (e === (1 << exponentBits) - 1) return f === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * 2 ** (1 - bias) * (f / 2 ** fractionBits);
  return sign * 2 ** (e - bias) * (1 + f / 2 ** fractionBits);
}

const tables = new Map<Half, number[]>();

/** Every finite non-negative value of `dtype`, ascending; index = bits (0x0000 up to the largest finite). */
function positives(dtype: Half): number[] {
  let table = tables.get(dtype);
  if (!table) {
    const { exponentBits, fractionBits } = FORMAT[dtype];
    const count = ((1 << exponentBits) - 1) << fractionBits; // up to, not including, infinity
    table = Array.from({ length: count }, (_, bits) => halfValue(dtype, bits));
    tables.set(dtype, table);
  }
  return table;
}

/** The bits of the `dtype` value nearest to `x`, ties to even (NaN: the positive quiet NaN, 0x7e00 / 0x7fc0). */
export function nearestHalfBits(dtype: Half, x: number): number {
  const { exponentBits, fractionBits } = FORMAT[dtype];
  const infinity = ((1 << exponentBits) - 1) << fractionBits;
  if (Number.isNaN(x)) return infinity | (1 << (fractionBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const table = positives(dtype);
  const largest = table[table.length - 1];
  const ulpOfLargest = largest - table[table.length - 2];
  if (a >= largest + ulpOfLargest / 2) return sign | infinity; // a tie at the threshold goes to the even "next value": infinity
  // the largest index whose value is <= a
  let lo = 0;
  let hi = table.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (table[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  if (table[lo] === a || lo === table.length - 1) return sign | lo;
  const below = a - table[lo];
  const above = table[lo + 1] - a;
  if (below < above) return sign | lo;
  if (above < below) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

/** `x` rounded to the nearest `dtype` value, as a number. */
export const nearestHalf = (dtype: Half, x: number): number => halfValue(dtype, nearestHalfBits(dtype, x));

/** The 2-byte little-endian bytes of `values` rounded to `dtype`. */
export function halfBytes(dtype: Half, values: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(values.length * 2);
  for (let i = 0; i < values.length; i++) out.writeUInt16LE(nearestHalfBits(dtype, values[i]), 2 * i);
  return out;
}

/** The values of 2-byte little-endian `bytes` of `dtype`. */
export function halfValuesOf(dtype: Half, bytes: Uint8Array): number[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 2 }, (_, i) => halfValue(dtype, buffer.readUInt16LE(2 * i)));
}
