// Direct convolution on oneDNN (float32): the plan keeps memory descriptors with the caller's
// own strides, so a tensor is read or written in place whenever the primitive takes the
// caller's layout (channels_last usually is oneDNN's own); otherwise it is reordered into or
// out of a thread-local buffer. Primitives are made once per plan and direction, with the
// scratchpad in a thread-local buffer too (no allocation per call once the buffers are grown).
#include "convolution.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace convd {

namespace {

void ok(dnnl_status_t s, const char* what) {
  if (s != dnnl_success) throw std::runtime_error(std::string("oneDNN ") + what + " failed (status " + std::to_string(s) + ")");
}

/** The thread's oneDNN engine and stream (each worker thread calls from itself, one OpenMP thread). */
struct Context {
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  Context() {
    omp_set_num_threads(1);
    ok(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create");
    ok(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), "stream_create");
  }
  ~Context() {
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
  }
};

Context& context() {
  thread_local Context c;
  return c;
}

/** A thread-local 64-byte aligned buffer per role that only grows. */
void* scratch(int role, size_t bytes) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[5];
  Buffer& b = buffers[role];
  if (b.size < bytes) {
    std::free(b.data);
    b.size = (bytes + 63) / 64 * 64;
    b.data = std::aligned_alloc(64, b.size);
    if (!b.data) {
      b.size = 0;
      throw std::bad_alloc();
    }
  }
  return b.data;
}
enum Role { SRC = 0, WEIGHTS = 1, DST = 2, PAD = 3 };

int64_t field(const double* r, int i, int64_t min, const char* name) {
  const double v = r[i];
  if (!(v >= static_cast<double>(min) && v <= static_cast<double>(MAX_SAFE)) ||
      v != static_cast<double>(static_cast<int64_t>(v)))
    throw RangeError(std::string("convolution field ") + name + " is " + std::to_string(v) +
                     "; expected an integer >= " + std::to_string(min));
  return static_cast<int64_t>(v);
}

/** A tensor as oneDNN sees it: dims and the caller's strides (elements). */
struct Tensor {
  int ndims = 0;
  dnnl_dims_t dims{}, strides{};
  dnnl_memory_desc_t md{};
  /** Largest element offset it reaches from its first element. */
  __int128 reach = 0;
  void finish() {
    ok(dnnl_memory_desc_init_by_strides(&md, ndims, dims, dnnl_f32, strides), "memory_desc_init_by_strides");
    reach = 0;
    for (int i = 0; i < ndims; i++) reach += static_cast<__int128>(dims[i] - 1) * strides[i];
  }
  void check(const Array& a, int64_t at, const char* what) const {
    checkType(a, false, what);
    if (at + reach >= a.length)
      throw RangeError(std::string(what) + " at offset " + std::to_string(at) + " reaches past the array's " +
                       std::to_string(a.length) + " elements");
  }
};

/** One direction: its primitive, and per argument whether the caller's layout is used as is. */
struct Direction {
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_primitive_t primitive = nullptr;
  std::string impl;
  bool bias = false;
  ~Direction() {
    if (primitive) dnnl_primitive_destroy(primitive);
    if (pd) dnnl_primitive_desc_destroy(pd);
  }
};

dnnl_memory_desc_t anyLike(const Tensor& t) {
  dnnl_memory_desc_t md;
  ok(dnnl_memory_desc_init_by_tag(&md, t.ndims, t.dims, dnnl_f32, dnnl_format_tag_any), "memory_desc_init_by_tag");
  return md;
}

}  // namespace

class Convolution {
 public:
  Tensor src, weights, dst;
  dnnl_dims_t stride{}, dilation{}, padL{}, padR{};
  int64_t cout = 0;
  /** Whether any tap meets zero padding (oneDNN skips those taps: 0 · inf would not become NaN). */
  bool padded = false;
  std::unique_ptr<Direction> forward, backwardData, backwardWeights, forwardHint;

  /** A user memory over `data` with the caller's strides, or nullptr data for a scratch buffer of the primitive's own layout. */
  static dnnl_memory_t memory(const dnnl_memory_desc_t* md, void* data) {
    dnnl_memory_t m;
    ok(dnnl_memory_create(&m, md, context().engine, data), "memory_create");
    return m;
  }

