#!/usr/bin/env bash
# CI step: the clients as their users get them.
#   1. clients/typescript/src/schema.d.ts is what openapi-typescript makes of openapi/openapi.json.
#   2. The TypeScript package is built and packed (npm ci && npm pack in clients/typescript), the
#      tarball installed into a new project in a temp folder outside the repository; its tests
#      (compiled in clients/typescript, importing 'convd-client') run there on that install, and
#      the README example is type-checked against the installed .d.ts, compiled and run.
#   3. The Python package is pip-installed offline (--no-index --no-build-isolation) into a temp
#      venv on Debian's python3 (numpy, msgpack, setuptools from Debian); its tests and the README
#      example run from outside the repository on that install.
# Both against a live server (scripts/ci/with-server.sh), on both wires. Each README example's
# output must equal the block the README shows. Installs the Debian packages it needs when they
# are missing; removes its temp folder on exit. About 30 s with packages installed.
#
#   scripts/ci/clients.sh            (after npm ci and npm run build; regenerate the types with npm run clients:generate)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
started=$SECONDS

echo '== clients: clients/typescript/src/schema.d.ts is what openapi/openapi.json generates'
if ! npm run --silent clients:check; then
  echo 'stale: run npm run clients:generate, then commit clients/typescript/src/schema.d.ts' >&2
  exit 1
fi

# Debian's interpreter: Debian's numpy, msgpack, setuptools and wheel serve it (python3 on PATH may be another one)
PYTHON=/usr/bin/python3
DEBIAN_PACKAGES=(python3 python3-numpy python3-msgpack python3-venv python3-setuptools python3-wheel)
missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== clients: apt-get install ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

TMP=$(mktemp -d /tmp/convd-clients.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export TMP

# The fenced block after the first line of README ($1) that holds MARKER ($2); fails when empty.
readme_block() {
  local text
  text=$(awk -v marker="$2" 'index($0, marker) { found = 1; next } found && /^```/ { if (inside) exit; inside = 1; next } inside { print }' "$1")
  if [ -z "$text" ]; then echo "$1 has no block after $2" >&2; return 1; fi
  printf '%s\n' "$text"
}

echo '== clients: TypeScript: build, lint and pack clients/typescript, install the tarball in a project outside the repository'
(
  cd clients/typescript
  npm ci --no-audit --no-fund --loglevel=error # also builds dist/ (prepare)
  # ESLint with the repository's rules, now that the package's own dependencies are installed
  "$ROOT/node_modules/.bin/eslint" .
  npm run --silent build:test
  npm pack --silent --pack-destination "$TMP" >/dev/null
)
mkdir -p "$TMP/ts/test"
cd "$TMP/ts"
printf '{ "name": "convd-client-check", "private": true, "type": "module" }\n' >package.json
npm install --no-audit --no-fund --loglevel=error "$TMP"/convd-client-*.tgz
if [ -L node_modules/convd-client ] || [ ! -f node_modules/convd-client/dist/index.js ]; then
  echo 'the tarball did not install as a copy with dist/' >&2
  exit 1
fi
cp "$ROOT"/clients/typescript/dist-test/*.test.js test/
readme_block "$ROOT/clients/typescript/README.md" '<!-- convd-example:' >example.ts
readme_block "$ROOT/clients/typescript/README.md" '<!-- convd-example-output -->' >expected.txt
# a consumer's strict compile: the installed package's .d.ts checked too (skipLibCheck off)
cat >tsconfig.json <<EOF
{
  "compilerOptions": {
    "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "skipLibCheck": false,
    "types": ["node"], "typeRoots": ["$ROOT/clients/typescript/node_modules/@types"]
  },
  "files": ["example.ts"]
}
EOF
"$ROOT/clients/typescript/node_modules/.bin/tsc" -p tsconfig.json
cd "$ROOT"

echo '== clients: Python: pip install clients/python offline into a venv outside the repository'
cp -r clients/python "$TMP/py-src"
rm -rf "$TMP/py-src/build" "$TMP"/py-src/src/*.egg-info
"$PYTHON" -m venv --system-site-packages "$TMP/venv"
"$TMP/venv/bin/python" -m pip install --quiet --no-index --no-build-isolation --disable-pip-version-check "$TMP/py-src"
mkdir -p "$TMP/py"
cp -r clients/python/tests "$TMP/py/tests"
readme_block clients/python/README.md '<!-- convd-example:' >"$TMP/py/example.py"
readme_block clients/python/README.md '<!-- convd-example-output -->' >"$TMP/py/expected.txt"
(cd "$TMP/py" && "$TMP/venv/bin/python" -c 'import sys, convd_client; assert convd_client.__file__.startswith(sys.prefix), convd_client.__file__; print("convd_client", convd_client.__version__, "from", convd_client.__file__)')

echo '== clients: TypeScript and Python clients, installed, against a live server'
# shellcheck disable=SC2016 # the inner shell expands these (TMP and PYTHON are exported)
timeout 300 bash scripts/ci/with-server.sh bash -c '
  set -euo pipefail
  cd "$TMP/ts"
  node --test --test-concurrency=1 test/*.test.js
  echo "-- TypeScript README example"
  node example.js >output.txt
  diff -u expected.txt output.txt
  cd "$TMP/py"
  "$TMP/venv/bin/python" -m unittest discover -v -s tests
  echo "-- Python README example"
  "$TMP/venv/bin/python" example.py >output.txt
  diff -u expected.txt output.txt
'
echo "== clients: passed in $((SECONDS - started)) s"
