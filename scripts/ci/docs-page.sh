#!/usr/bin/env bash
# CI step: GET /docs in Debian's headless Chromium driven by playwright-core
# (test/e2e/docs-page.e2e.ts): titled convd, every operation listed, "Try it out" and "Execute"
# with the defaults on each sends its documented example asking for JSON and shows the
# documented 200 answer as JSON; a msgpack request type and a msgpack answer work too. About
# 20 s once chromium is installed (apt: about a minute on a new machine).
#
#   scripts/ci/docs-page.sh                        screenshot to a scratch file
#   scripts/ci/docs-page.sh --update-screenshot    screenshot to docs/img/docs-page.png
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS

if [ ! -x /usr/bin/chromium ]; then
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null # (its wrapper script prints a harmless shell warning on stderr)

[ -f dist/test/e2e/docs-page.e2e.js ] || npm run build >/dev/null
SCRATCH=$(mktemp -d /tmp/convd-docs.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
if [ "${1:-}" = --update-screenshot ]; then
  export CONVD_DOCS_SCREENSHOT=docs/img/docs-page.png
else
  export CONVD_DOCS_SCREENSHOT="$SCRATCH/docs-page.png"
fi

echo '== docs page: /docs in headless chromium'
timeout 300 bash scripts/ci/with-server.sh node --test --test-concurrency=1 dist/test/e2e/docs-page.e2e.js
echo "screenshot: $CONVD_DOCS_SCREENSHOT ($(stat -c %s "$CONVD_DOCS_SCREENSHOT") bytes)"
echo "== docs page: passed in $((SECONDS - started)) s"
