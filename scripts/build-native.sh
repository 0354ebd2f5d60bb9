#!/usr/bin/env bash
# Compiles the native engine's Node-API addon (native/*.cc) against the system BLAS and oneDNN
# into dist/workers/native/convd_native.node (npm run build runs it). Without a C++ compiler or
# the libraries' headers it prints one line saying how to get them and exits 0: the service
# then runs on the WebAssembly engine.
#
#   CONVD_NATIVE_OUT   where to write the addon (default dist/workers/native/convd_native.node)
#   CONVD_NATIVE_FLAGS extra compiler flags (scripts/ci/native-sanitize.sh passes the sanitizers)
#
# The Node-API headers are those of the node running this script (<prefix>/include/node beside
# <prefix>/bin/node, as the official binaries and the node Docker images ship them), else the
# node-api-headers package's (a devDependency: a node without its headers, as a bare binary).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${CONVD_NATIVE_OUT:-dist/workers/native/convd_native.node}
CXX=${CXX:-g++}
NODE_INCLUDE=$(node -p "require('node:path').resolve(process.execPath, '../../include/node')")
[ -f "$NODE_INCLUDE/node_api.h" ] || NODE_INCLUDE=$PWD/node_modules/node-api-headers/include

missing=()
command -v "$CXX" >/dev/null 2>&1 || missing+=("a C++ compiler ($CXX)")
if [ ${#missing[@]} -eq 0 ]; then
  for header in cblas.h oneapi/dnnl/dnnl.h; do
    printf '#include <%s>\n' "$header" | "$CXX" -x c++ -E - -o /dev/null 2>/dev/null || missing+=("$header")
  done
fi
[ -f "$NODE_INCLUDE/node_api.h" ] || missing+=("node_api.h (npm ci installs node-api-headers)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "native engine not built (missing: ${missing[*]}): apt-get install g++ libopenblas-dev libdnnl-dev, then npm run build; until then convd runs on wasm"
  exit 0
fi

mkdir -p "$(dirname "$OUT")"
# shellcheck disable=SC2086 # CONVD_NATIVE_FLAGS is a list of flags
"$CXX" -std=c++17 -O3 -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror \
  -DNAPI_VERSION=8 -I"$NODE_INCLUDE" ${CONVD_NATIVE_FLAGS:-} \
  native/*.cc -o "$OUT" -lopenblas -ldnnl -fopenmp