  /** The convolution descriptor of one direction, with `s`, `w`, `d` the memory descriptors it is asked for. */
  dnnl_convolution_desc_t desc(int kind, const dnnl_memory_desc_t& s, const dnnl_memory_desc_t& w,
                               const dnnl_memory_desc_t* b, const dnnl_memory_desc_t& d) const {
    dnnl_convolution_desc_t cd;
    if (kind == 0)
      ok(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &s, &w, b, &d,
                                                    stride, dilation, padL, padR),
         "convolution_forward_desc_init");
    else if (kind == 1)
      ok(dnnl_dilated_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &s, &w, &d, stride, dilation,
                                                          padL, padR),
         "convolution_backward_data_desc_init");
    else
      ok(dnnl_dilated_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &s, &w, b, &d, stride,
                                                             dilation, padL, padR),
         "convolution_backward_weights_desc_init");
    return cd;
  }

  /**
   * Makes direction `kind` (0 forward, 1 backward data, 2 backward weights): first with the
   * caller's layouts for the activations (weights: the primitive's choice); when that gets only
   * a reference or GEMM-based implementation, with the primitive's choice for all of them.
   */
  std::unique_ptr<Direction> make(int kind, bool bias) {
    dnnl_primitive_attr_t attr;
    ok(dnnl_primitive_attr_create(&attr), "primitive_attr_create");
    ok(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "set_scratchpad_mode");
    const dnnl_primitive_desc_t hint = kind == 0 ? nullptr : hintFor();
    dnnl_memory_desc_t biasMd;
    dnnl_dims_t biasDims = {cout};
    ok(dnnl_memory_desc_init_by_tag(&biasMd, 1, biasDims, dnnl_f32, dnnl_a), "memory_desc_init_by_tag");
    auto d = std::make_unique<Direction>();
    for (int attempt = 0; attempt < 2; attempt++) {
      const dnnl_memory_desc_t s = attempt == 0 ? src.md : anyLike(src);
      const dnnl_memory_desc_t o = attempt == 0 ? dst.md : anyLike(dst);
      const dnnl_convolution_desc_t cd = desc(kind, s, anyLike(weights), bias ? &biasMd : nullptr, o);
      dnnl_primitive_desc_t pd;
      if (dnnl_primitive_desc_create(&pd, &cd, attr, context().engine, hint) != dnnl_success) continue;
      const char* impl = nullptr;
      dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
      const std::string name = impl ? impl : "";
      const bool weak = name.rfind("ref", 0) == 0 || name.find("gemm") != std::string::npos;
      if (attempt == 0 && weak) {
        dnnl_primitive_desc_destroy(pd);
        continue;
      }
      d->pd = pd;
      d->impl = name;
      d->bias = bias;
      break;
    }
    dnnl_primitive_attr_destroy(attr);
    if (!d->pd) throw std::runtime_error("oneDNN has no implementation of this convolution");
    ok(dnnl_primitive_create(&d->primitive, d->pd), "primitive_create");
    return d;
  }

  dnnl_primitive_desc_t hintFor() {
    if (!forwardHint) forwardHint = make(0, false);
    return forwardHint->pd;
  }

  /**
   * Runs direction `d` on the arguments: each (arg, tensor, data, output) is used in place when
   * the primitive's layout is the caller's, else reordered into (input) or out of (output) a
   * thread-local buffer.
   */
  struct Arg {
    int arg;
    const Tensor* tensor;  // nullptr: a dense 1-D argument (bias), always the caller's layout
    void* data;
    bool output;
    int role;
  };
  void run(const Direction& d, std::initializer_list<Arg> args) {
    Context& ctx = context();
    std::vector<dnnl_exec_arg_t> exec;
    std::vector<dnnl_memory_t> owned;
    std::vector<std::pair<dnnl_memory_t, dnnl_memory_t>> after;  // (primitive's, caller's) to reorder back
    auto reorder = [&](dnnl_memory_t from, dnnl_memory_t to) {
      const dnnl_memory_desc_t *fm, *tm;
      dnnl_memory_get_memory_desc(from, &fm);
      dnnl_memory_get_memory_desc(to, &tm);
      dnnl_primitive_desc_t rpd;
      ok(dnnl_reorder_primitive_desc_create(&rpd, fm, ctx.engine, tm, ctx.engine, nullptr), "reorder_primitive_desc_create");
      dnnl_primitive_t r;
      const dnnl_status_t made = dnnl_primitive_create(&r, rpd);
      dnnl_primitive_desc_destroy(rpd);
      ok(made, "reorder primitive_create");
      dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
      const dnnl_status_t ran = dnnl_primitive_execute(r, ctx.stream, 2, ra);
      dnnl_primitive_destroy(r);
      ok(ran, "reorder");
    };
    try {
      for (const Arg& a : args) {
        if (!a.tensor) {
          dnnl_memory_desc_t md;
          dnnl_dims_t dims = {cout};
          ok(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a), "memory_desc_init_by_tag");
          owned.push_back(memory(&md, a.data));
          exec.push_back({a.arg, owned.back()});
          continue;
        }
        const dnnl_memory_desc_t* want = dnnl_primitive_desc_query_md(d.pd, queryOf(a.arg), 0);
        owned.push_back(memory(&a.tensor->md, a.data));
        dnnl_memory_t user = owned.back();
        if (dnnl_memory_desc_equal(want, &a.tensor->md)) {
          exec.push_back({a.arg, user});
          continue;
        }
        owned.push_back(memory(want, scratch(a.role, dnnl_memory_desc_get_size(want))));
        dnnl_memory_t mine = owned.back();
        if (a.output)
          after.push_back({mine, user});
        else
          reorder(user, mine);
        exec.push_back({a.arg, mine});
      }
      const dnnl_memory_desc_t* pad = dnnl_primitive_desc_query_md(d.pd, dnnl_query_scratchpad_md, 0);
      const size_t padBytes = pad ? dnnl_memory_desc_get_size(pad) : 0;
      if (padBytes > 0) {
        owned.push_back(memory(pad, scratch(PAD, padBytes)));
        exec.push_back({DNNL_ARG_SCRATCHPAD, owned.back()});
      }
      ok(dnnl_primitive_execute(d.primitive, ctx.stream, static_cast<int>(exec.size()), exec.data()), "convolution");
      for (auto& [from, to] : after) reorder(from, to);
      ok(dnnl_stream_wait(ctx.stream), "stream_wait");
    } catch (...) {
      for (dnnl_memory_t m : owned) dnnl_memory_destroy(m);
      throw;
    }
    for (dnnl_memory_t m : owned) dnnl_memory_destroy(m);
  }

  static dnnl_query_t queryOf(int arg) {
    switch (arg) {
      case DNNL_ARG_SRC:
        return dnnl_query_src_md;
      case DNNL_ARG_WEIGHTS:
        return dnnl_query_weights_md;
      case DNNL_ARG_DST:
        return dnnl_query_dst_md;
      case DNNL_ARG_DIFF_SRC:
        return dnnl_query_diff_src_md;
      case DNNL_ARG_DIFF_WEIGHTS:
        return dnnl_query_diff_weights_md;
      default:
        return dnnl_query_diff_dst_md;
    }
  }
};

