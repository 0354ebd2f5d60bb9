// AssemblyScript: im2col / col2im of one image and group over the output positions [p0, p1),
// in float32 (im2col, col2im) and float64 (im2col64, col2im64) from one generic body; the
// WebAssembly twin of workers/kernels/im2col.ts: same traversal (matrix row by matrix row,
// in segments along the output W axis), same padding index mapping, same column layout
// cols[row * ld + (p - p0)]. See that file for the math and the adjoint argument.
//
// The plan's integers are read from memory at `plan`, written by workers/engines/wasm.ts (planRecord, PLAN_LAYOUT)
// in the order of the field indices below. `image` is the byte address of the image's first
// element (the input for im2col, the input gradient for col2im): one image, staged by the caller.

const IN_EXT = 0; // D, H, W
const K_EXT = 3;
const OUT_EXT = 6;
const STRIDE = 9;
const DILATION = 12;
const PAD_BEFORE = 15;
const X_SPATIAL = 18; // element strides of the input's D, H, W axes
const X_C = 21; // element stride of its channel axis
const CIN_G = 22;
const ROW_PER_CHANNEL = 23;
const ROW_PER_OFFSET = 24;
const PADDING_MODE = 25; // 0 zeros, 1 reflect, 2 replicate, 3 circular
export const PLAN_FIELDS: i32 = 26;

// @ts-ignore: decorator
@inline
function field(plan: usize, i: i32): i32 {
  return load<i32>(plan + (<usize>i << 2));
}

/** Address of element i of T from base. */
// @ts-ignore: decorator
@inline
function at<T>(base: usize, i: i32): usize {
  return base + <usize>i * sizeof<T>();
}

/** The input coordinate padded coordinate `pos` copies in an axis of `extent`, or -1 for a zero. */
function sourceIndex(pos: i32, extent: i32, mode: i32): i32 {
  if (pos >= 0 && pos < extent) return pos;
  if (mode == 0) return -1;
  if (mode == 1) return pos < 0 ? -pos : 2 * (extent - 1) - pos; // reflect
  if (mode == 2) return pos < 0 ? 0 : extent - 1; // replicate
  return pos < 0 ? pos + extent : pos - extent; // circular
}

/** cols = im2col(image) for group `group`, positions [p0, p1) (float32). */
export function im2col(plan: usize, image: usize, group: i32, p0: i32, p1: i32, cols: usize, ld: i32): void {
  traverse<f32>(plan, image, group, p0, p1, cols, ld, false);
}

/** image += col2im(dcols) for group `group`, positions [p0, p1): the adjoint of im2col (float32). */
export function col2im(plan: usize, dcols: usize, ld: i32, group: i32, p0: i32, p1: i32, image: usize): void {
  traverse<f32>(plan, image, group, p0, p1, dcols, ld, true);
}

/** im2col in float64. */
export function im2col64(plan: usize, image: usize, group: i32, p0: i32, p1: i32, cols: usize, ld: i32): void {
  traverse<f64>(plan, image, group, p0, p1, cols, ld, false);
}

/** col2im in float64. */
export function col2im64(plan: usize, dcols: usize, ld: i32, group: i32, p0: i32, p1: i32, image: usize): void {
  traverse<f64>(plan, image, group, p0, p1, dcols, ld, true);
}

// One walk for both directions: for each matrix segment, gather it from its input line, or
// scatter-add it back onto that line.
// @ts-ignore: decorator
@inline
function traverse<T>(plan: usize, image: usize, group: i32, p0: i32, p1: i32, cols: usize, ld: i32, scatter: bool): void {
  const inD = field(plan, IN_EXT), inH = field(plan, IN_EXT + 1), inW = field(plan, IN_EXT + 2);
  const kD = field(plan, K_EXT), kH = field(plan, K_EXT + 1), kW = field(plan, K_EXT + 2);
  const oH = field(plan, OUT_EXT + 1), oW = field(plan, OUT_EXT + 2);
  const sD = field(plan, STRIDE), sH = field(plan, STRIDE + 1), sW = field(plan, STRIDE + 2);
  const dD = field(plan, DILATION), dH = field(plan, DILATION + 1), dW = field(plan, DILATION + 2);
  const padD = field(plan, PAD_BEFORE), padH = field(plan, PAD_BEFORE + 1), padW = field(plan, PAD_BEFORE + 2);
  const xD = field(plan, X_SPATIAL), xH = field(plan, X_SPATIAL + 1), xW = field(plan, X_SPATIAL + 2);
  const xC = field(plan, X_C), cinG = field(plan, CIN_G);
  const rowPerChannel = field(plan, ROW_PER_CHANNEL), rowPerOffset = field(plan, ROW_PER_OFFSET);
  const mode = field(plan, PADDING_MODE);
  for (let ci = 0; ci < cinG; ci++) {
    const channel = at<T>(image, (group * cinG + ci) * xC);
    for (let kd = 0; kd < kD; kd++) {
      for (let kh = 0; kh < kH; kh++) {
        for (let kw = 0; kw < kW; kw++) {
          const row = ci * rowPerChannel + ((kd * kH + kh) * kW + kw) * rowPerOffset;
          let seg = at<T>(cols, row * ld);
          for (let q = p0; q < p1; ) {
            const outRow = q / oW;
            const ow = q - outRow * oW;
            const count = min(oW - ow, p1 - q);
            const od = outRow / oH;
            const oh = outRow - od * oH;
            const sd = sourceIndex(od * sD - padD + kd * dD, inD, mode);
            const sh = sourceIndex(oh * sH - padH + kh * dH, inH, mode);
            const w0 = ow * sW - padW + kw * dW;
            if (sd >= 0 && sh >= 0) {
              const line = at<T>(channel, sd * xD + sh * xH);
              if (scatter) scatterLine<T>(seg, line, w0, sW, count, inW, xW, mode);
              else gatherLine<T>(line, w0, sW, count, inW, xW, mode, seg);
            } else if (!scatter) {
              for (let i = 0; i < count; i++) store<T>(at<T>(seg, i), 0);
            }
            seg = at<T>(seg, count);
            q += count;
          }
        }
      }
    }
  }
}

