#include "args.h"

#include <cmath>

namespace convd {

namespace {
void check(napi_env env, napi_status status) {
  if (status != napi_ok) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    throw std::runtime_error(info && info->error_message ? info->error_message : "Node-API call failed");
  }
}
}  // namespace

Args::Args(napi_env env, napi_callback_info info, size_t expected) : env_(env), argc_(16) {
  check(env, napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr));
  if (argc_ != expected)
    throw TypeError("expected " + std::to_string(expected) + " arguments, got " + std::to_string(argc_));
}

double Args::number(size_t i, const char* name) const {
  napi_valuetype type;
  check(env_, napi_typeof(env_, argv_[i], &type));
  if (type != napi_number) throw TypeError(std::string(name) + " must be a number");
  double v;
  check(env_, napi_get_value_double(env_, argv_[i], &v));
  return v;
}

int64_t Args::integer(size_t i, const char* name) const {
  const double v = number(i, name);
  if (!(std::fabs(v) <= static_cast<double>(MAX_SAFE)) || v != std::trunc(v))
    throw RangeError(std::string(name) + " must be an integer of magnitude below 2^53, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

int64_t Args::index(size_t i, const char* name) const {
  const int64_t v = integer(i, name);
  if (v < 0) throw RangeError(std::string(name) + " must be non-negative, got " + std::to_string(v));
  return v;
}

bool Args::flag(size_t i, const char* name) const {
  napi_valuetype type;
  check(env_, napi_typeof(env_, argv_[i], &type));
  if (type != napi_boolean) throw TypeError(std::string(name) + " must be a boolean");
  bool v;
  check(env_, napi_get_value_bool(env_, argv_[i], &v));
  return v;
}

bool Args::isNull(size_t i) const {
  napi_valuetype type;
  check(env_, napi_typeof(env_, argv_[i], &type));
  return type == napi_null;
}

Array Args::array(size_t i, const char* name) const {
  bool is = false;
  check(env_, napi_is_typedarray(env_, argv_[i], &is));
  if (!is) throw TypeError(std::string(name) + " must be a Float32Array or Float64Array");
  napi_typedarray_type type;
  size_t length;
  void* data;
  check(env_, napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr));
  if (type != napi_float32_array && type != napi_float64_array)
    throw TypeError(std::string(name) + " must be a Float32Array or Float64Array");
  return {type == napi_float64_array, data, static_cast<int64_t>(length)};
}

void* Args::external(size_t i, const char* name) const {
  napi_valuetype type;
  check(env_, napi_typeof(env_, argv_[i], &type));
  if (type != napi_external) throw TypeError(std::string(name) + " must be a plan made by this addon");
  void* v;
  check(env_, napi_get_value_external(env_, argv_[i], &v));
  return v;
}

void checkView(const Array& a, int64_t offset, int64_t rows, int64_t cols, int64_t rs, int64_t cs, const char* what) {
  if (rows == 0 || cols == 0) return;
  const __int128 last = static_cast<__int128>(offset) + static_cast<__int128>(rows - 1) * rs +
                        static_cast<__int128>(cols - 1) * cs;
  if (last >= a.length)
    throw RangeError(std::string(what) + ": a " + std::to_string(rows) + " x " + std::to_string(cols) +
                     " view at offset " + std::to_string(offset) + " with strides " + std::to_string(rs) + ", " +
                     std::to_string(cs) + " reaches past the array's " + std::to_string(a.length) + " elements");
}

void checkType(const Array& a, bool float64, const char* what) {
  if (a.float64 != float64)
    throw TypeError(std::string(what) + " must be a " + (float64 ? "Float64Array" : "Float32Array") +
                    " like the other operands");
}

napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

}  // namespace convd