Convolution* makeConvolution(const double* r) {
  auto c = std::make_unique<Convolution>();
  const int64_t n = field(r, 0, 1, "images");
  const int64_t groups = field(r, 1, 1, "groups");
  const int64_t cinG = field(r, 2, 1, "cinG");
  const int64_t coutG = field(r, 3, 1, "coutG");
  int64_t in[3], k[3], out[3], st[3], dil[3], pad[3], xSp[3];
  static const char* names[] = {"inExt", "kExt", "outExt", "stride", "dilation", "padBefore"};
  for (int i = 0; i < 3; i++) {
    in[i] = field(r, 4 + i, 1, names[0]);
    k[i] = field(r, 7 + i, 1, names[1]);
    out[i] = field(r, 10 + i, 1, names[2]);
    st[i] = field(r, 13 + i, 1, names[3]);
    dil[i] = field(r, 16 + i, 1, names[4]);
    pad[i] = field(r, 19 + i, 0, names[5]);
    xSp[i] = field(r, 24 + i, 0, "xSpatial");
  }
  const int64_t xN = field(r, 22, 0, "xN"), xC = field(r, 23, 0, "xC");
  const int64_t yN = field(r, 27, 0, "yN"), yC = field(r, 28, 0, "yC"), yP = field(r, 29, 0, "yP");
  const int64_t wCo = field(r, 30, 0, "wCo"), wRow = field(r, 31, 0, "wRow");
  const int64_t rowPerChannel = field(r, 32, 0, "rowPerChannel"), rowPerOffset = field(r, 33, 0, "rowPerOffset");
  for (const int64_t v : {n, groups, cinG, coutG, in[0], in[1], in[2], k[0], k[1], k[2], out[0], out[1], out[2], st[0],
                          st[1], st[2], dil[0], dil[1], dil[2], pad[0], pad[1], pad[2]})
    if (v >= (int64_t{1} << 31)) throw RangeError("convolution extents beyond 2^31 are not planned on oneDNN");
  // Leading spatial axes of extent 1 everywhere (1-D and 2-D lowered to 3-D) are dropped.
  int first = 0;
  while (first < 2 && in[first] == 1 && k[first] == 1 && out[first] == 1 && pad[first] == 0) first++;
  const int rank = 3 - first;
  c->cout = groups * coutG;
  Tensor& s = c->src;
  Tensor& w = c->weights;
  Tensor& d = c->dst;
  s.ndims = d.ndims = 2 + rank;
  s.dims[0] = d.dims[0] = n;
  s.dims[1] = groups * cinG;
  d.dims[1] = groups * coutG;
  s.strides[0] = xN;
  s.strides[1] = xC;
  d.strides[0] = yN;
  d.strides[1] = yC;
  const bool grouped = groups > 1;
  w.ndims = 2 + rank + (grouped ? 1 : 0);
  int wi = 0;
  if (grouped) {
    w.dims[wi] = groups;
    w.strides[wi++] = coutG * wCo;
  }
  w.dims[wi] = coutG;
  w.strides[wi++] = wCo;
  w.dims[wi] = cinG;
  w.strides[wi++] = rowPerChannel * wRow;
  const int64_t tap = rowPerOffset * wRow;
  for (int i = first; i < 3; i++) {
    const int j = i - first;
    s.dims[2 + j] = in[i];
    s.strides[2 + j] = xSp[i];
    d.dims[2 + j] = out[i];
    int64_t outInner = yP, tapInner = tap;
    for (int l = i + 1; l < 3; l++) {
      outInner *= out[l];
      tapInner *= k[l];
    }
    d.strides[2 + j] = outInner;
    w.dims[wi + j] = k[i];
    w.strides[wi + j] = tapInner;
    c->stride[j] = st[i];
    c->dilation[j] = dil[i] - 1;  // oneDNN counts the gaps between taps
    c->padL[j] = pad[i];
    // The right padding that gives the planned output: (out - 1) * stride + span - in - left, at
    // least 0 (an input tail no tap reaches is left over, as oneDNN's floor division does).
    const int64_t span = (k[i] - 1) * dil[i] + 1;
    c->padR[j] = std::max<int64_t>(0, (out[i] - 1) * st[i] + span - in[i] - pad[i]);
    c->padded = c->padded || c->padL[j] > 0 || c->padR[j] > 0;
  }
  s.finish();
  w.finish();
  d.finish();
  return c.release();
}

