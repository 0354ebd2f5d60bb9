// The depthwise path's direct correlation in C++: the native twin of the TypeScript loops of
// workers/kernels/direct.ts (same traversal: per output row and tap, an inner loop along the
// row, which the compiler vectorises for a unit W stride). See that file for the identities.
#include "direct.h"

#include <algorithm>

namespace convd {

namespace {

/** Calls visit(o, x, t) per (output row, tap), as direct.ts forEachTapRow. */
template <typename F>
void forEachTapRow(const DirectDims& d, F visit) {
  const int64_t spanH = d.span[1], spanW = d.span[2];
  for (int64_t od = 0, o = 0; od < d.out[0]; od++) {
    for (int64_t oh = 0; oh < d.out[1]; oh++, o += d.out[2]) {
      for (int64_t kd = 0, t = 0; kd < d.k[0]; kd++) {
        for (int64_t kh = 0; kh < d.k[1]; kh++) {
          const int64_t row =
              ((od * d.stride[0] + kd * d.dilation[0]) * spanH + oh * d.stride[1] + kh * d.dilation[1]) * spanW;
          for (int64_t kw = 0; kw < d.k[2]; kw++, t++) visit(o, row + kw * d.dilation[2], t);
        }
      }
    }
  }
}

int64_t volume(const int64_t* e) { return e[0] * e[1] * e[2]; }

void checkLength(const Array& a, int64_t at, int64_t count, const char* what) {
  if (static_cast<__int128>(at) + count > a.length)
    throw RangeError(std::string(what) + ": " + std::to_string(count) + " elements at offset " + std::to_string(at) +
                     " reach past the array's " + std::to_string(a.length));
}

template <typename T>
void forward(const DirectDims& d, const T* xp, const T* wk, T bias, T* out) {
  const int64_t oW = d.out[2], sW = d.stride[2], n = volume(d.out);
  std::fill(out, out + n, T(0));
  forEachTapRow(d, [&](int64_t o, int64_t x, int64_t t) {
    const T w = wk[t];
    T* row = out + o;
    const T* in = xp + x;
    for (int64_t i = 0; i < oW; i++) row[i] += w * in[i * sW];
  });
  if (bias != T(0))
    for (int64_t i = 0; i < n; i++) out[i] += bias;
}

template <typename T>
void gradInput(const DirectDims& d, const T* dy, const T* wk, T* dxp) {
  const int64_t oW = d.out[2], sW = d.stride[2];
  forEachTapRow(d, [&](int64_t o, int64_t x, int64_t t) {
    const T w = wk[t];
    const T* g = dy + o;
    T* in = dxp + x;
    for (int64_t i = 0; i < oW; i++) in[i * sW] += w * g[i];
  });
}

template <typename T>
void gradWeight(const DirectDims& d, const T* dy, const T* xp, T* dwk) {
  const int64_t oW = d.out[2], sW = d.stride[2];
  forEachTapRow(d, [&](int64_t o, int64_t x, int64_t t) {
    const T* g = dy + o;
    const T* in = xp + x;
    T sum = 0;
    for (int64_t i = 0; i < oW; i++) sum += g[i] * in[i * sW];
    dwk[t] += sum;
  });
}

}  // namespace

DirectDims makeDirectDims(const double* r) {
  DirectDims d{};
  int64_t* fields[] = {d.span, d.out, d.k, d.stride, d.dilation};
  static const char* names[] = {"span", "out", "k", "stride", "dilation"};
  for (int f = 0; f < 5; f++) {
    for (int i = 0; i < 3; i++) {
      const double v = r[f * 3 + i];
      if (!(v >= 1 && v <= static_cast<double>(MAX_SAFE)) || v != static_cast<double>(static_cast<int64_t>(v)))
        throw RangeError(std::string("direct ") + names[f] + " is " + std::to_string(v) +
                         "; expected an integer from 1 to 2^53 - 1");
      fields[f][i] = static_cast<int64_t>(v);
    }
  }
  for (int i = 0; i < 3; i++) {
    // the last output meets the span's last read element through the last tap
    if (static_cast<__int128>(d.out[i] - 1) * d.stride[i] + static_cast<__int128>(d.k[i] - 1) * d.dilation[i] + 1 >
        d.span[i])
      throw RangeError("direct taps reach past the padded span of " + std::to_string(d.span[i]));
  }
  // each factor is below 2^53, so each partial product fits in 128 bits before it is checked
  __int128 volume = 1;
  for (const int64_t e : d.span) {
    volume *= e;
    if (volume > MAX_SAFE) throw RangeError("direct span exceeds 2^53 elements");
  }
  return d;
}

void directForward(const DirectDims& d, const Array& xp, const Array& wk, double bias, const Array& out,
                   int64_t outAt) {
  checkType(wk, xp.float64, "wk");
  checkType(out, xp.float64, "out");
  checkLength(xp, 0, volume(d.span), "xp");
  checkLength(wk, 0, volume(d.k), "wk");
  checkLength(out, outAt, volume(d.out), "out");
  if (xp.float64)
    forward<double>(d, xp.as<double>(), wk.as<double>(), bias, out.as<double>() + outAt);
  else
    forward<float>(d, xp.as<float>(), wk.as<float>(), static_cast<float>(bias), out.as<float>() + outAt);
}

void directGradInput(const DirectDims& d, const Array& dy, int64_t dyAt, const Array& wk, const Array& dxp) {
  checkType(wk, dy.float64, "wk");
  checkType(dxp, dy.float64, "dxp");
  checkLength(dy, dyAt, volume(d.out), "dy");
  checkLength(wk, 0, volume(d.k), "wk");
  checkLength(dxp, 0, volume(d.span), "dxp");
  if (dy.float64)
    gradInput<double>(d, dy.as<double>() + dyAt, wk.as<double>(), dxp.as<double>());
  else
    gradInput<float>(d, dy.as<float>() + dyAt, wk.as<float>(), dxp.as<float>());
}

void directGradWeight(const DirectDims& d, const Array& dy, int64_t dyAt, const Array& xp, const Array& dwk,
                      int64_t dwkAt) {
  checkType(xp, dy.float64, "xp");
  checkType(dwk, dy.float64, "dwk");
  checkLength(dy, dyAt, volume(d.out), "dy");
  checkLength(xp, 0, volume(d.span), "xp");
  checkLength(dwk, dwkAt, volume(d.k), "dwk");
  if (dy.float64)
    gradWeight<double>(d, dy.as<double>() + dyAt, xp.as<double>(), dwk.as<double>() + dwkAt);
  else
    gradWeight<float>(d, dy.as<float>() + dyAt, xp.as<float>(), dwk.as<float>() + dwkAt);
}

}  // namespace convd
