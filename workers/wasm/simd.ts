// AssemblyScript: the one arithmetic primitive the SIMD kernels share.

// c + a * b on the lanes of T (four float32 or two float64). The module is built twice from the
// same source (see package.json build:wasm): kernels-fma.wasm with relaxed SIMD, where this is one
// fused multiply-add (relaxed_madd: an FMA instruction on FMA3 hardware, one rounding), and
// kernels.wasm for runtimes without relaxed SIMD, where it is a multiply and an add (two
// roundings). ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build keeps one arm.
// @ts-ignore: decorator
@inline
export function madd<T>(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_madd<T>(a, b, c);
  return v128.add<T>(c, v128.mul<T>(a, b));
}
