#!/usr/bin/env bash
# CI step: the generated clients. The TypeScript types are what openapi-typescript makes of
# openapi/openapi.json today (drift check), the client compiles, and both clients' tests pass
# against a live server: TypeScript over msgpack and JSON, Python (numpy + msgpack + urllib).
# About 15 s with packages installed.
#
#   scripts/ci/clients.sh            (after npm ci; regenerate with: npm run clients:generate)
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

echo '== clients: clients/typescript/src/schema.d.ts is what openapi/openapi.json generates'
if ! npm run --silent clients:check; then
  echo 'stale: run npm run clients:generate, then commit clients/typescript/src/schema.d.ts' >&2
  exit 1
fi

echo '== clients: compile the TypeScript client and its test'
[ -f dist/src/server.js ] || npm run build >/dev/null
npx tsc -p clients/typescript/tsconfig.json

PYTHON=/usr/bin/python3 # Debian's numpy and msgpack serve Debian's interpreter
if ! "$PYTHON" -c 'import numpy, msgpack' 2>/dev/null; then
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends python3 python3-numpy python3-msgpack >/dev/null
fi

echo '== clients: TypeScript and Python clients against a live server'
timeout 300 bash scripts/ci/with-server.sh bash -c '
  set -euo pipefail
  node --test --test-concurrency=1 dist/clients/typescript/test/*.test.js
  cd clients/python && '"$PYTHON"' -m unittest -v test_convd_client
'
echo "== clients: passed in $((SECONDS - started)) s"
