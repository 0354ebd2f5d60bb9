// im2col / col2im of one image and group over output positions [p0, p1): the native twin of
// workers/kernels/im2col.ts and workers/wasm/im2col.ts (same traversal, matrix row by matrix
// row in segments along the output W axis, same padding index mapping, same column layout;
// see im2col.ts for the math and the adjoint argument), in 64-bit index arithmetic.
#include "im2col.h"

#include <algorithm>
#include <cstring>

namespace convd {

namespace {

enum Field {
  IN_EXT = 0,
  K_EXT = 3,
  OUT_EXT = 6,
  STRIDE = 9,
  DILATION = 12,
  PAD_BEFORE = 15,
  X_SPATIAL = 18,
  X_C = 21,
  CIN_G = 22,
  ROW_PER_CHANNEL = 23,
  ROW_PER_OFFSET = 24,
  PADDING_MODE = 25,
};

/** Bound on every coordinate and offset a plan may produce, so that none of the traversal's int64 arithmetic can wrap. */
constexpr __int128 REACH = __int128{1} << 60;

/** The input coordinate padded coordinate `pos` copies in an axis of `extent`, or -1 for a zero. */
inline int64_t sourceIndex(int64_t pos, int64_t extent, int mode) {
  if (pos >= 0 && pos < extent) return pos;
  switch (mode) {
    case 0:
      return -1;
    case 1:
      return pos < 0 ? -pos : 2 * (extent - 1) - pos;  // reflect
    case 2:
      return pos < 0 ? 0 : extent - 1;  // replicate
    default:
      return pos < 0 ? pos + extent : pos - extent;  // circular
  }
}

int64_t field(const double* r, int i, int64_t min, const char* name) {
  const double v = r[i];
  if (!(v >= static_cast<double>(min) && v <= static_cast<double>(MAX_SAFE)) || v != static_cast<double>(static_cast<int64_t>(v)))
    throw RangeError(std::string("plan field ") + name + " is " + std::to_string(v) + "; expected an integer >= " +
                     std::to_string(min));
  return static_cast<int64_t>(v);
}

template <typename T>
void gatherLine(const T* line, int64_t w0, int64_t step, int64_t count, int64_t extent, int64_t xW, int mode, T* seg) {
  const int64_t first = w0 >= 0 ? 0 : std::min(count, (step - 1 - w0) / step);
  const int64_t end = std::max(first, std::min(count, (extent - w0 + step - 1) / step));
  auto padded = [&](int64_t i) {
    const int64_t s = sourceIndex(w0 + i * step, extent, mode);
    seg[i] = s < 0 ? T(0) : line[s * xW];
  };
  for (int64_t i = 0; i < first; i++) padded(i);
  for (int64_t i = end; i < count; i++) padded(i);
  const int64_t jump = step * xW;
  const T* src = line + (w0 + first * step) * xW;
  if (jump == 1) {
    if (end > first) std::memcpy(seg + first, src, static_cast<size_t>(end - first) * sizeof(T));
    return;
  }
  for (int64_t i = first; i < end; i++, src += jump) seg[i] = *src;
}

template <typename T>
void scatterLine(const T* seg, T* line, int64_t w0, int64_t step, int64_t count, int64_t extent, int64_t xW, int mode) {
  const int64_t first = w0 >= 0 ? 0 : std::min(count, (step - 1 - w0) / step);
  const int64_t end = std::max(first, std::min(count, (extent - w0 + step - 1) / step));
  auto padded = [&](int64_t i) {
    const int64_t s = sourceIndex(w0 + i * step, extent, mode);
    if (s >= 0) line[s * xW] += seg[i];
  };
  for (int64_t i = 0; i < first; i++) padded(i);
  for (int64_t i = end; i < count; i++) padded(i);
  const int64_t jump = step * xW;
  T* dst = line + (w0 + first * step) * xW;
  for (int64_t i = first; i < end; i++, dst += jump) *dst += seg[i];
}

/** One walk for both directions: each matrix segment is gathered from its input line, or scatter-added back onto it. */
template <typename T, bool SCATTER>
void traverse(const Im2colPlan& p, T* image, int64_t group, int64_t p0, int64_t p1, T* cols, int64_t ld) {
  const int64_t inD = p.inExt[0], inH = p.inExt[1], inW = p.inExt[2];
  const int64_t kD = p.kExt[0], kH = p.kExt[1], kW = p.kExt[2];
  const int64_t oH = p.outExt[1], oW = p.outExt[2];
  const int64_t xD = p.xSpatial[0], xH = p.xSpatial[1], xW = p.xSpatial[2];
  for (int64_t ci = 0; ci < p.cinG; ci++) {
    T* channel = image + (group * p.cinG + ci) * p.xC;
    for (int64_t kd = 0; kd < kD; kd++) {
      for (int64_t kh = 0; kh < kH; kh++) {
        for (int64_t kw = 0; kw < kW; kw++) {
          const int64_t row = ci * p.rowPerChannel + ((kd * kH + kh) * kW + kw) * p.rowPerOffset;
          T* seg = cols + row * ld;
          for (int64_t q = p0; q < p1;) {
            const int64_t outRow = q / oW;
            const int64_t ow = q - outRow * oW;
            const int64_t count = std::min(oW - ow, p1 - q);
            const int64_t od = outRow / oH;
            const int64_t oh = outRow - od * oH;
            const int64_t sd = sourceIndex(od * p.stride[0] - p.padBefore[0] + kd * p.dilation[0], inD, p.mode);
            const int64_t sh = sourceIndex(oh * p.stride[1] - p.padBefore[1] + kh * p.dilation[1], inH, p.mode);
            const int64_t w0 = ow * p.stride[2] - p.padBefore[2] + kw * p.dilation[2];
            if (sd >= 0 && sh >= 0) {
              T* line = channel + sd * xD + sh * xH;
              if (SCATTER)
                scatterLine<T>(seg, line, w0, p.stride[2], count, inW, xW, p.mode);
              else
                gatherLine<T>(line, w0, p.stride[2], count, inW, xW, p.mode, seg);
            } else if (!SCATTER) {
              std::fill(seg, seg + count, T(0));
            }
            seg += count;
            q += count;
          }
        }
      }
    }
  }
}

/** Checks the image, group and positions of one call against the plan and the arrays. */
void checkCall(const Im2colPlan& p, const Array& x, int64_t image, int64_t group, int64_t p0, int64_t p1,
               const Array& cols, int64_t colsOffset, int64_t ld) {
  checkType(cols, x.float64, "columns");
  if (!(p0 <= p1 && p1 <= p.positions))
    throw RangeError("positions [" + std::to_string(p0) + ", " + std::to_string(p1) + ") are not within the " +
                     std::to_string(p.positions) + " output positions");
  if (ld < p1 - p0) throw RangeError("column stride " + std::to_string(ld) + " is below the tile's " +
                                     std::to_string(p1 - p0) + " positions");
  if (p1 == p0) return;
  const __int128 last = static_cast<__int128>(image) + static_cast<__int128>(group) * p.cinG * p.xC + p.channelReach;
  if (last >= x.length)
    throw RangeError("image at " + std::to_string(image) + ", group " + std::to_string(group) +
                     " reaches past the input's " + std::to_string(x.length) + " elements");
  checkView(cols, colsOffset, p.lastRow + 1, p1 - p0, ld, 1, "columns");
}

}  // namespace

Im2colPlan makePlan(const double* r) {
  Im2colPlan p{};
  static const char* axis[3] = {"D", "H", "W"};
  for (int i = 0; i < 3; i++) {
    const std::string a = axis[i];
    p.inExt[i] = field(r, IN_EXT + i, 1, ("inExt " + a).c_str());
    p.kExt[i] = field(r, K_EXT + i, 1, ("kExt " + a).c_str());
    p.outExt[i] = field(r, OUT_EXT + i, 1, ("outExt " + a).c_str());
    p.stride[i] = field(r, STRIDE + i, 1, ("stride " + a).c_str());
    p.dilation[i] = field(r, DILATION + i, 1, ("dilation " + a).c_str());
    p.padBefore[i] = field(r, PAD_BEFORE + i, 0, ("padBefore " + a).c_str());
    p.xSpatial[i] = field(r, X_SPATIAL + i, 0, ("xSpatial " + a).c_str());
  }
  p.xC = field(r, X_C, 0, "xC");
  p.cinG = field(r, CIN_G, 1, "cinG");
  p.rowPerChannel = field(r, ROW_PER_CHANNEL, 0, "rowPerChannel");
  p.rowPerOffset = field(r, ROW_PER_OFFSET, 0, "rowPerOffset");
  p.mode = static_cast<int>(field(r, PADDING_MODE, 0, "paddingMode"));
  if (p.mode > 3) throw RangeError("plan field paddingMode is " + std::to_string(p.mode) + "; expected 0 to 3");
  __int128 positions = 1, kSize = 1, reach = 0;
  for (int i = 0; i < 3; i++) {
    // factors below 2^53 and partial products checked below 2^60: no product can wrap
    positions *= p.outExt[i];
    kSize *= p.kExt[i];
    if (positions >= REACH || kSize >= REACH) throw RangeError("plan extents exceed 2^60 elements");
    reach += static_cast<__int128>(p.inExt[i] - 1) * p.xSpatial[i];
    // The padded coordinates this axis visits run from -padBefore to hi; the mode must map both
    // ends (and so, each of its branches being monotone, everything between) into the input.
    const __int128 hi = static_cast<__int128>(p.outExt[i] - 1) * p.stride[i] - p.padBefore[i] +
                        static_cast<__int128>(p.kExt[i] - 1) * p.dilation[i];
    if (hi >= REACH || static_cast<__int128>(p.padBefore[i]) + p.inExt[i] >= REACH)
      throw RangeError(std::string("padded coordinates of axis ") + axis[i] + " exceed 2^60");
    if (p.mode != 0) {
      for (const int64_t pos : {-p.padBefore[i], static_cast<int64_t>(hi)}) {
        const int64_t s = sourceIndex(pos, p.inExt[i], p.mode);
        if (s < 0 || s >= p.inExt[i])
          throw RangeError(std::string("padding of axis ") + axis[i] + " reaches coordinate " + std::to_string(pos) +
                           ", which the padding mode cannot map into the " + std::to_string(p.inExt[i]) +
                           " input elements");
      }
    }
  }
  reach += static_cast<__int128>(p.cinG - 1) * p.xC;
  const __int128 lastRow =
      static_cast<__int128>(p.cinG - 1) * p.rowPerChannel + (kSize - 1) * static_cast<__int128>(p.rowPerOffset);
  if (positions >= REACH || kSize >= REACH || reach >= REACH || lastRow >= REACH)
    throw RangeError("plan extents exceed 2^60 elements");
  p.positions = static_cast<int64_t>(positions);
  p.kSize = static_cast<int64_t>(kSize);
  p.channelReach = static_cast<int64_t>(reach);
  p.lastRow = static_cast<int64_t>(lastRow);
  return p;
}

void im2col(const Im2colPlan& p, const Array& x, int64_t image, int64_t group, int64_t p0, int64_t p1, const Array& cols,
            int64_t colsOffset, int64_t ld) {
  checkCall(p, x, image, group, p0, p1, cols, colsOffset, ld);
  if (p1 == p0) return;
  if (x.float64)
    traverse<double, false>(p, x.as<double>() + image, group, p0, p1, cols.as<double>() + colsOffset, ld);
  else
    traverse<float, false>(p, x.as<float>() + image, group, p0, p1, cols.as<float>() + colsOffset, ld);
}

void col2im(const Im2colPlan& p, const Array& dcols, int64_t colsOffset, int64_t ld, int64_t group, int64_t p0,
            int64_t p1, const Array& dx, int64_t image) {
  checkCall(p, dx, image, group, p0, p1, dcols, colsOffset, ld);
  if (p1 == p0) return;
  if (dx.float64)
    traverse<double, true>(p, dx.as<double>() + image, group, p0, p1, dcols.as<double>() + colsOffset, ld);
  else
    traverse<float, true>(p, dx.as<float>() + image, group, p0, p1, dcols.as<float>() + colsOffset, ld);
}

}  // namespace convd