void destroy(Convolution* c) { delete c; }

namespace {
/** Whether the elements [at, at + reach] of a are all finite. */
bool finite(const Array& a, int64_t at, __int128 reach) {
  const float* p = a.as<float>() + at;
  bool all = true;
  for (int64_t i = 0; i <= static_cast<int64_t>(reach); i++) all &= std::isfinite(p[i]);
  return all;
}
}  // namespace

bool convForward(Convolution& c, const Array& x, int64_t xAt, const Array& w, const Array* bias, const Array& y,
                 int64_t yAt) {
  c.src.check(x, xAt, "x");
  c.weights.check(w, 0, "weight");
  c.dst.check(y, yAt, "y");
  if (bias) {
    checkType(*bias, false, "bias");
    if (bias->length < c.cout) throw RangeError("bias has " + std::to_string(bias->length) + " elements, fewer than the " + std::to_string(c.cout) + " output channels");
  }
  if (c.padded && !finite(w, 0, c.weights.reach)) return false;
  std::unique_ptr<Direction>& d = c.forward;
  if (!d || d->bias != (bias != nullptr)) d = c.make(0, bias != nullptr);
  if (bias)
    c.run(*d, {{DNNL_ARG_SRC, &c.src, x.as<float>() + xAt, false, SRC},
               {DNNL_ARG_WEIGHTS, &c.weights, w.data, false, WEIGHTS},
               {DNNL_ARG_BIAS, nullptr, bias->data, false, 4},
               {DNNL_ARG_DST, &c.dst, y.as<float>() + yAt, true, DST}});
  else
    c.run(*d, {{DNNL_ARG_SRC, &c.src, x.as<float>() + xAt, false, SRC},
               {DNNL_ARG_WEIGHTS, &c.weights, w.data, false, WEIGHTS},
               {DNNL_ARG_DST, &c.dst, y.as<float>() + yAt, true, DST}});
  return true;
}

