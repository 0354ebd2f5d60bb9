// The convd native engine's Node-API addon (workers/engines/native.ts loads it): the GEMM on
// the system BLAS, im2col / col2im, the depthwise path's direct correlation, direct
// convolution on oneDNN, and the libraries' description for convd_kernel_info.
// Every export validates its arguments (args.h) before a kernel runs. The addon is loaded
// once per worker thread (context-aware); each loading thread runs its BLAS single-threaded,
// so that one worker thread is one core.
#include <cblas.h>

#include <string>

#include "args.h"
#include "convolution.h"
#include "direct.h"
#include "gemm.h"
#include "im2col.h"

namespace convd {
namespace {

napi_value Gemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 15);
    GemmArgs g{a.index(0, "m"),        a.index(1, "n"),         a.index(2, "k"),       a.array(3, "A"),
               a.index(4, "A offset"), a.index(5, "A row stride"), a.index(6, "A column stride"),
               a.array(7, "B"),        a.index(8, "B offset"),  a.index(9, "B row stride"),
               a.index(10, "B column stride"), a.array(11, "C"), a.index(12, "C offset"),
               a.index(13, "ldc"),     a.flag(14, "accumulate")};
    gemm(g);
    return undefined(env);
  });
}

napi_value MakeIm2colPlan(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 1);
    const Array r = a.array(0, "plan record");
    if (!r.float64 || r.length != PLAN_FIELDS)
      throw TypeError("plan record must be a Float64Array of " + std::to_string(PLAN_FIELDS) + " fields");
    auto* plan = new Im2colPlan(makePlan(r.as<double>()));
    napi_value out;
    const napi_status s = napi_create_external(
        env, plan, [](napi_env, void* data, void*) { delete static_cast<Im2colPlan*>(data); }, nullptr, &out);
    if (s != napi_ok) {
      delete plan;
      throw std::runtime_error("could not create the plan object");
    }
    return out;
  });
}

napi_value Im2col(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 9);
    const auto& plan = *static_cast<const Im2colPlan*>(a.external(0, "plan"));
    im2col(plan, a.array(1, "x"), a.index(2, "image"), a.index(3, "group"), a.index(4, "p0"), a.index(5, "p1"),
           a.array(6, "cols"), a.index(7, "cols offset"), a.index(8, "ld"));
    return undefined(env);
  });
}

napi_value Col2im(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 9);
    const auto& plan = *static_cast<const Im2colPlan*>(a.external(0, "plan"));
    col2im(plan, a.array(1, "dcols"), a.index(2, "dcols offset"), a.index(3, "ld"), a.index(4, "group"),
           a.index(5, "p0"), a.index(6, "p1"), a.array(7, "dx"), a.index(8, "image"));
    return undefined(env);
  });
}

DirectDims directDims(const Args& a, size_t i) {
  const Array r = a.array(i, "direct dims");
  if (!r.float64 || r.length != DIRECT_FIELDS)
    throw TypeError("direct dims must be a Float64Array of " + std::to_string(DIRECT_FIELDS) + " fields");
  return makeDirectDims(r.as<double>());
}

double number(napi_env env, napi_value v, const char* name) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (type != napi_number) throw TypeError(std::string(name) + " must be a number");
  double out;
  napi_get_value_double(env, v, &out);
  return out;
}

napi_value DirectForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 6);
    directForward(directDims(a, 0), a.array(1, "xp"), a.array(2, "wk"), number(env, a[3], "bias"), a.array(4, "out"),
                  a.index(5, "out offset"));
    return undefined(env);
  });
}

napi_value DirectGradInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 5);
    directGradInput(directDims(a, 0), a.array(1, "dy"), a.index(2, "dy offset"), a.array(3, "wk"), a.array(4, "dxp"));
    return undefined(env);
  });
}

napi_value DirectGradWeight(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 6);
    directGradWeight(directDims(a, 0), a.array(1, "dy"), a.index(2, "dy offset"), a.array(3, "xp"), a.array(4, "dwk"),
                     a.index(5, "dwk offset"));
    return undefined(env);
  });
}