// A segment reads the line at padded W coordinates w0, w0 + step, ... (count of them); those in
// [first, end) are inside the input, the others are padding (mapped through sourceIndex).

// @ts-ignore: decorator
@inline
function interiorFirst(w0: i32, step: i32, count: i32): i32 {
  return w0 >= 0 ? 0 : min(count, (step - 1 - w0) / step);
}

// @ts-ignore: decorator
@inline
function interiorEnd(first: i32, w0: i32, step: i32, count: i32, extent: i32): i32 {
  // ceil((extent - w0) / step); a non-positive numerator only has to stay <= first.
  return max(first, min(count, (extent - w0 + step - 1) / step));
}

function gatherLine<T>(line: usize, w0: i32, step: i32, count: i32, extent: i32, xW: i32, mode: i32, seg: usize): void {
  const first = interiorFirst(w0, step, count);
  const end = interiorEnd(first, w0, step, count, extent);
  for (let i = 0; i < first; i++) store<T>(at<T>(seg, i), paddedValue<T>(line, w0 + i * step, extent, xW, mode));
  for (let i = end; i < count; i++) store<T>(at<T>(seg, i), paddedValue<T>(line, w0 + i * step, extent, xW, mode));
  const jump = step * xW;
  let src = at<T>(line, (w0 + first * step) * xW);
  if (jump == 1) {
    memory.copy(at<T>(seg, first), src, <usize>(end - first) * sizeof<T>());
    return;
  }
  let i = first;
  if (jump == 2) {
    // Stride 2 along a dense W axis: the even lanes of two vectors, one vector of outputs at a
    // time. The last value read lies before the next output's source, so the loop stops while
    // one output remains.
    const n = <i32>(16 / sizeof<T>());
    for (; i + n + 1 <= end; i += n, src = at<T>(src, 2 * n)) {
      const even = sizeof<T>() == 4 ? v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6) : v128.shuffle<f64>(v128.load(src), v128.load(src, 16), 0, 2);
      v128.store(at<T>(seg, i), even);
    }
  }
  for (; i < end; i++) {
    store<T>(at<T>(seg, i), load<T>(src));
    src = at<T>(src, jump);
  }
}

// @ts-ignore: decorator
@inline
function paddedValue<T>(line: usize, pos: i32, extent: i32, xW: i32, mode: i32): T {
  const s = sourceIndex(pos, extent, mode);
  return s < 0 ? <T>0 : load<T>(at<T>(line, s * xW));
}

function scatterLine<T>(seg: usize, line: usize, w0: i32, step: i32, count: i32, extent: i32, xW: i32, mode: i32): void {
  const first = interiorFirst(w0, step, count);
  const end = interiorEnd(first, w0, step, count, extent);
  for (let i = 0; i < first; i++) addToPadded<T>(line, w0 + i * step, extent, xW, mode, load<T>(at<T>(seg, i)));
  for (let i = end; i < count; i++) addToPadded<T>(line, w0 + i * step, extent, xW, mode, load<T>(at<T>(seg, i)));
  const jump = step * xW;
  let dst = at<T>(line, (w0 + first * step) * xW);
  let i = first;
  if (jump == 1) {
    const n = <i32>(16 / sizeof<T>());
    for (; i + n <= end; i += n, dst = at<T>(dst, n)) v128.store(dst, v128.add<T>(v128.load(dst), v128.load(at<T>(seg, i))));
  }
  for (; i < end; i++, dst = at<T>(dst, jump)) store<T>(dst, load<T>(dst) + load<T>(at<T>(seg, i)));
}

// @ts-ignore: decorator
@inline
function addToPadded<T>(line: usize, pos: i32, extent: i32, xW: i32, mode: i32, g: T): void {
  const s = sourceIndex(pos, extent, mode);
  if (s < 0) return;
  const d = at<T>(line, s * xW);
  store<T>(d, load<T>(d) + g);
}
