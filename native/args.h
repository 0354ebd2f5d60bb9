// Node-API argument handling for the convd addon: every value a kernel reads is checked here
// first (integers in range, float32 / float64 typed arrays, element counts against the views
// the kernel will touch), so that no JavaScript value reaches a kernel unvalidated. A failed
// check throws a JavaScript TypeError or RangeError naming the argument and the numbers.
#pragma once

#include <node_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace convd {

struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** A float32 or float64 typed array, read and written in place (any ArrayBuffer or SharedArrayBuffer). */
struct Array {
  bool float64;
  void* data;
  int64_t length;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

/** Largest integer a JavaScript number holds exactly: every index and extent is at most this. */
constexpr int64_t MAX_SAFE = (int64_t{1} << 53) - 1;

class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected);
  napi_env env() const { return env_; }
  napi_value operator[](size_t i) const { return argv_[i]; }
  /** A non-negative integer (0 ... 2^53 - 1). */
  int64_t index(size_t i, const char* name) const;
  /** Any integer of magnitude below 2^53. */
  int64_t integer(size_t i, const char* name) const;
  bool flag(size_t i, const char* name) const;
  bool isNull(size_t i) const;
  Array array(size_t i, const char* name) const;
  void* external(size_t i, const char* name) const;

 private:
  double number(size_t i, const char* name) const;
  napi_env env_;
  napi_value argv_[16];
  size_t argc_;
};

/**
 * Throws RangeError unless the rows x cols view at element `offset` with strides (rs, cs) lies
 * inside `a` (an empty view always does).
 */
void checkView(const Array& a, int64_t offset, int64_t rows, int64_t cols, int64_t rs, int64_t cs, const char* what);

/** Throws TypeError unless `a` holds the element type `float64`. */
void checkType(const Array& a, bool float64, const char* what);

/** Runs `body`, turning its TypeError / RangeError (or any other exception) into a JavaScript throw. */
template <typename F>
napi_value guarded(napi_env env, F body) {
  try {
    return body();
  } catch (const TypeError& e) {
    napi_throw_type_error(env, nullptr, e.what());
  } catch (const RangeError& e) {
    napi_throw_range_error(env, nullptr, e.what());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value undefined(napi_env env);

}  // namespace convd