void convBackwardData(Convolution& c, const Array& w, const Array& dy, int64_t dyAt, const Array& dx, int64_t dxAt) {
  c.weights.check(w, 0, "weight");
  c.dst.check(dy, dyAt, "grad_output");
  c.src.check(dx, dxAt, "grad_input");
  if (!c.backwardData) c.backwardData = c.make(1, false);
  c.run(*c.backwardData, {{DNNL_ARG_DIFF_DST, &c.dst, dy.as<float>() + dyAt, false, DST},
                          {DNNL_ARG_WEIGHTS, &c.weights, w.data, false, WEIGHTS},
                          {DNNL_ARG_DIFF_SRC, &c.src, dx.as<float>() + dxAt, true, SRC}});
}

bool convBackwardWeights(Convolution& c, const Array& x, int64_t xAt, const Array& dy, int64_t dyAt, const Array& dw) {
  c.src.check(x, xAt, "x");
  c.dst.check(dy, dyAt, "grad_output");
  c.weights.check(dw, 0, "grad_weight");
  if (c.padded && !finite(dy, dyAt, c.dst.reach)) return false;
  if (!c.backwardWeights) c.backwardWeights = c.make(2, false);
  c.run(*c.backwardWeights, {{DNNL_ARG_SRC, &c.src, x.as<float>() + xAt, false, SRC},
                             {DNNL_ARG_DIFF_DST, &c.dst, dy.as<float>() + dyAt, false, DST},
                             {DNNL_ARG_DIFF_WEIGHTS, &c.weights, dw.data, true, WEIGHTS}});
  return true;
}

std::string convolutionLibrary() {
  const dnnl_version_t* v = dnnl_version();
  static const char* isas[] = {"sse41", "avx", "avx2", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"};
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  const dnnl_cpu_isa_t known[] = {dnnl_cpu_isa_sse41, dnnl_cpu_isa_avx, dnnl_cpu_isa_avx2, dnnl_cpu_isa_avx512_core,
                                  dnnl_cpu_isa_avx512_core_vnni, dnnl_cpu_isa_avx512_core_bf16, dnnl_cpu_isa_avx512_core_amx};
  std::string name = "any";
  for (int i = 0; i < 7; i++)
    if (isa == known[i]) name = isas[i];
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (" +
         name + ")";
}

std::string convolutionImplementations(const Convolution& c) {
  auto impl = [](const std::unique_ptr<Direction>& d) { return d ? d->impl : std::string(); };
  return impl(c.forward) + "," + impl(c.backwardData) + "," + impl(c.backwardWeights);
}

}  // namespace convd