napi_value MakeConvolution(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 1);
    const Array r = a.array(0, "convolution record");
    if (!r.float64 || r.length != CONV_FIELDS)
      throw TypeError("convolution record must be a Float64Array of " + std::to_string(CONV_FIELDS) + " fields");
    Convolution* c = makeConvolution(r.as<double>());
    napi_value out;
    const napi_status s = napi_create_external(
        env, c, [](napi_env, void* data, void*) { destroy(static_cast<Convolution*>(data)); }, nullptr, &out);
    if (s != napi_ok) {
      destroy(c);
      throw std::runtime_error("could not create the convolution object");
    }
    return out;
  });
}

napi_value boolean(napi_env env, bool v) {
  napi_value out;
  napi_get_boolean(env, v, &out);
  return out;
}

Convolution& convolutionArg(const Args& a) { return *static_cast<Convolution*>(a.external(0, "convolution")); }

napi_value ConvForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 7);
    Convolution& c = convolutionArg(a);
    const Array bias = a.isNull(4) ? Array{} : a.array(4, "bias");
    return boolean(env, convForward(c, a.array(1, "x"), a.index(2, "x offset"), a.array(3, "weight"),
                                    a.isNull(4) ? nullptr : &bias, a.array(5, "y"), a.index(6, "y offset")));
  });
}

napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 6);
    convBackwardData(convolutionArg(a), a.array(1, "weight"), a.array(2, "grad_output"), a.index(3, "grad_output offset"),
                     a.array(4, "grad_input"), a.index(5, "grad_input offset"));
    return undefined(env);
  });
}

napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 6);
    return boolean(env, convBackwardWeights(convolutionArg(a), a.array(1, "x"), a.index(2, "x offset"),
                                            a.array(3, "grad_output"), a.index(4, "grad_output offset"),
                                            a.array(5, "grad_weight")));
  });
}

napi_value string(napi_env env, const std::string& s) {
  napi_value out;
  napi_create_string_utf8(env, s.c_str(), s.size(), &out);
  return out;
}

napi_value ConvImplementations(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    Args a(env, info, 1);
    return string(env, convolutionImplementations(convolutionArg(a)));
  });
}

/** "OpenBLAS 0.3.21 (Zen)": the first two words of openblas_get_config and the kernel set it dispatched to. */
std::string blasLibrary() {
  const std::string config = openblas_get_config();
  const size_t second = config.find(' ', config.find(' ') + 1);
  return config.substr(0, second) + " (" + openblas_get_corename() + ")";
}

/** { blas: "OpenBLAS 0.3.21 (Zen)", convolution: "oneDNN 2.6.3 (avx512_core)" } */
napi_value Library(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    napi_value out;
    napi_create_object(env, &out);
    napi_set_named_property(env, out, "blas", string(env, blasLibrary()));
    napi_set_named_property(env, out, "convolution", string(env, convolutionLibrary()));
    return out;
  });
}

}  // namespace
}  // namespace convd

NAPI_MODULE_INIT() {
  // One BLAS thread per calling thread: the worker pool is the parallelism.
  openblas_set_num_threads(1);
  const napi_property_descriptor props[] = {
      {"gemm", nullptr, convd::Gemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"im2colPlan", nullptr, convd::MakeIm2colPlan, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"im2col", nullptr, convd::Im2col, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"col2im", nullptr, convd::Col2im, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convolution", nullptr, convd::MakeConvolution, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convForward", nullptr, convd::ConvForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackwardData", nullptr, convd::ConvBackwardData, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convBackwardWeights", nullptr, convd::ConvBackwardWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"convImplementations", nullptr, convd::ConvImplementations, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"directForward", nullptr, convd::DirectForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"directGradInput", nullptr, convd::DirectGradInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"directGradWeight", nullptr, convd::DirectGradWeight, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"library", nullptr, convd::Library, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
