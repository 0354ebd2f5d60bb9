// AssemblyScript: the one arithmetic primitive the SIMD kernels share.

// c + a * b on four float32 lanes. The module is built twice from the same source (see
// package.json build:wasm): kernels-fma.wasm with relaxed SIMD, where this is one fused
// multiply-add (f32x4.relaxed_madd: an FMA instruction on FMA3 hardware, one rounding), and
// kernels.wasm for runtimes without relaxed SIMD, where it is a multiply and an add (two
// roundings). ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build keeps one arm.
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
