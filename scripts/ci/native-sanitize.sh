#!/usr/bin/env bash
# The native engine under AddressSanitizer and UndefinedBehaviorSanitizer: builds the addon
# with both (build/sanitize/, beside the normal build) and runs the engine and kernel tests
# once on it (CONVD_NATIVE_ADDON points the engine there). node itself is not instrumented,
# so the ASan runtime is preloaded; leak detection is off (V8's heap is not ours to audit).
# Any sanitizer report fails the run. Needs the compiled tests (npm run build, or npm test).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=build/sanitize/convd_native.node
rm -f "$OUT"
CONVD_NATIVE_OUT=$OUT \
  CONVD_NATIVE_FLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all' \
  bash scripts/build-native.sh
if [ ! -f "$OUT" ]; then
  echo "native-sanitize: the addon was not built (see the line above)" >&2
  exit 1
fi
ASAN_RUNTIME=$("${CXX:-g++}" -print-file-name=libasan.so)
echo "== native engine tests under ASan + UBSan ($OUT, $ASAN_RUNTIME)"
LD_PRELOAD=$ASAN_RUNTIME \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  CONVD_NATIVE_ADDON=$PWD/$OUT \
  node --test --test-concurrency=1 --test-reporter=dot dist/test/engines/*.test.js dist/test/kernels/*.test.js
